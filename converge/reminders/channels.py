"""Which channel reaches a patient for a message the practice starts (reminders, offers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from converge.connectors.models import Channel
from converge.conversations.models import Conversation, ConversationStatus
from converge.core import clock
from converge.patients.models import ContactPoint, Patient


@dataclass(frozen=True)
class Route:
    channel: Channel
    contact: ContactPoint


def channel_order(patient: Patient, fallback: list[str]) -> list[str]:
    order = [patient.preferred_channel] if patient.preferred_channel else []
    for kind in fallback:
        if kind not in order:
            order.append(kind)
    return order


def reachable_routes(patient: Patient, order: list[str], *, exclude: set[str] = frozenset()) -> list[Route]:  # type: ignore[assignment]
    """Usable (channel, address) pairs in order: an enabled channel of the kind, an address that
    is not opted out and not known to be failing."""
    kinds = [k for k in order if k not in exclude]
    if not kinds:
        return []
    channels: dict[str, Channel] = {}
    for channel in Channel.objects.filter(practice_id=patient.practice_id, kind__in=kinds, enabled=True).order_by("id"):
        channels.setdefault(channel.kind, channel)
    contacts: dict[str, ContactPoint] = {}
    for contact in ContactPoint.objects.filter(
        practice_id=patient.practice_id,
        patient=patient,
        kind__in=kinds,
        opted_out_at__isnull=True,
        failing_since__isnull=True,
    ).order_by("-last_inbound_at", "id"):
        contacts.setdefault(contact.kind, contact)
    return [Route(channels[k], contacts[k]) for k in kinds if k in channels and k in contacts]


def conversation_for_outreach(patient: Patient) -> Conversation:
    """The thread a practice-initiated message goes into: the patient's unresolved conversation;
    else a resolved one a reply would still reopen; else a new one that stays resolved until the
    patient answers (so reminders do not crowd the open inbox, and a reply lands beside them)."""
    now = clock.now()
    conversations = Conversation.objects.filter(practice_id=patient.practice_id, patient=patient)
    current = conversations.exclude(status=ConversationStatus.RESOLVED).first()
    if current is not None:
        return current
    window = timedelta(days=patient.practice.reopen_window_days)
    recent = conversations.filter(resolved_at__gte=now - window).order_by("-resolved_at").first()
    if recent is not None:
        return recent
    return Conversation.objects.create(
        practice_id=patient.practice_id,
        patient=patient,
        status=ConversationStatus.RESOLVED,
        resolved_at=now,
        last_message_at=now,
        created_at=now,
        updated_at=now,
    )
