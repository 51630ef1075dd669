"""Which code speaks to a configured channel."""

from __future__ import annotations

from converge.connectors.models import Channel, Provider
from converge.connectors.senders import TwilioSender, WhatsAppSender
from converge.connectors.simulator import SimulatorConnector
from converge.connectors.types import (
    AmbiguousSendError,
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
    RetryableSendError,
    Sender,
)

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
    sender: Sender
    if channel.provider == Provider.SIMULATOR:
        sender = simulator_for(channel)
    elif (factory := _senders.get(channel.provider)) is None:
        sender = _Unsupported(channel.provider)
    else:
        sender = factory(channel)
    return _Counted(sender, channel.kind)


class _Counted:
    """Counts each send's outcome and each provider error code for /metrics (converge.core.metrics)."""

    def __init__(self, sender: Sender, kind: str) -> None:
        self.sender, self.kind = sender, kind

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        from converge.core.metrics import count_send

        try:
            receipt = self.sender.send(message)
        except AmbiguousSendError as exc:
            count_send(self.kind, "unconfirmed", exc.code or "ambiguous")
            raise
        except RetryableSendError as exc:
            count_send(self.kind, "retry", exc.code or "retryable")
            raise
        except PermanentSendError as exc:
            count_send(self.kind, "failed", exc.code or "permanent")
            raise
        except Exception:
            count_send(self.kind, "error", "internal")
            raise
        count_send(self.kind, "sent")
        return receipt

    def __getattr__(self, name: str) -> object:
        return getattr(self.sender, name)


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
