"""The website chat widget: channels, visitors, their messages, and who may talk to them.

A widget channel lists the website origins allowed to embed it; every HTTP call and WebSocket
handshake from the widget is checked against that list. A visitor fills in the pre-chat form
(name, phone or email, consent) and gets a secret token that their browser keeps; their messages
arrive in the inbox through `message_receive` from an unverified contact whose address is the
visitor's public id. The phone or email they type is a claim: it is recorded, and staff see which
patients it matches (`webchat_claim_matches`), but nothing is attached automatically.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel, Provider, Tier, WebchatVisitor
from converge.conversations.inbound.pipeline import message_receive
from converge.conversations.models import Direction, Message
from converge.core import clock
from converge.patients.addresses import PHONE_KINDS, InvalidAddress, normalize_email, normalize_phone
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Practice, StaffMember
from converge.providers.types import ChannelKind, InboundMessage, MalformedPayload
from converge.providers.webchat.protocol import WebchatError, clean_text, message_text, normalize_origin

HISTORY_LIMIT = 200
TOKEN_IDLE_DAYS = 30
DEFAULT_LIMITS = {"messages_per_minute": 20, "ip_messages_per_minute": 60, "sessions_per_hour": 10}


# --- channels and origins --------------------------------------------------------------------------


def allowed_origins(channel: Channel) -> list[str]:
    return [str(o) for o in (channel.settings or {}).get("allowed_origins", [])]


def origin_allowed(channel: Channel, origin: str | None) -> bool:
    if not origin:
        return False
    try:
        return normalize_origin(origin, allow_http=True) in allowed_origins(channel)
    except ValueError:
        return False


def widget_channel(key: str) -> Channel | None:
    return (
        Channel.objects.select_related("practice")
        .filter(key=key, provider=Provider.WIDGET, kind=ChannelKind.WEBCHAT, enabled=True)
        .first()
    )


def webchat_channel_create(
    *,
    practice: Practice,
    origins: list[str],
    actor: StaffMember | str | None,
    name: str = "Website chat",
    allow_http: bool = False,
) -> Channel:
    cleaned: list[str] = []
    for raw in origins:
        try:
            origin = normalize_origin(raw, allow_http=allow_http)
        except ValueError as exc:
            raise WebchatError("invalid", f"allowed-origin {raw!r}: {exc}", field="allowed_origin") from None
        if origin not in cleaned:
            cleaned.append(origin)
    if not cleaned:
        raise WebchatError("invalid", "allowed-origin: give at least one website origin", field="allowed_origin")
    name = name.strip() or "Website chat"
    with transaction.atomic():
        channel = Channel.objects.create(
            practice=practice,
            kind=ChannelKind.WEBCHAT,
            provider=Provider.WIDGET,
            name=name[:100],
            display_address=urlsplit(cleaned[0]).hostname or "",
            tier=Tier.STANDARD,
            settings={"allowed_origins": cleaned, "limits": dict(DEFAULT_LIMITS)},
        )
        audit_record(
            practice_id=practice.id,
            actor=actor,
            action="channel.create",
            obj=channel,
            detail={"kind": ChannelKind.WEBCHAT, "provider": Provider.WIDGET, "origins": len(cleaned)},
        )
    return channel


def widget_script_tag(channel: Channel) -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f'<script src="{base}/widget.js" data-channel="{channel.key}" async></script>'


def _limit(channel: Channel, name: str) -> int:
    limits = (channel.settings or {}).get("limits", {})
    return int(limits.get(name, DEFAULT_LIMITS[name]))


def ip_hash(ip: str) -> str:
    """Visitors' IP addresses are kept only as a keyed hash, for rate limits."""
    return hashlib.sha256(f"{settings.SECRET_KEY}|{ip}".encode()).hexdigest()


def rate_window_hit(key: str, limit: int, seconds: int) -> bool:
    """Count one event in a fixed window; True while under `limit`. Per process unless a shared
    cache is configured: a flood guard, not an accounting."""
    cache.add(key, 0, timeout=seconds)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=seconds)
        count = 1
    return count <= limit


