"""Recall messages: "it's time for your check-up" to a list of patients, throttled.

Each message goes on the patient's preferred reachable channel like a reminder does, as an
automatic message in their conversation (so the PHI guard and opt-outs apply as everywhere).
The outbox would send a 500-patient recall at once; instead each queued message is given its
own `next_attempt_at`, one every `interval` seconds, after any recall still waiting to go out,
so the provider (and the front desk answering the replies) gets a steady trickle.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q

from converge.audit.services import audit_record
from converge.config.env import env_int
from converge.conversations.models import Message
from converge.conversations.services import ServiceError, message_queue
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Practice
from converge.providers.types import DeliveryStatus
from converge.reminders.channels import channel_order, conversation_for_outreach, reachable_routes
from converge.reminders.services import policy_for
from converge.scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, FollowUpItem

log = logging.getLogger(__name__)

MAX_PATIENTS = 2000
DEFAULT_INTERVAL_SECONDS = 3
VISIT_STATUSES = (AppointmentStatus.COMPLETED, AppointmentStatus.CHECKED_IN)


def recall_interval() -> timedelta:
    """Seconds between two recall messages (CONVERGE_RECALL_INTERVAL_SECONDS, default 3)."""
    return timedelta(seconds=env_int("CONVERGE_RECALL_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS))


@dataclass
class RecallResult:
    batch: str
    queued: int = 0
    opted_out: int = 0
    unreachable: int = 0
    failed: int = 0
    not_found: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    message_ids: list[int] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.opted_out + self.unreachable + self.failed + self.not_found


def personalise(body: str, *, patient: Patient, practice: Practice) -> str:
    """Fill {first_name} and {practice}; plain replacement, so braces in the text are harmless."""
    return body.replace("{first_name}", patient.first_name or "").replace("{practice}", practice.name).strip()


def _opted_out_everywhere(patient: Patient, kinds: list[str]) -> bool:
    """Every address the patient has on the channels we would use is opted out."""
    contacts = list(
        ContactPoint.objects.filter(practice_id=patient.practice_id, patient=patient, kind__in=kinds).values_list(
            "opted_out_at", flat=True
        )
    )
    return bool(contacts) and all(opted is not None for opted in contacts)


def _queue_start(practice_id: int, now: datetime, interval: timedelta) -> datetime:
    """After the last message of any recall of this practice still waiting to go out."""
    latest = Message.objects.filter(
        practice_id=practice_id,
        status=DeliveryStatus.QUEUED,
        metadata__recall_batch__isnull=False,
        next_attempt_at__gt=now,
    ).aggregate(latest=Max("next_attempt_at"))["latest"]
    return max(now, latest + interval) if latest else now


RECENT_RECALL = timedelta(days=30)


def recently_recalled(*, practice: Practice, patient_ids: Iterable[int]) -> dict[int, datetime]:
    """When each of these patients was last sent a recall, within RECENT_RECALL: one query."""
    since = clock.now() - RECENT_RECALL
    rows = (
        Message.objects.filter(
            practice_id=practice.pk,
            patient_id__in=list(patient_ids),
            direction="out",
            metadata__has_key="recall_batch",
            created_at__gte=since,
        )
        .values("patient_id")
        .annotate(last=Max("created_at"))
    )
    return {row["patient_id"]: row["last"] for row in rows}


def recall_send(
    *,
    practice: Practice,
    patient_ids: Iterable[int],
    body: str,
    actor: Any,
    interval: timedelta | None = None,
) -> RecallResult:
    """Queue one automatic recall message per patient, staggered; skip (and count) patients who
    opted out, cannot be reached, or whose message the channel refuses."""
    text = body.strip()
    if not text:
        raise ServiceError("the message is empty")
    ids = list(dict.fromkeys(int(pk) for pk in patient_ids))[: MAX_PATIENTS + 1]
    if len(ids) > MAX_PATIENTS:
        raise ServiceError(f"at most {MAX_PATIENTS} patients in one recall")
    step = recall_interval() if interval is None else interval
    result = RecallResult(batch=uuid.uuid4().hex[:12])
    policy = policy_for(practice)
    patients = {
        p.pk: p
        for p in Patient.objects.filter(practice_id=practice.pk, pk__in=ids, merged_into__isnull=True).select_related(
            "practice"
        )
    }
    result.not_found = len(ids) - len(patients)
    now = clock.now()
    at = _queue_start(practice.pk, now, step)
    for pk in ids:
        patient = patients.get(pk)
        if patient is None:
            continue
        order = channel_order(patient, list(policy.fallback_order))
        routes = reachable_routes(patient, order)
        if not routes:
            if _opted_out_everywhere(patient, order):
                result.opted_out += 1
            else:
                result.unreachable += 1
            continue
        message = None
        for route in routes:  # the next route when a channel refuses (e.g. WhatsApp's 24-hour window)
            try:
                with transaction.atomic():
                    message = message_queue(
                        conversation=conversation_for_outreach(patient),
                        channel=route.channel,
                        body=personalise(text, patient=patient, practice=practice),
                        sender=None,
                        is_automatic=True,
                        contact=route.contact,
                        metadata={"recall_batch": result.batch},
                    )
                    # A PHI conversion returns the portal message and queues a notice beside it;
                    # both wait their turn.
                    Message.objects.filter(
                        Q(pk=message.pk) | Q(metadata__portal_notice_for=message.pk),
                        practice_id=practice.pk,
                        status=DeliveryStatus.QUEUED,
                    ).update(next_attempt_at=at)
                break
            except ServiceError as exc:
                log.info(
                    "recall channel refused patient=%s kind=%s (%s)", patient.pk, route.channel.kind, type(exc).__name__
                )
        if message is None:
            result.failed += 1
            continue
        result.queued += 1
        result.message_ids.append(message.pk)
        result.first_at = result.first_at or at
        result.last_at = at
        at += step
    audit_record(
        practice_id=practice.pk,
        actor=actor,
        action="recall.send",
        detail={
            "batch": result.batch,
            "patients": len(ids),
            "queued": result.queued,
            "opted_out": result.opted_out,
            "unreachable": result.unreachable,
            "failed": result.failed,
            "not_found": result.not_found,
            "interval_seconds": int(step.total_seconds()),
        },
    )
    return result


@dataclass
class RecallCandidate:
    patient: Patient
    last_visit: datetime | None
    due: date | None = None


def recall_candidates_no_visit(
    *, practice: Practice, months: int, exclude_booked: bool = True, limit: int = 500
) -> list[RecallCandidate]:
    """Patients whose last attended visit was more than `months` months ago (patients never
    seen are not recalled), longest-ago first."""
    now = clock.now()
    cutoff = now - timedelta(days=round(months * 30.44))
    qs = (
        Patient.objects.filter(practice_id=practice.pk, merged_into__isnull=True)
        .annotate(
            last_visit=Max(
                "appointments__start",
                filter=Q(appointments__status__in=VISIT_STATUSES, appointments__start__lt=now),
            )
        )
        .filter(last_visit__lt=cutoff)
    )
    if exclude_booked:
        upcoming = Appointment.objects.filter(patient=OuterRef("pk"), status__in=ACTIVE_STATUSES, start__gte=now)
        qs = qs.filter(~Exists(upcoming))
    return [RecallCandidate(patient=p, last_visit=p.last_visit) for p in qs.order_by("last_visit", "id")[:limit]]


def recall_candidates_due(*, practice: Practice, limit: int = 500) -> list[RecallCandidate]:
    """Patients with an open recall item in the follow-up queue that is due (or undated)."""
    today = clock.now().astimezone(ZoneInfo(practice.time_zone)).date()
    items = (
        FollowUpItem.objects.filter(practice_id=practice.pk, kind="recall", status=FollowUpItem.Status.OPEN)
        .filter(Q(due_date__isnull=True) | Q(due_date__lte=today))
        .select_related("patient")
        .order_by("due_date", "id")
    )
    seen: dict[int, RecallCandidate] = {}
    for item in items[: limit * 2]:
        if item.patient.merged_into_id is None and item.patient_id not in seen:
            seen[item.patient_id] = RecallCandidate(patient=item.patient, last_visit=None, due=item.due_date)
    return list(seen.values())[:limit]
