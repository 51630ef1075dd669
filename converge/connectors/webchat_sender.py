"""Outbound web chat: a staff reply goes to the visitor's browser over its WebSocket.

The event names only the message id; the visitor's consumer reads the message from the database
and sends it (so no message text passes through the channel layer). A visitor who is not
connected reads it from the history when the widget connects again, so "sent" means stored and
announced; "delivered" is recorded when a browser actually receives it.
"""

from __future__ import annotations

from converge.connectors.models import Channel
from converge.conversations.models import Message
from converge.core import events
from converge.providers.types import OutboundMessage, PermanentSendError, ProviderReceipt


def visitor_group(public_id: str) -> str:
    return f"webchat.{public_id}"


class WidgetSender:
    """The registered sender for Provider.WIDGET channels."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        if not message.to_address:
            raise PermanentSendError("The visitor is unknown.", code="no-visitor")
        row = Message.objects.filter(idempotency_key=message.idempotency_key, channel=self.channel).first()
        if row is None:
            raise PermanentSendError("The message to send was not found.", code="internal")
        events.publish_now([visitor_group(message.to_address)], {"type": "webchat.message", "message_id": row.pk})
        return ProviderReceipt(provider_message_id=f"wc-out:{message.idempotency_key}")
