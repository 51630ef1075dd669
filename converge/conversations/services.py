"""Staff-side writes on conversations: replies (into the outbox), assignment, status, notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel
from converge.connectors.policy import queue_refusal
from converge.conversations.models import (
    Conversation,
    ConversationEvent,
    ConversationRead,
    ConversationStatus,
    Direction,
    Mention,
    Message,
    Note,
)
from converge.core import clock, events
from converge.patients.models import ContactPoint
from converge.practices.models import StaffMember, Team
from converge.privacy.guard import PhiDetected, check_outbound
from converge.providers.types import ChannelKind, DeliveryStatus


class ServiceError(ValueError):
    """A request that cannot be carried out; the message is shown to staff / API callers."""


class PhiReviewNeeded(ServiceError):
    """The text looks like health information for a standard channel; the sender must choose the
    secure portal or give a reason to send it anyway."""

    def __init__(self, message: str, *, summary: str, policy: str) -> None:
        super().__init__(message)
        self.summary = summary
        self.policy = policy


def _bump(conversation: Conversation, now: datetime, extra_fields: list[str]) -> None:
    conversation.updated_at = now
    conversation.save(update_fields=[*extra_fields, "updated_at"])
    events.publish_on_commit(
        [events.practice_group(conversation.practice_id)],
        {"type": "conversation.updated", "conversation_id": conversation.pk},
    )


def _event(conversation: Conversation, *, kind: str, text: str, actor: StaffMember | None, now: datetime) -> None:
    ConversationEvent.objects.create(
        practice_id=conversation.practice_id,
        conversation=conversation,
        kind=kind,
        text=text[:300],
        actor=actor,
        created_at=now,
    )


def reply_channel_default(conversation: Conversation) -> Channel | None:
    """The channel the patient last wrote on."""
    last = (
        Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
        .select_related("channel")
        .order_by("-created_at")
        .first()
    )
    return last.channel if last is not None else None


def contact_point_for(conversation: Conversation, channel: Channel) -> ContactPoint:
    contacts = list(
        ContactPoint.objects.filter(
            practice_id=conversation.practice_id,
            patient_id=conversation.patient_id,
            kind=channel.kind,
        ).order_by("-last_inbound_at", "-created_at")
    )
    if not contacts:
        raise ServiceError(f"the patient has no {channel.kind} address")
    usable = [c for c in contacts if c.opted_out_at is None]
    if not usable:
        raise ServiceError(f"the patient opted out of {channel.kind}")
    return usable[0]


def message_queue(
    *,
    conversation: Conversation,
    channel: Channel,
    body: str,
    sender: StaffMember | None,
    kind: str = "text",
    is_automatic: bool = False,
    metadata: dict[str, Any] | None = None,
    contact: ContactPoint | None = None,
    phi_override_reason: str = "",
    via_portal: bool = False,
    our_wording: bool = False,
) -> Message:
    """Write an outbound message into the outbox (status queued) in the caller's transaction; the
    worker sends it. Text for a standard-tier channel passes the PHI guard first: it may be
    delivered through the secure portal instead (the returned message is then the portal one),
    or refused with PhiReviewNeeded until the sender gives a reason."""
    body = body.strip()
    if not body:
        raise ServiceError("the message is empty")
    if len(body) > 4096:
        raise ServiceError("the message is longer than 4096 characters")
    if channel.practice_id != conversation.practice_id:
        raise ServiceError("channel not found")
    if not channel.enabled:
        raise ServiceError(f"the channel {channel.name} is disabled")
    if channel.kind == ChannelKind.PORTAL:
        contact = None
    elif contact is None:
        contact = contact_point_for(conversation, channel)
    elif (
        contact.patient_id != conversation.patient_id
        or contact.kind != channel.kind
        or contact.opted_out_at is not None
    ):
        raise ServiceError(f"that {channel.kind} address cannot be used for this patient")
    if refusal := queue_refusal(channel=channel, contact=contact, kind=kind, metadata=metadata):
        raise ServiceError(refusal)  # e.g. WhatsApp's 24-hour window
    # `our_wording`: the practice's fixed text with nothing about the patient in it (the crisis
    # safety reply names the "Suicide & Crisis Lifeline"): it goes where the patient wrote from.
    if channel.kind != ChannelKind.PORTAL and not (metadata or {}).get("portal_notice_for") and not our_wording:
        patient = conversation.patient
        try:
            decision = check_outbound(
                channel=channel,
                body=body,
                patient_names=tuple(n for n in (patient.full_name, patient.first_name) if n),
                is_automatic=is_automatic,
                override_reason=phi_override_reason,
                force_portal=via_portal,
            )
        except PhiDetected as exc:
            raise PhiReviewNeeded(str(exc), summary=exc.scan.summary(), policy=exc.policy) from None
        if decision.convert:
            from converge.privacy.portal_delivery import send_via_portal

            return send_via_portal(
                conversation=conversation,
                standard_channel=channel,
                body=body,
                sender=sender,
                is_automatic=is_automatic,
                contact=contact,
            )
        if decision.overridden and decision.scan is not None:
            audit_record(
                practice_id=conversation.practice_id,
                actor=sender,
                action="phi.override",
                patient_id=conversation.patient_id,
                detail={
                    "reason": phi_override_reason.strip()[:300],
                    "found": sorted({f.kind for f in decision.scan.findings}),
                },
            )
    now = clock.now()
    # No savepoint inside a caller's transaction (the inbound pipeline's after-hours and safety
    # replies): nothing here is retried on its own, so a failure is the caller's failure.
    with transaction.atomic(savepoint=False):
        message = Message.objects.create(
            practice_id=conversation.practice_id,
            conversation=conversation,
            patient_id=conversation.patient_id,
            channel=channel,
            contact_point=contact,
            direction=Direction.OUTBOUND,
            kind=kind,
            body=body,
            status=DeliveryStatus.QUEUED,
            sender=sender,
            is_automatic=is_automatic,
            next_attempt_at=now,
            metadata=metadata or {},
            created_at=now,
        )
        conversation.last_message_at = now
        fields = ["last_message_at"]
        if sender is not None:
            conversation.waiting_since = None
            fields.append("waiting_since")
        audit_record(
            practice_id=conversation.practice_id,
            actor=sender,
            action="message.queue",
            obj=message,
            patient_id=conversation.patient_id,
            detail={"channel": channel.pk, "automatic": is_automatic},
        )
        events.publish_on_commit(
            [events.practice_group(conversation.practice_id)],
            {
                "type": "message.queued",
                "conversation_id": conversation.pk,
                "message_id": message.pk,
            },
        )
        _bump(conversation, now, fields)
    return message


def message_retry(*, message: Message, actor: StaffMember) -> Message:
    if message.status != DeliveryStatus.FAILED or message.direction != Direction.OUTBOUND:
        raise ServiceError("only a failed outbound message can be retried")
    if (
        message.contact_point_id
        and ContactPoint.objects.filter(pk=message.contact_point_id, opted_out_at__isnull=False).exists()
    ):
        raise ServiceError("the patient opted out of this channel")
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=DeliveryStatus.QUEUED,
            next_attempt_at=clock.now(),
            attempts=0,
            failure_code="",
            failure_reason="",
        )
        audit_record(
            practice_id=message.practice_id,
            actor=actor,
            action="message.retry",
            obj=message,
            patient_id=message.patient_id,
        )
        events.publish_on_commit(
            [events.practice_group(message.practice_id)],
            {
                "type": "message.status",
                "conversation_id": message.conversation_id,
                "message_id": message.pk,
                "status": "queued",
            },
        )
    message.refresh_from_db()
    return message


def conversation_assign(
    *,
    conversation: Conversation,
    actor: StaffMember | None,
    assignee: StaffMember | None = None,
    team: Team | None = None,
) -> Conversation:
    """Assign to a person and/or a team. Passing neither unassigns the person."""
    for obj in (assignee, team):
        if obj is not None and obj.practice_id != conversation.practice_id:
            raise ServiceError("assignee not found")
    if assignee is not None and not assignee.is_active:
        raise ServiceError("that staff member's account is disabled")
    now = clock.now()
    with transaction.atomic():
        fields = ["assignee"]
        conversation.assignee = assignee
        parts = []
        if team is not None:
            conversation.team = team
            fields.append("team")
            parts.append(f"team {team.name}")
        if assignee is not None:
            parts.insert(0, assignee.display_name)
        text = f"Assigned to {' / '.join(parts)}" if parts else "Unassigned"
        if actor is not None:
            text += f" by {actor.display_name}"
        _event(conversation, kind="assigned", text=text, actor=actor, now=now)
        audit_record(
            practice_id=conversation.practice_id,
            actor=actor,
            action="conversation.assign",
            obj=conversation,
            patient_id=conversation.patient_id,
            detail={
                "assignee": assignee.pk if assignee else None,
                "team": team.pk if team else None,
            },
        )
        _bump(conversation, now, fields)
        if assignee is not None:
            events.publish_on_commit(
                [events.user_group(assignee.user_id)],
                {"type": "conversation.assigned", "conversation_id": conversation.pk},
            )
    return conversation


def conversation_set_status(
    *,
    conversation: Conversation,
    actor: StaffMember | None,
    status: str,
    snoozed_until: datetime | None = None,
) -> Conversation:
    if status not in ConversationStatus.values:
        raise ServiceError(f"unknown status {status!r}")
    now = clock.now()
    if status == ConversationStatus.SNOOZED and (snoozed_until is None or snoozed_until <= now):
        raise ServiceError("snoozing needs a time in the future")
    with transaction.atomic():
        if status != ConversationStatus.RESOLVED and conversation.status == ConversationStatus.RESOLVED:
            newer = (
                Conversation.objects.filter(patient_id=conversation.patient_id)
                .exclude(status=ConversationStatus.RESOLVED)
                .exclude(pk=conversation.pk)
                .exists()
            )
            if newer:
                raise ServiceError("the patient already has an open conversation")
        conversation.status = status
        conversation.snoozed_until = snoozed_until if status == ConversationStatus.SNOOZED else None
        conversation.resolved_at = now if status == ConversationStatus.RESOLVED else None
        label = {
            ConversationStatus.OPEN: "Reopened",
            ConversationStatus.PENDING: "Marked pending",
            ConversationStatus.SNOOZED: "Snoozed",
            ConversationStatus.RESOLVED: "Resolved",
        }[ConversationStatus(status)]
        text = label + (f" by {actor.display_name}" if actor else "")
        _event(conversation, kind="status", text=text, actor=actor, now=now)
        audit_record(
            practice_id=conversation.practice_id,
            actor=actor,
            action="conversation.status",
            obj=conversation,
            patient_id=conversation.patient_id,
            detail={"status": status},
        )
        _bump(conversation, now, ["status", "snoozed_until", "resolved_at"])
    return conversation


def conversation_set_triage(
    *,
    conversation: Conversation,
    actor: StaffMember | None,
    priority: int | None = None,
    category: str | None = None,
) -> Conversation:
    now = clock.now()
    fields = []
    with transaction.atomic():
        if priority is not None:
            if priority not in (0, 1, 2, 3):
                raise ServiceError("priority must be 0-3")
            conversation.priority = priority
            fields.append("priority")
        if category is not None:
            conversation.category = category[:20]
            fields.append("category")
        if not fields:
            return conversation
        audit_record(
            practice_id=conversation.practice_id,
            actor=actor,
            action="conversation.triage",
            obj=conversation,
            patient_id=conversation.patient_id,
            detail={"priority": priority, "category": category},
        )
        _bump(conversation, now, fields)
    return conversation


def note_add(*, conversation: Conversation, author: StaffMember, body: str) -> Note:
    body = body.strip()
    if not body:
        raise ServiceError("the note is empty")
    if len(body) > 10_000:
        raise ServiceError("the note is longer than 10000 characters")
    now = clock.now()
    with transaction.atomic():
        note = Note.objects.create(
            practice_id=conversation.practice_id,
            conversation=conversation,
            author=author,
            body=body,
            created_at=now,
        )
        audit_record(
            practice_id=conversation.practice_id,
            actor=author,
            action="note.add",
            obj=note,
            patient_id=conversation.patient_id,
        )
        _bump(conversation, now, [])
    return note


def conversations_wake_snoozed() -> int:
    """Reopen snoozed conversations whose time has come."""
    now = clock.now()
    woken = 0
    due = Conversation.objects.filter(status=ConversationStatus.SNOOZED, snoozed_until__lte=now)
    for conversation in due.iterator():
        with transaction.atomic():
            conversation.status = ConversationStatus.OPEN
            conversation.snoozed_until = None
            _event(conversation, kind="status", text="Snooze ended", actor=None, now=now)
            _bump(conversation, now, ["status", "snoozed_until"])
            woken += 1
    return woken


# --- The staff inbox: read markers, @mentions, bulk actions --------------------------------


def conversation_mark_read(*, conversation: Conversation, staff: StaffMember) -> bool:
    """Record that `staff` has seen the conversation up to now, and the @mentions in it. Returns
    True when something was unread (the member's other tabs are told)."""
    now = clock.now()
    with transaction.atomic():
        read = ConversationRead.objects.select_for_update().filter(conversation=conversation, staff=staff).first()
        was_unread = False
        if read is None:
            try:
                with transaction.atomic():
                    ConversationRead.objects.create(
                        practice_id=conversation.practice_id, conversation=conversation, staff=staff, last_read_at=now
                    )
            except IntegrityError:  # another tab of the same person got there first
                ConversationRead.objects.filter(conversation=conversation, staff=staff).update(last_read_at=now)
            was_unread = conversation.last_inbound_at is not None
        else:
            was_unread = conversation.last_inbound_at is not None and conversation.last_inbound_at > read.last_read_at
            read.last_read_at = now
            read.save(update_fields=["last_read_at"])
        unread_mentions = Mention.objects.filter(conversation=conversation, staff=staff, read_at__isnull=True)
        mentions = unread_mentions.update(read_at=now)
        if was_unread or mentions:
            events.publish_on_commit(
                [events.user_group(staff.user_id)],
                {"type": "conversation.read", "conversation_id": conversation.pk},
            )
    return was_unread or bool(mentions)


def note_post(*, conversation: Conversation, author: StaffMember, body: str) -> Note:
    """Add an internal note; colleagues @mentioned in it (by handle or full name) get a
    notification on their own channel group."""
    from converge.conversations.selectors import mentioned_staff

    with transaction.atomic():
        note = note_add(conversation=conversation, author=author, body=body)
        mentioned = [s for s in mentioned_staff(practice_id=conversation.practice_id, text=note.body) if s != author]
        for member in mentioned:
            Mention.objects.create(
                practice_id=conversation.practice_id,
                note=note,
                conversation=conversation,
                staff=member,
                author=author,
                created_at=note.created_at,
            )
        if mentioned:
            audit_record(
                practice_id=conversation.practice_id,
                actor=author,
                action="note.mention",
                obj=note,
                patient_id=conversation.patient_id,
                detail={"staff": [m.pk for m in mentioned]},
            )
            events.publish_on_commit(
                [events.user_group(m.user_id) for m in mentioned],
                {"type": "mention", "conversation_id": conversation.pk, "note_id": note.pk},
            )
    return note


def mentions_mark_read(*, staff: StaffMember) -> int:
    with transaction.atomic():
        count = Mention.objects.filter(staff=staff, read_at__isnull=True).update(read_at=clock.now())
        if count:
            events.publish_on_commit([events.user_group(staff.user_id)], {"type": "mention.read"})
    return count


BULK_ACTIONS = ("assign", "resolve")


def conversations_bulk_apply(
    *,
    practice_id: int,
    conversation_ids: list[int],
    actor: StaffMember,
    action: str,
    assignee: StaffMember | None = None,
    team: Team | None = None,
) -> tuple[int, list[str]]:
    """Assign or resolve several conversations; each is its own transaction so one refusal does
    not undo the rest. Returns (done, problems)."""
    if action not in BULK_ACTIONS:
        raise ServiceError(f"unknown bulk action {action!r}")
    if len(conversation_ids) > 200:
        raise ServiceError("choose at most 200 conversations at a time")
    done = 0
    problems: list[str] = []
    targets = Conversation.objects.filter(practice_id=practice_id, id__in=conversation_ids).select_related("patient")
    for conversation in targets:
        try:
            if action == "assign":
                conversation_assign(conversation=conversation, actor=actor, assignee=assignee, team=team)
            elif conversation.status != ConversationStatus.RESOLVED:
                conversation_set_status(conversation=conversation, actor=actor, status=ConversationStatus.RESOLVED)
            done += 1
        except ServiceError as exc:
            problems.append(f"conversation {conversation.pk}: {exc}")
    return done, problems
