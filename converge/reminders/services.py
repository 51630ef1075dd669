"""Reminder planning and dispatch.

Planning is idempotent per (appointment, kind): re-planning updates the same rows. Dispatch
claims due reminders with SKIP LOCKED, picks the patient's preferred reachable channel (falling
back along the practice's order), and writes the reminder into the outbox as an automatic message
in the patient's conversation, so it is visible there and sent like any other message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from converge.audit.services import audit_record
from converge.conversations.models import Message
from converge.conversations.services import ServiceError, message_queue
from converge.core import clock
from converge.patients.models import Patient
from converge.practices.models import Practice
from converge.providers.types import ChannelKind, DeliveryStatus
from converge.reminders import content
from converge.reminders.channels import Route, channel_order, conversation_for_outreach, reachable_routes
from converge.reminders.models import PatientPrompt, PromptKind, Reminder, ReminderPolicy, ReminderStatus
from converge.reminders.planning import QuietHours, adjust_for_quiet_hours, in_quiet_hours, plan_reminders
from converge.scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, AppointmentType

log = logging.getLogger(__name__)

REMINDER_BUTTONS = (
    {"id": "confirm", "title": "Confirm"},
    {"id": "reschedule", "title": "Reschedule"},
    {"id": "cancel", "title": "Cancel"},
)
REMINDER_BUTTONS_ES = (
    {"id": "confirm", "title": "Confirmar"},
    {"id": "reschedule", "title": "Cambiar"},
    {"id": "cancel", "title": "Cancelar"},
)


def policy_for(practice: Practice | int) -> ReminderPolicy:
    """The practice's reminder policy, or unsaved defaults when it never saved one: planning,
    dispatch and the pages read it, and a read does not create the row (saving the policy does)."""
    practice_id = practice if isinstance(practice, int) else practice.pk
    return ReminderPolicy.objects.filter(practice_id=practice_id).first() or ReminderPolicy(practice_id=practice_id)


def patient_time_zone(patient: Patient, appointment: Appointment | None = None) -> str:
    if patient.time_zone:
        return patient.time_zone
    if appointment is not None and appointment.location is not None and appointment.location.time_zone:
        return appointment.location.time_zone
    return patient.practice.time_zone


def local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))


def _offsets(appointment: Appointment, policy: ReminderPolicy) -> dict[str, timedelta]:
    hours = (appointment.appointment_type.reminder_offsets_hours if appointment.appointment_type else None) or (
        policy.offsets_hours
    )
    return {f"{int(h)}h": timedelta(hours=int(h)) for h in hours if int(h) > 0}


def reminders_plan(appointment: Appointment, *, policy: ReminderPolicy | None = None) -> list[Reminder]:
    """(Re)plan an appointment's reminders. Safe to call any number of times."""
    policy = policy or policy_for(appointment.practice_id)
    existing = {r.kind: r for r in Reminder.objects.filter(appointment=appointment)}
    if not policy.enabled or appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED):
        Reminder.objects.filter(appointment=appointment, status=ReminderStatus.PLANNED).update(
            status=ReminderStatus.CANCELLED, skipped_reason="appointment no longer booked"
        )
        return list(Reminder.objects.filter(appointment=appointment))
    tz = patient_time_zone(appointment.patient, appointment)
    planned = plan_reminders(
        appointment_start=appointment.start,
        offsets=_offsets(appointment, policy),
        patient_tz=tz,
        quiet=QuietHours(policy.quiet_start, policy.quiet_end),
        now=clock.now(),
    )
    result = []
    for plan in planned:
        row = existing.get(plan.kind)
        if row is not None and row.status == ReminderStatus.QUEUED and row.planned_for_start == appointment.start:
            result.append(row)  # already queued for this very time
            continue
        fields: dict[str, object] = {
            "due_at": plan.due_at,
            "status": ReminderStatus.PLANNED if plan.due_at is not None else ReminderStatus.SKIPPED,
            "skipped_reason": plan.skipped_reason,
            "planned_for_start": appointment.start,
            "tried_kinds": [],
            "channel_kind": "",
            "message": None,
            "queued_at": None,
        }
        if row is None:
            row = Reminder.objects.create(
                practice_id=appointment.practice_id, appointment=appointment, kind=plan.kind, **fields
            )
        else:
            for name, value in fields.items():
                setattr(row, name, value)
            row.save(update_fields=list(fields))
        result.append(row)
    return result


