from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "converge.scheduling"
    label = "scheduling"
