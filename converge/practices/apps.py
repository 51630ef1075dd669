from django.apps import AppConfig


class PracticesConfig(AppConfig):
    name = "converge.practices"
    label = "practices"