# --- visitors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewVisitor:
    visitor: WebchatVisitor
    token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def webchat_visitor_start(*, channel: Channel, form: dict[str, Any], ip: str) -> NewVisitor:
    """The pre-chat form: a name, a phone number or an email, and consent."""
    name = clean_text(form.get("name"), 200)
    if not name:
        raise WebchatError("invalid", "Please tell us your name.", field="name")
    if len(name) > 100:
        raise WebchatError("invalid", "Please shorten your name to 100 characters.", field="name")
    phone = email = ""
    raw_phone, raw_email = clean_text(form.get("phone"), 40), clean_text(form.get("email"), 254)
    if raw_phone:
        try:
            phone = normalize_phone(raw_phone)
        except InvalidAddress:
            raise WebchatError("invalid", "That phone number does not look right.", field="phone") from None
    if raw_email:
        try:
            email = normalize_email(raw_email)
        except InvalidAddress:
            raise WebchatError("invalid", "That email address does not look right.", field="email") from None
    if not phone and not email:
        raise WebchatError("invalid", "Please give a phone number or an email address.", field="phone")
    if form.get("consent") is not True:
        raise WebchatError("invalid", "Please tick the box to agree before starting.", field="consent")
    hashed_ip = ip_hash(ip)
    now = clock.now()
    recent = WebchatVisitor.objects.filter(ip_hash=hashed_ip, created_at__gte=now - timedelta(hours=1)).count()
    if recent >= _limit(channel, "sessions_per_hour"):
        raise WebchatError("rate_limited", "Too many chats were started from here. Please try again later.")
    public_id = "v" + secrets.token_hex(12)
    token = f"{public_id}.{secrets.token_urlsafe(32)}"
    visitor = WebchatVisitor.objects.create(
        practice_id=channel.practice_id,
        channel=channel,
        public_id=public_id,
        token_hash=_token_hash(token),
        name=name,
        claimed_phone=phone,
        claimed_email=email,
        consent_at=now,
        ip_hash=hashed_ip,
        created_at=now,
        last_seen_at=now,
    )
    return NewVisitor(visitor, token)


def webchat_visitor_for_token(*, channel: Channel, token: str) -> WebchatVisitor | None:
    """The visitor a token belongs to on this channel; None when unknown or idle too long (the
    thread is then no longer readable from that browser)."""
    if not token or len(token) > 200:
        return None
    visitor = WebchatVisitor.objects.filter(token_hash=_token_hash(token), channel=channel).first()
    now = clock.now()
    if visitor is None or visitor.last_seen_at < now - timedelta(days=TOKEN_IDLE_DAYS):
        return None
    if visitor.last_seen_at < now - timedelta(minutes=5):
        WebchatVisitor.objects.filter(pk=visitor.pk).update(last_seen_at=now)
    return visitor


# --- messages ----------------------------------------------------------------------------------------


def webchat_message_receive(*, visitor: WebchatVisitor, text: Any, client_id: Any, ip: str) -> Message:
    """A visitor's message into the inbox. `client_id` makes a resend after a reconnect a no-op."""
    body = message_text(text, client_id)
    channel = visitor.channel
    provider_id = f"wc:{visitor.public_id}:{client_id}"
    existing = Message.objects.filter(channel=channel, provider_message_id=provider_id).first()
    if existing is not None:
        return existing
    since = clock.now() - timedelta(minutes=1)
    recent = Message.objects.filter(
        channel=channel,
        direction=Direction.INBOUND,
        contact_point__address=visitor.public_id,
        created_at__gte=since,
    ).count()
    if recent >= _limit(channel, "messages_per_minute") or not rate_window_hit(
        f"webchat:ip:{ip_hash(ip)}", _limit(channel, "ip_messages_per_minute"), 60
    ):
        raise WebchatError("rate_limited", "You are sending messages very quickly. Please wait a moment.")
    metadata: dict[str, Any] = {"webchat_visitor_id": visitor.pk, "claimed_name": visitor.name}
    if visitor.claimed_phone:
        metadata["claimed_phone"] = visitor.claimed_phone
    if visitor.claimed_email:
        metadata["claimed_email"] = visitor.claimed_email
    inbound = InboundMessage(
        provider_message_id=provider_id,
        sender_address=visitor.public_id,
        sender_name=visitor.name,
        body=body,
        metadata=metadata,
    )
    try:
        received = message_receive(channel=channel, inbound=inbound)
    except MalformedPayload as exc:
        raise WebchatError("invalid", str(exc)) from None
    if received.created and received.message.contact_point_id:
        contact = ContactPoint.objects.filter(pk=received.message.contact_point_id)
        contact.filter(consent_at__isnull=True).update(consent_at=visitor.consent_at)
        # The visitor's own address (their public id), so the name they typed labels only them.
        contact.filter(kind=ChannelKind.WEBCHAT, address=visitor.public_id, given_name="").update(
            given_name=visitor.name[:100]
        )
    return received.message


