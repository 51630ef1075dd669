from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "converge.routing"
    label = "routing"
