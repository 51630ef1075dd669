"""Which code speaks to a configured channel: the provider's Connector (converge.providers), bound
to the channel's configuration, or a registered sender for providers whose sends need the
database (mailbox, widget, portal)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from converge.config.env import env_int
from converge.connectors.models import Channel, Provider
from converge.providers.registry import CONNECTORS
from converge.providers.simulator.connector import SimulatorConnector
from converge.providers.types import (
    AmbiguousSendError,
    ChannelConfig,
    ChannelKind,
    Connector,
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
    RetryableSendError,
    Sender,
)

# The providers each Connector in CONNECTORS speaks for.
_CONNECTOR_PROVIDERS = {ChannelKind.WHATSAPP: Provider.META, ChannelKind.SMS: Provider.TWILIO}

_senders: dict[str, type] = {}


def register_sender(provider: str, factory: type) -> None:
    """A provider whose sends need the database registers a factory taking the Channel."""
    _senders[provider] = factory


def channel_config(channel: Channel) -> ChannelConfig:
    return ChannelConfig(
        key=channel.key,
        kind=ChannelKind(channel.kind),
        credentials=channel.credentials(),
        settings=channel.settings or {},
        public_base_url=settings.PUBLIC_BASE_URL,
    )


def simulator_outbox_dir() -> Path:
    return Path(settings.DATA_DIR) / "simulator"


def simulator_connector(channel: Channel) -> SimulatorConnector:
    return SimulatorConnector(
        kind=ChannelKind(channel.kind),
        outbox_dir=simulator_outbox_dir(),
        delay_ms=env_int("CONVERGE_SIMULATOR_DELAY_MS", 0),
    )


def connector_for(channel: Channel) -> Connector | None:
    """The Connector that speaks this channel's provider, or None for a provider that has none."""
    if channel.provider == Provider.SIMULATOR:
        return simulator_connector(channel)
    kind = ChannelKind(channel.kind)
    if _CONNECTOR_PROVIDERS.get(kind) != channel.provider:
        return None
    return CONNECTORS[kind]


class BoundConnector:
    """A Connector bound to one channel: what the outbox calls."""

    def __init__(self, connector: Connector, channel: ChannelConfig) -> None:
        self.connector, self.channel = connector, channel

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        return self.connector.send(self.channel, message)


def simulator_for(channel: Channel) -> Sender:
    return BoundConnector(simulator_connector(channel), channel_config(channel))


def sender_for(channel: Channel) -> Sender:
    sender: Sender
    if channel.provider == Provider.SIMULATOR:
        sender = simulator_for(channel)
    elif (factory := _senders.get(channel.provider)) is not None:
        sender = factory(channel)
    elif (connector := connector_for(channel)) is not None:
        sender = BoundConnector(connector, channel_config(channel))
    else:
        sender = _Unsupported(channel.provider)
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
