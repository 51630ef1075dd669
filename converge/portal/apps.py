from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "converge.portal"
    label = "portal"
