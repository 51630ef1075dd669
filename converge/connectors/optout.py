"""Carrier keywords on SMS: STOP, START and HELP (see PROTOCOLS.md).

Runs inside the inbound pipeline for every SMS-kind channel (Twilio and the simulator alike),
right after the patient's message is stored; the message itself stays in the thread like any
other. A whole-message keyword:

- STOP family: the SMS contact point is opted out (audited) and gets one confirmation — the only
  message the outbox will still deliver to it — and nothing else until it opts back in.
- START family: an opted-out contact point is opted back in, with a confirmation. (YES is in
  this family; from a patient who never opted out it is an ordinary answer and changes nothing.)
- HELP family: the practice's name and phone, message rates and how to stop.

Twilio answers STOP and START itself on its numbers (and blocks sending to an opted-out number
with error 21610), so on a channel whose `keyword_replies` setting is "provider" — the default
for Twilio — Converge records the change but sends no confirmation of its own. HELP is always
answered, since the provider's default reply does not name the practice, unless the provider
reports (OptOutType) that its Advanced Opt-Out sent the practice's own HELP text.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from converge.connectors.models import Channel, Provider
from converge.connectors.policy import OPT_OUT_CONFIRMATION
from converge.providers.twilio.protocol import classify_keyword
from converge.providers.types import ChannelKind

if TYPE_CHECKING:
    from converge.conversations.models import Conversation, Message
    from converge.patients.models import ContactPoint

log = logging.getLogger(__name__)

Keyword = Literal["stop", "start", "help"]

_TEXTS: dict[str, dict[Keyword, str]] = {
    "en": {
        "stop": "{practice}: you are unsubscribed and will get no more texts from us. Reply START to resubscribe.",
        "start": "{practice}: you are subscribed to texts from us again. Reply HELP for help, STOP to opt out.",
        "help": "{practice}: {contact}. Msg&data rates may apply. Reply STOP to opt out.",
    },
    "es": {
        "stop": "{practice}: se ha dado de baja y no recibirá más mensajes nuestros. Responda START para volver.",
        "start": "{practice}: volverá a recibir nuestros mensajes. Responda HELP para ayuda, STOP para darse de baja.",
        "help": "{practice}: {contact}. Msg&data rates may apply. Reply STOP to opt out.",
    },
}
_CONTACT = {
    "en": ("for help call {phone} or reply to this message", "for help reply to this message"),
    "es": ("para ayuda llame al {phone} o responda a este mensaje", "para ayuda responda a este mensaje"),
}


def provider_answers_keywords(channel: Channel) -> bool:
    default = "provider" if channel.provider == Provider.TWILIO else "converge"
    return channel.settings.get("keyword_replies", default) == "provider"


def keyword_handle(*, channel: Channel, contact: ContactPoint, conversation: Conversation, message: Message) -> None:
    """Act on a carrier keyword in a just-stored inbound SMS (in the receiving transaction)."""
    if channel.kind != ChannelKind.SMS:
        return
    keyword = classify_keyword(message.body)
    if keyword is None:
        return
    from converge.patients.services import contact_point_update

    if message.metadata.get("keyword") != keyword:
        # Marked on every SMS provider alike, so later steps (routing, reminder replies) can tell.
        message.metadata = {**message.metadata, "keyword": keyword}
        message.save(update_fields=["metadata"])
    actor = f"channel:{channel.pk}"
    provider_replied = bool(message.metadata.get("opt_out_type")) or (
        keyword != "help" and provider_answers_keywords(channel)
    )
    if keyword == "stop":
        if contact.opted_out_at is not None:
            return  # one confirmation only
        if not provider_replied:
            # Queued while the contact can still receive; the flag lets it through afterwards.
            _reply(channel, contact, conversation, keyword, confirmation=True)
        contact_point_update(contact=contact, actor=actor, opted_out=True)
        log.info("sms opt-out recorded contact_point=%s channel=%s", contact.pk, channel.pk)
    elif keyword == "start":
        if contact.opted_out_at is None:
            return
        contact_point_update(contact=contact, actor=actor, opted_out=False)
        log.info("sms opt-in recorded contact_point=%s channel=%s", contact.pk, channel.pk)
        if not provider_replied:
            _reply(channel, contact, conversation, keyword)
    elif contact.opted_out_at is None and not provider_replied:
        _reply(channel, contact, conversation, keyword)


def keyword_reply_text(channel: Channel, keyword: Keyword, language: str) -> str:
    lang = language if language in _TEXTS else "en"
    practice = channel.practice
    phone = practice.phone.strip()
    with_phone, without_phone = _CONTACT[lang]
    contact = with_phone.format(phone=phone) if phone else without_phone
    return _TEXTS[lang][keyword].format(practice=practice.name, contact=contact)


def _reply(
    channel: Channel, contact: ContactPoint, conversation: Conversation, keyword: Keyword, *, confirmation: bool = False
) -> None:
    from converge.conversations.services import ServiceError, message_queue

    metadata: dict[str, object] = {"keyword_reply": keyword}
    if confirmation:
        metadata[OPT_OUT_CONFIRMATION] = True
    try:
        message_queue(
            conversation=conversation,
            channel=channel,
            body=keyword_reply_text(channel, keyword, conversation.patient.language),
            sender=None,
            is_automatic=True,
            metadata=metadata,
            contact=contact,
        )
    except ServiceError as exc:
        # The keyword still takes effect; only the courtesy reply is lost (e.g. channel disabled).
        log.warning("keyword reply not queued channel=%s reason=%s", channel.pk, type(exc).__name__)