def reminders_plan_missing(*, horizon: timedelta = timedelta(days=60), batch: int = 5000) -> int:
    """Plan reminders for upcoming visits that have none (bulk imports, older data) in batches.

    Reads plain tuples and inserts many rows per statement: at 100,000 visits the ORM's
    per-object cost dominated, then one statement per reminder. Visits share slot times, so each
    (start, zone, offsets, quiet hours) is planned once. ON CONFLICT on (appointment, kind) keeps a
    concurrent run from planning twice."""
    now = clock.now()
    policies: dict[int, ReminderPolicy] = {}
    type_offsets: dict[int, tuple[int, ...]] = {}
    plans: dict[tuple[datetime, str, tuple[int, ...], QuietHours], list[tuple[str, object, str]]] = {}
    to_db = _datetime_adapter()
    created = to_db(now)
    planned = 0
    # One query, streamed in chunks: a LIMIT per batch made the database scan and sort every
    # upcoming visit once per batch (20 times at 100,000 visits).
    upcoming = (
        Appointment.objects.filter(
            status__in=(AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED),
            start__gt=now,
            start__lte=now + horizon,
            reminders__isnull=True,
        )
        .order_by("pk")
        .values_list(
            "pk",
            "practice_id",
            "start",
            "patient__time_zone",
            "location__time_zone",
            "practice__time_zone",
            "appointment_type_id",
        )
        .iterator(chunk_size=batch)
    )
    while True:
        rows = list(islice(upcoming, batch))
        if not rows:
            return planned
        params: list[tuple[object, ...]] = []
        for pk, practice_id, start, patient_tz, location_tz, practice_tz, type_id in rows:
            policy = policies.get(practice_id)
            if policy is None:
                policy = policies[practice_id] = policy_for(practice_id)
            if not policy.enabled:
                continue
            if type_id is not None and type_id not in type_offsets:
                type_offsets[type_id] = tuple(
                    AppointmentType.objects.filter(pk=type_id).values_list("reminder_offsets_hours", flat=True)[0] or ()
                )
            hours = (type_offsets.get(type_id) if type_id is not None else None) or tuple(policy.offsets_hours)
            zone = patient_tz or location_tz or practice_tz
            quiet = QuietHours(policy.quiet_start, policy.quiet_end)
            key = (start, zone, tuple(int(h) for h in hours), quiet)
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = [
                    (p.kind, to_db(p.due_at) if p.due_at else None, p.skipped_reason)
                    for p in plan_reminders(
                        appointment_start=start,
                        offsets={f"{h}h": timedelta(hours=h) for h in key[2] if h > 0},
                        patient_tz=zone,
                        quiet=quiet,
                        now=now,
                    )
                ]
            start_db = to_db(start)
            for kind, due_at, skipped_reason in plan:
                status = ReminderStatus.PLANNED if due_at is not None else ReminderStatus.SKIPPED
                params.append((practice_id, pk, kind, due_at, status, skipped_reason, start_db, created))
        _insert_planned(params)
        planned += len(params)


_PLANNED_COLUMNS = (
    "practice_id, appointment_id, kind, due_at, status, skipped_reason, channel_kind, tried_kinds,"
    " planned_for_start, created_at"
)
_PLANNED_ROW = "(%s, %s, %s, %s, %s, %s, '', '[]', %s, %s)"
_ROWS_PER_INSERT = 1000  # 8 parameters a row: well under SQLite's 32,766 and PostgreSQL's 65,535


