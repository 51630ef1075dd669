from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "converge.privacy"
    label = "privacy"

    def ready(self) -> None:
        from converge.connectors.models import Provider
        from converge.connectors.registry import register_sender
        from converge.privacy.portal_delivery import PortalSender

        register_sender(Provider.PORTAL, PortalSender)
