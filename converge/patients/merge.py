"""Merging two patient records, and linking an unknown sender to the patient it turned out to be.

The survivor keeps its identity; everything that belonged to the loser (contact points,
conversations and their messages, appointments, and any other row that points at the patient)
moves to the survivor, and the loser is kept with `merged_into` set so old references resolve.
A patient has at most one unresolved conversation (a database constraint): when both have one,
the loser's thread is folded into the survivor's.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.db.models import Max

from converge.audit.services import audit_record
from converge.conversations.models import (
    Conversation,
    ConversationEvent,
    ConversationRead,
    ConversationStatus,
    Direction,
    Message,
)
from converge.core import clock, events
from converge.patients.models import Patient
from converge.patients.services import PatientError
from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can

# Filled from the loser when the survivor has no value.
_FILL_FIELDS = ("first_name", "last_name", "date_of_birth", "preferred_channel", "time_zone", "external_id")


class MergeNotAllowed(PermissionDenied):
    """The actor's role may not merge patient records (README permission matrix)."""

    def __init__(self) -> None:
        super().__init__("Only practice managers and administrators can merge patient records.")


def may_merge(actor: Any) -> bool:
    """Staff need MERGE_PATIENTS; a practice API token and the system (None) act for the practice."""
    return not isinstance(actor, StaffMember) or can(actor, Perm.MERGE_PATIENTS)


def patient_merge(*, survivor: Patient, loser: Patient, actor: Any) -> Patient:
    """Move everything of `loser` to `survivor`, fold their open conversations into one, and mark
    the loser merged. One transaction, audited; staff browsers are told after commit."""
    if not may_merge(actor):
        raise MergeNotAllowed
    return _merge(survivor=survivor, loser=loser, actor=actor)


def _merge(*, survivor: Patient, loser: Patient, actor: Any) -> Patient:
    if survivor.practice_id != loser.practice_id:
        raise PatientError("patient not found")
    if survivor.pk == loser.pk:
        raise PatientError("a patient cannot be merged into itself")
    now = clock.now()
    try:
        with transaction.atomic():
            # Lock both rows so two merges of the same pair cannot interleave.
            locked = {p.pk: p for p in Patient.objects.select_for_update().filter(pk__in=[survivor.pk, loser.pk])}
            survivor, loser = locked[survivor.pk], locked[loser.pk]
            if survivor.merged_into_id is not None or loser.merged_into_id is not None:
                raise PatientError("one of these patients was already merged")
            folded = _fold_open_conversations(survivor=survivor, loser=loser, actor=actor, now=now)
            moved = _move_related(survivor=survivor, loser=loser)
            fill = [name for name in _FILL_FIELDS if not getattr(survivor, name) and getattr(loser, name)]
            for name in fill:
                setattr(survivor, name, getattr(loser, name))
            survivor.save(update_fields=[*fill, "updated_at"])
            loser.merged_into = survivor
            loser.save(update_fields=["merged_into", "updated_at"])
            audit_record(
                practice_id=survivor.practice_id,
                actor=actor,
                action="patient.merge",
                obj=survivor,
                patient_id=survivor.pk,
                detail={"merged": loser.pk, "moved": moved, "folded_conversation": folded},
            )
            audit_record(
                practice_id=survivor.practice_id,
                actor=actor,
                action="patient.merged_into",
                obj=loser,
                patient_id=loser.pk,
                detail={"survivor": survivor.pk},
            )
            ids = list(
                Conversation.objects.filter(patient=survivor).exclude(status="resolved").values_list("id", flat=True)
            )
            for conversation_id in ids:
                events.publish_on_commit(
                    [events.practice_group(survivor.practice_id)],
                    {"type": "conversation.updated", "conversation_id": conversation_id},
                )
            if folded is not None and ids:
                events.publish_on_commit(
                    [events.practice_group(survivor.practice_id)],
                    {"type": "conversation.merged", "conversation_id": folded, "into": ids[0]},
                )
    except IntegrityError:
        raise PatientError("these patients could not be merged: a record of one conflicts with the other") from None
    return survivor


