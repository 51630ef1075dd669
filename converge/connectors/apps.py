from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "converge.connectors"
    label = "connectors"