def webchat_history(*, visitor: WebchatVisitor) -> list[Message]:
    """What the visitor may see: their own messages and the practice's replies to them on this
    channel, never other channels of a patient they were later linked to."""
    contact = ContactPoint.objects.filter(
        practice_id=visitor.practice_id, kind=ChannelKind.WEBCHAT, address=visitor.public_id
    ).first()
    if contact is None:
        return []
    rows = (
        Message.objects.filter(channel_id=visitor.channel_id, contact_point=contact)
        .exclude(direction=Direction.OUTBOUND, status="failed")
        .order_by("-created_at", "-pk")[:HISTORY_LIMIT]
    )
    return list(reversed(list(rows)))


def webchat_message_for_visitor(*, visitor: WebchatVisitor, message_id: int) -> Message | None:
    return (
        Message.objects.filter(
            pk=message_id,
            channel_id=visitor.channel_id,
            direction=Direction.OUTBOUND,
            contact_point__kind=ChannelKind.WEBCHAT,
            contact_point__address=visitor.public_id,
        )
        .select_related("channel")
        .first()
    )


def webchat_messages_delivered(*, visitor: WebchatVisitor, message_ids: list[int]) -> None:
    """Outbound messages a connected browser has received move from sent to delivered."""
    if not message_ids:
        return
    from converge.conversations.inbound.pipeline import message_status_apply
    from converge.providers.types import DeliveryStatus, StatusUpdate

    rows = Message.objects.filter(
        pk__in=message_ids,
        channel_id=visitor.channel_id,
        direction=Direction.OUTBOUND,
        status=DeliveryStatus.SENT,
        provider_message_id__isnull=False,
    ).select_related("channel")
    for row in rows:
        assert row.provider_message_id is not None
        message_status_apply(
            channel=row.channel,
            update=StatusUpdate(provider_message_id=row.provider_message_id, status=DeliveryStatus.DELIVERED),
        )


def chat_config_portal_prefix() -> str:
    """Links the widget may make clickable: this installation's own secure portal, nothing else."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/portal/"


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "from": "visitor" if message.direction == Direction.INBOUND else "practice",
        "text": message.body,
        "at": message.created_at.isoformat(),
    }


# --- for staff: who the visitor says they are ------------------------------------------------------


@dataclass(frozen=True)
class ClaimMatch:
    patient: Patient
    matched: str  # "phone" or "email"
    value: str


def webchat_claim_matches(patient: Patient) -> list[ClaimMatch]:
    """Other patients of the practice whose phone or email is one a web visitor (this patient's
    web chat contacts) typed into the pre-chat form: a hint for staff to link, never applied."""
    addresses = ContactPoint.objects.filter(
        practice_id=patient.practice_id, patient=patient, kind=ChannelKind.WEBCHAT
    ).values_list("address", flat=True)
    visitors = WebchatVisitor.objects.filter(practice_id=patient.practice_id, public_id__in=list(addresses))
    matches: dict[tuple[int, str], ClaimMatch] = {}
    for visitor in visitors:
        claims = [("phone", visitor.claimed_phone, PHONE_KINDS), ("email", visitor.claimed_email, {ChannelKind.EMAIL})]
        for matched, value, kinds in claims:
            if not value:
                continue
            contacts = (
                ContactPoint.objects.filter(practice_id=patient.practice_id, kind__in=kinds, address=value)
                .exclude(patient=patient)
                .select_related("patient")
            )
            for contact in contacts:
                other = contact.patient
                if other.merged_into_id is None:
                    matches.setdefault((other.pk, matched), ClaimMatch(other, matched, value))
    return list(matches.values())


def webchat_demo_channel_ensure(practice: Practice) -> Channel:
    """The demo practice's real widget channel, embedded by /demo-site/; the current
    PUBLIC_BASE_URL is always an allowed origin (it may change between demo runs)."""
    base = urlsplit(settings.PUBLIC_BASE_URL)
    origin = normalize_origin(f"{base.scheme}://{base.netloc}", allow_http=True)
    channel = Channel.objects.filter(practice=practice, provider=Provider.WIDGET, kind=ChannelKind.WEBCHAT).first()
    if channel is None:
        return webchat_channel_create(practice=practice, origins=[origin], actor=None, allow_http=True)
    origins = allowed_origins(channel)
    if origin not in origins:
        channel.settings = {**(channel.settings or {}), "allowed_origins": [*origins, origin]}
        channel.save(update_fields=["settings"])
    return channel
