"""Channel rules checked before a message is queued and again when the worker sends it:
WhatsApp's 24-hour customer-service window and approved templates, and opt-out.

Checked twice because time passes in between: a reply queued at hour 23 and retried at hour 25
is outside the window by the time it would go, and a patient may text STOP while a message waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from converge.connectors.models import Channel, Provider, WhatsAppTemplate
from converge.core import clock
from converge.providers.types import ChannelKind
from converge.providers.whatsapp.protocol import within_customer_service_window

if TYPE_CHECKING:
    from converge.conversations.models import Message
    from converge.patients.models import ContactPoint

WINDOW_CLOSED = "outside WhatsApp's 24-hour window: send an approved template"
# Set by optout.py on the one message allowed after an opt-out: its confirmation.
OPT_OUT_CONFIRMATION = "opt_out_confirmation"


def queue_refusal(
    *, channel: Channel, contact: ContactPoint | None, kind: str, metadata: dict[str, Any] | None
) -> str | None:
    """Why this message may not be queued, or None."""
    if channel.kind != ChannelKind.WHATSAPP:
        return None
    if kind == "template":
        meta = metadata or {}
        return template_refusal(channel, str(meta.get("template_name", "")), str(meta.get("template_language", "")))
    if not _in_window(contact):
        return WINDOW_CLOSED
    return None


def template_refusal(channel: Channel, name: str, language: str) -> str | None:
    """Why a template may not be queued on this channel, or None. A real WhatsApp channel only
    sends templates registered as approved; a simulator channel also accepts unregistered ones
    (there is no Meta account to register them with) but honours the registry when it has them."""
    if not name or not language:
        return "a WhatsApp template needs a name and a language"
    template = WhatsAppTemplate.objects.filter(channel=channel, name=name, language=language).first()
    if template is None:
        if channel.provider == Provider.SIMULATOR:
            return None
        return f"the WhatsApp template {name} ({language}) is not registered for this channel"
    if not template.is_approved:
        return f"the WhatsApp template {name} ({language}) is {template.get_status_display().lower()}, not approved"
    return None


@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str


def send_refusal(message: Message) -> Refusal | None:
    """Why the worker must not send this message now (a permanent failure), or None."""
    from converge.conversations.models import STAFF_PAGE_KIND

    if message.kind == STAFF_PAGE_KIND:  # an on-call page whose alert was acknowledged meanwhile
        from converge.routing.oncall import PAGE_CANCELLED, page_refusal

        reason = page_refusal(message)
        return Refusal(PAGE_CANCELLED, reason) if reason else None
    contact = message.contact_point
    if contact is None:
        return None
    contact.refresh_from_db(fields=["opted_out_at", "last_inbound_at"])
    if contact.opted_out_at is not None and not (message.metadata or {}).get(OPT_OUT_CONFIRMATION):
        return Refusal("opted-out", "opted out")
    if message.channel.kind == ChannelKind.WHATSAPP and message.kind != "template" and not _in_window(contact):
        return Refusal("window-closed", WINDOW_CLOSED)
    return None


def _in_window(contact: ContactPoint | None) -> bool:
    last = contact.last_inbound_at if contact is not None else None
    return within_customer_service_window(last, clock.now())
