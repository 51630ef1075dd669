"""Reads that compose a staff screen from several domains (patient panel, patient page). Each is
scoped to the principal's practice and audited as a read of the patient's record."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q
from django.http import Http404

from converge.audit.services import audit_record
from converge.connectors.models import Channel
from converge.conversations.models import Conversation, Message
from converge.conversations.selectors import conversation_get, scoped
from converge.core import clock
from converge.core.principal import Principal
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import StaffMember, Team
from converge.privacy import access
from converge.scheduling.models import ACTIVE_STATUSES, Appointment


@dataclass(frozen=True)
class PatientPanel:
    patient: Patient
    contacts: list[ContactPoint]
    upcoming: list[Appointment]  # future visits that will happen (booked, confirmed, checked in)
    cancelled: list[Appointment]  # future visits that will not (cancelled, rescheduled, …)
    past: list[Appointment]
    # Each carries `restricted`: a clinical conversation the reader may not open (clinical
    # confidentiality, no break-glass grant). Templates show only that it exists and its date.
    conversations: list[Conversation]


def _mark_restricted(conversations: list[Conversation], principal: Principal) -> None:
    """The conversation view's own rule (access.visible), in one query and only for a reader
    the rule can restrict; a restricted conversation also loses what would describe it."""
    readable = {c.pk for c in conversations}
    if conversations and access.restricted(principal):
        ids = [c.pk for c in conversations]
        readable = set(access.visible(Conversation.objects.filter(pk__in=ids), principal).values_list("pk", flat=True))
    for c in conversations:
        c.restricted = c.pk not in readable  # type: ignore[attr-defined]
        if c.restricted:  # type: ignore[attr-defined]
            c.category = ""
            c.message_count = None  # type: ignore[attr-defined]


def patient_panel(*, principal: Principal, patient_id: int, exclude_conversation_id: int | None = None) -> PatientPanel:
    patient = (
        Patient.objects.filter(practice_id=principal.practice_id, pk=patient_id).select_related("merged_into").first()
    )
    if patient is None:
        raise Http404("patient not found")
    now = clock.now()
    contacts = list(
        ContactPoint.objects.filter(practice_id=principal.practice_id, patient=patient).order_by("kind", "id")
    )
    # display_name reads the prefetched contact points.
    patient._prefetched_objects_cache = {"contact_points": contacts}  # type: ignore[attr-defined]
    appointments = Appointment.objects.filter(practice_id=principal.practice_id, patient=patient).select_related(
        "provider", "appointment_type", "location"
    )
    future = appointments.filter(start__gte=now).order_by("start")
    upcoming = list(future.filter(status__in=ACTIVE_STATUSES)[:5])
    cancelled = list(future.exclude(status__in=ACTIVE_STATUSES)[:5])
    past = list(appointments.filter(start__lt=now).order_by("-start")[:5])
    conversations = Conversation.objects.filter(practice_id=principal.practice_id, patient=patient)
    if exclude_conversation_id is not None:
        conversations = conversations.exclude(pk=exclude_conversation_id)
    audit_record(
        practice_id=principal.practice_id,
        actor=principal.actor,
        action="patient.read",
        obj=patient,
        patient_id=patient.pk,
        ip=principal.ip,
    )
    earlier: list[Conversation] = list(
        conversations.annotate(message_count=Count("messages")).order_by("-last_message_at")[:10]
    )
    _mark_restricted(earlier, principal)
    return PatientPanel(
        patient=patient,
        contacts=contacts,
        upcoming=upcoming,
        cancelled=cancelled,
        past=past,
        conversations=earlier,
    )


def patient_directory(*, principal: Principal, limit: int = 50) -> list[Patient]:
    """The most recently changed patients, for the patients page before anyone searches."""
    return list(
        Patient.objects.filter(practice_id=principal.practice_id, merged_into__isnull=True)
        .exclude(Q(first_name="") & Q(last_name=""))
        .prefetch_related(Prefetch("contact_points", queryset=ContactPoint.objects.order_by("id")))
        .order_by("-updated_at", "-id")[:limit]
    )


def unknown_senders(*, principal: Principal, limit: int = 20) -> list[Patient]:
    return list(
        Patient.objects.filter(practice_id=principal.practice_id, merged_into__isnull=True, is_verified=False)
        .prefetch_related(Prefetch("contact_points", queryset=ContactPoint.objects.order_by("id")))
        .order_by("-created_at", "-id")[:limit]
    )


def staff_choices(*, practice_id: int) -> list[StaffMember]:
    return list(StaffMember.objects.filter(practice_id=practice_id, is_active=True).order_by("display_name"))


def team_choices(*, practice_id: int) -> list[Team]:
    return list(Team.objects.filter(practice_id=practice_id).order_by("name"))


def channel_of(*, practice_id: int, channel_id: int | None) -> Channel | None:
    """The practice's channel with this id; None for no id or another practice's."""
    return Channel.objects.filter(practice_id=practice_id, pk=channel_id).first() if channel_id else None


def staff_member_of(*, practice_id: int, staff_id: int) -> StaffMember | None:
    return StaffMember.objects.filter(practice_id=practice_id, pk=staff_id).first()


def team_of(*, practice_id: int, team_id: int) -> Team | None:
    return Team.objects.filter(practice_id=practice_id, pk=team_id).first()


def readable_message(*, principal: Principal, message_id: int, inbound_only: bool = False) -> Message:
    """A message of the principal's practice in a conversation the principal may open (clinical
    confidentiality); a 404 otherwise, as for a missing one."""
    messages = Message.objects.filter(practice_id=principal.practice_id, pk=message_id)
    message = (messages.filter(direction="in") if inbound_only else messages).first()
    if message is None:
        raise Http404("message not found")
    conversation_get(principal=principal, conversation_id=message.conversation_id, audit=False)
    return message


def readable_conversation_ids(*, principal: Principal, ids: list[int]) -> list[int]:
    """Those of the ids the principal may open, as one by one would."""
    return list(scoped(principal).filter(id__in=ids).values_list("id", flat=True))