def patient_link_sender(*, unknown: Patient, patient: Patient, actor: Any) -> Patient:
    """An unknown sender turned out to be `patient`: merge the unverified contact into them.
    Identifying who wrote is everyday triage, so this needs only MANAGE_PATIENTS (every role);
    merging two verified records is the restricted `patient_merge`."""
    if isinstance(actor, StaffMember) and not can(actor, Perm.MANAGE_PATIENTS):
        raise PermissionDenied("Your role cannot change patient records.")
    if unknown.is_verified:
        raise PatientError("only an unverified sender can be linked; merge verified patients instead")
    return _merge(survivor=patient, loser=unknown, actor=actor)


def _fold_open_conversations(*, survivor: Patient, loser: Patient, actor: Any, now: Any) -> int | None:
    """When both patients have an unresolved conversation, move the loser's messages, notes and
    events into the survivor's and delete the emptied one. Returns its id."""
    target = Conversation.objects.select_for_update().filter(patient=survivor).exclude(status="resolved").first()
    source = Conversation.objects.select_for_update().filter(patient=loser).exclude(status="resolved").first()
    if target is None or source is None:
        return None
    # Read markers are per (conversation, staff); the survivor's own markers stay.
    ConversationRead.objects.filter(conversation=source).delete()
    # Messages, notes, events, mentions, and rows of other apps that point at the conversation.
    _repoint(Conversation, source, target)
    inbound = Message.objects.filter(conversation=target, direction=Direction.INBOUND).aggregate(last=Max("created_at"))
    latest = Message.objects.filter(conversation=target).aggregate(last=Max("created_at"))
    target.last_message_at = max(filter(None, [target.last_message_at, source.last_message_at, latest["last"]]))
    target.last_inbound_at = inbound["last"] or target.last_inbound_at
    waiting = [w for w in (target.waiting_since, source.waiting_since) if w is not None]
    target.waiting_since = min(waiting) if waiting else None
    target.priority = max(target.priority, source.priority)
    target.assignee_id = target.assignee_id or source.assignee_id
    target.team_id = target.team_id or source.team_id
    target.category = target.category or source.category
    if source.status == ConversationStatus.OPEN and target.status != ConversationStatus.OPEN:
        target.status = ConversationStatus.OPEN
        target.snoozed_until = None
    target.updated_at = now
    target.save(
        update_fields=[
            "last_message_at",
            "last_inbound_at",
            "waiting_since",
            "priority",
            "assignee",
            "team",
            "category",
            "status",
            "snoozed_until",
            "updated_at",
        ]
    )
    actor_name = getattr(actor, "display_name", None)
    ConversationEvent.objects.create(
        practice_id=target.practice_id,
        conversation=target,
        kind="merged",
        text=f"Merged with another conversation of this patient{f' by {actor_name}' if actor_name else ''}",
        actor=actor if actor_name else None,
        created_at=now,
    )
    folded_id = source.pk
    source.delete()
    return folded_id


def _move_related(*, survivor: Patient, loser: Patient) -> dict[str, int]:
    """Point every row that references the loser at the survivor. Done generically over the
    model graph so a model added later (reminders, portal, ...) moves too."""
    # merged_into included: earlier merges into the loser now point at the survivor.
    return _repoint(Patient, loser, survivor)


def _repoint(model: type[models.Model], old: models.Model, new: models.Model) -> dict[str, int]:
    moved: dict[str, int] = {}
    for relation in model._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)):
            continue
        field = relation.field  # type: ignore[union-attr]
        related: type[models.Model] = relation.related_model  # type: ignore[assignment]
        count = related._default_manager.filter(**{field.name: old}).update(**{field.name: new})
        if count:
            label = related._meta.label_lower
            moved[label] = moved.get(label, 0) + count
    return moved
