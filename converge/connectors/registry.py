"""Which code speaks to a configured channel."""

from __future__ import annotations

from converge.connectors.models import Channel, Provider
from converge.connectors.senders import TwilioSender, WhatsAppSender
from converge.connectors.simulator import SimulatorConnector
from converge.connectors.types import OutboundMessage, PermanentSendError, ProviderReceipt, Sender

_senders: dict[str, type] = {Provider.META: WhatsAppSender, Provider.TWILIO: TwilioSender}


def register_sender(provider: str, factory: type) -> None:
    """Later connectors register a factory taking the Channel."""
    _senders[provider] = factory


def simulator_for(channel: Channel) -> SimulatorConnector:
    return SimulatorConnector(
        channel_key=channel.key,
        kind=channel.kind,
        webhook_secret=channel.credentials().get("webhook_secret", ""),
    )


def sender_for(channel: Channel) -> Sender:
    if channel.provider == Provider.SIMULATOR:
        return simulator_for(channel)
    factory = _senders.get(channel.provider)
    if factory is None:
        return _Unsupported(channel.provider)
    sender: Sender = factory(channel)
    return sender


class _Unsupported:
    def __init__(self, provider: str) -> None:
        self.provider = provider

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        raise PermanentSendError(f"no connector for provider {self.provider!r} is installed")


def _register_email_and_webchat() -> None:
    from converge.connectors.email_sender import MailboxSender
    from converge.connectors.webchat_sender import WidgetSender

    register_sender(Provider.MAILBOX, MailboxSender)
    register_sender(Provider.WIDGET, WidgetSender)


_register_email_and_webchat()
