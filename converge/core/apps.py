from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "converge.core"
    label = "core"