def _insert_planned(params: list[tuple[object, ...]]) -> None:
    table = Reminder._meta.db_table
    conflict = " ON CONFLICT (appointment_id, kind) DO NOTHING"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY into a scratch table, then one INSERT: psycopg would otherwise build a query
            # with 8,000 placeholders per thousand rows (20 s at 100,000 visits) or quote arrays
            # (10 s) in Python. Same connection, same transaction.
            import psycopg

            with psycopg.Cursor(connection.connection) as raw:
                raw.execute(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS converge_planned (p bigint, a bigint, k text,"
                    " d timestamptz, s text, r text, f timestamptz, c timestamptz) ON COMMIT DELETE ROWS"
                )
                with raw.copy("COPY converge_planned FROM STDIN") as copy:
                    for row in params:
                        copy.write_row(row)
                raw.execute(
                    f"INSERT INTO {table} ({_PLANNED_COLUMNS})"  # noqa: S608 -- constants only
                    " SELECT p, a, k, d, s, r, '', '[]', f, c FROM converge_planned" + conflict
                )
            return
        for at in range(0, len(params), _ROWS_PER_INSERT):
            chunk = params[at : at + _ROWS_PER_INSERT]
            values = ", ".join([_PLANNED_ROW] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({_PLANNED_COLUMNS}) VALUES {values}" + conflict,  # noqa: S608 -- constants only
                list[Any]([value for row in chunk for value in row]),
            )


def _datetime_adapter() -> Callable[[datetime], object]:
    """Aware datetimes as the database driver wants them. Django's adapter costs ~7 µs a value
    on SQLite; this is the same text (naive UTC, ISO with a space) without the checks."""
    if connection.vendor != "sqlite":
        return connection.ops.adapt_datetimefield_value
    return lambda value: value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def reminders_cancel(appointment: Appointment, reason: str) -> None:
    Reminder.objects.filter(appointment=appointment, status=ReminderStatus.PLANNED).update(
        status=ReminderStatus.CANCELLED, skipped_reason=reason[:200]
    )


def reminders_dispatch_due(*, limit: int = 200) -> int:
    """Send every reminder that is due; returns how many were handled."""
    now = clock.now()
    handled = 0
    with transaction.atomic():
        due = list(
            Reminder.objects.filter(status=ReminderStatus.PLANNED, due_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("due_at")[:limit]
        )
        if not due:
            return 0
        appointments = {
            a.pk: a
            for a in Appointment.objects.filter(pk__in=[r.appointment_id for r in due]).select_related(
                "patient", "patient__practice", "location", "appointment_type", "provider"
            )
        }
        policies: dict[int, ReminderPolicy] = {}
        for reminder in due:
            appointment = appointments[reminder.appointment_id]
            policy = policies.get(appointment.practice_id) or policy_for(appointment.practice_id)
            policies[appointment.practice_id] = policy
            _dispatch_one(reminder, appointment, policy, now)
            handled += 1
    return handled


def _skip(reminder: Reminder, reason: str, status: str = ReminderStatus.SKIPPED) -> None:
    reminder.status = status
    reminder.skipped_reason = reason[:200]
    reminder.save(update_fields=["status", "skipped_reason"])


def _dispatch_one(reminder: Reminder, appointment: Appointment, policy: ReminderPolicy, now: datetime) -> None:
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED):
        _skip(reminder, "appointment no longer booked", ReminderStatus.CANCELLED)
        return
    if appointment.start <= now:
        _skip(reminder, "appointment already started")
        return
    if reminder.planned_for_start != appointment.start:
        reminders_plan(appointment, policy=policy)
        return
    if appointment.status == AppointmentStatus.CONFIRMED:
        _skip(reminder, "already confirmed")
        return
    tz = patient_time_zone(appointment.patient, appointment)
    quiet = QuietHours(policy.quiet_start, policy.quiet_end)
    if in_quiet_hours(now, tz=tz, quiet=quiet):
        # The worker was late (down, or busy) and it is now night for the patient.
        moved = adjust_for_quiet_hours(now, deadline=appointment.start, tz=tz, quiet=quiet, now=now)
        if moved is None or moved >= appointment.start:
            _skip(reminder, "no time outside quiet hours before the appointment")
        else:
            reminder.due_at = moved
            reminder.save(update_fields=["due_at"])
        return
    _queue_on_first_usable_route(reminder, appointment, policy, exclude=set())


def _queue_on_first_usable_route(
    reminder: Reminder, appointment: Appointment, policy: ReminderPolicy, *, exclude: set[str]
) -> bool:
    patient = appointment.patient
    routes = reachable_routes(patient, channel_order(patient, list(policy.fallback_order)), exclude=exclude)
    for route in routes:
        try:
            message = _queue_on_route(reminder, appointment, policy, route)
        except ServiceError as exc:
            exclude.add(route.channel.kind)
            log.info("reminder channel unusable reminder=%s kind=%s", reminder.pk, route.channel.kind)
            reminder.skipped_reason = str(exc)[:200]
            continue
        reminder.status = ReminderStatus.QUEUED
        reminder.channel_kind = route.channel.kind
        reminder.message = message
        reminder.tried_kinds = sorted(exclude | {route.channel.kind})
        reminder.queued_at = clock.now()
        reminder.save(update_fields=["status", "channel_kind", "message", "tried_kinds", "queued_at", "skipped_reason"])
        return True
    reason = reminder.skipped_reason or "no reachable channel (opted out, failing, or no address)"
    _skip(reminder, reason, ReminderStatus.FAILED if exclude else ReminderStatus.SKIPPED)
    return False


def reminder_text_for(appointment: Appointment, *, channel_kind: str, kind: str, with_instructions: bool) -> str:
    patient = appointment.patient
    tz = patient_time_zone(patient, appointment)
    kind_name = appointment.appointment_type
    return content.reminder_text(
        language=patient.language,
        practice_name=patient.practice.name,
        start_local=local(appointment.start, tz),
        location_name=appointment.location.name if appointment.location else "",
        appointment_type=kind_name.name if kind_name and kind_name.may_name_in_reminders else None,
        instructions=(kind_name.instructions if kind_name and with_instructions else None) or None,
        channel=channel_kind,
        kind=kind,
    )


def _queue_on_route(reminder: Reminder, appointment: Appointment, policy: ReminderPolicy, route: Route) -> Message:
    patient = appointment.patient
    # Pre-visit instructions travel with the earliest reminder only.
    earliest = max(_offsets(appointment, policy).items(), key=lambda item: item[1])[0]
    body = reminder_text_for(
        appointment, channel_kind=route.channel.kind, kind=reminder.kind, with_instructions=reminder.kind == earliest
    )
    metadata: dict[str, object] = {"reminder_id": reminder.pk, "appointment_id": appointment.pk}
    kind = "text"
    if route.channel.kind == ChannelKind.WHATSAPP:
        # Business-initiated: an approved template whose quick replies are the three buttons.
        tz = patient_time_zone(patient, appointment)
        kind = "template"
        metadata.update(
            template_name=policy.whatsapp_template_name,
            template_language="es" if patient.language == "es" else "en_US",
            template_params=[
                patient.practice.name,
                content.format_when(local(appointment.start, tz), patient.language),
                appointment.location.name if appointment.location else "",
            ],
            buttons=list(REMINDER_BUTTONS_ES if patient.language == "es" else REMINDER_BUTTONS),
        )
    conversation = conversation_for_outreach(patient)
    message = message_queue(
        conversation=conversation,
        channel=route.channel,
        body=body,
        sender=None,
        kind=kind,
        is_automatic=True,
        metadata=metadata,
        contact=route.contact,
    )
    PatientPrompt.objects.create(
        practice_id=appointment.practice_id,
        patient=patient,
        conversation=conversation,
        kind=PromptKind.REMINDER,
        appointment=appointment,
        expires_at=appointment.start,
        created_at=clock.now(),
    )
    audit_record(
        practice_id=appointment.practice_id,
        actor=None,
        action="reminder.send",
        obj=reminder,
        patient_id=patient.pk,
        detail={"kind": reminder.kind, "channel": route.channel.kind},
    )
    return message


def reminders_fall_back(*, limit: int = 200) -> int:
    """A reminder whose message failed is tried on the next channel in the practice's order."""
    now = clock.now()
    moved = 0
    with transaction.atomic():
        failed = list(
            Reminder.objects.filter(
                status=ReminderStatus.QUEUED,
                message__status=DeliveryStatus.FAILED,
                appointment__start__gt=now,
                appointment__status__in=ACTIVE_STATUSES,
            )
            .select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "appointment",
                "appointment__patient",
                "appointment__patient__practice",
                "appointment__location",
                "appointment__appointment_type",
            )[:limit]
        )
        for reminder in failed:
            policy = policy_for(reminder.practice_id)
            _queue_on_first_usable_route(reminder, reminder.appointment, policy, exclude=set(reminder.tried_kinds))
            moved += 1
    return moved
