"""On-call paging for urgent alerts nobody acknowledges (issue 14 item 4).

An urgent alert not acknowledged within the practice's N minutes (`urgent_ack_minutes`) pages the
first person on the practice's ordered on-call list. Each page is a Message in the outbox (kind
STAFF_PAGE_KIND, to the on-call number, never the patient's name or words: "Urgent message
waiting at <practice>: <link>"), so it has the outbox's retries, rate limit, idempotency key and
sent/failed record. A page that fails for good, or is not acknowledged in another N minutes, pages
the next person; after the last the list starts again, and after ON_CALL_ROUNDS rounds paging
stops with a "Nobody acknowledged" line (the alert stays on every staff page until acknowledged).
Acknowledging stops it. One escalation per conversation: a second urgent message in a thread that
is already being paged joins it.

Every step is a ConversationEvent line and an audit row (ids and codes only in the audit detail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings as django_settings
from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel
from converge.conversations.models import (
    STAFF_PAGE_KIND,
    Conversation,
    ConversationEvent,
    Direction,
    Message,
)
from converge.core import clock, events
from converge.patients.addresses import InvalidAddress, normalize_phone
from converge.practices.models import StaffMember
from converge.providers.types import ChannelKind, DeliveryStatus
from converge.routing.models import RoutingSettings, UrgentAlert

# Times through the whole list before paging stops (the alert itself stays until acknowledged).
ON_CALL_ROUNDS = 3
MAX_ON_CALL_ENTRIES = 20
NOT_CONFIGURED_HINT = " (Settings → Policies)"
_E164 = re.compile(r"\+[1-9]\d{7,14}")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


@dataclass(frozen=True)
class OnCallTarget:
    label: str  # what the timeline says: a staff member's name, or the number
    phone: str  # E.164; "" when this staff member has no usable number any more
    staff_id: int | None


# --- the on-call list -----------------------------------------------------------------------


def _entries(settings: RoutingSettings) -> list[dict[str, Any]]:
    if settings.on_call_list:
        return [e for e in settings.on_call_list if isinstance(e, dict)]
    return [{"staff": settings.on_call_id}] if settings.on_call_id else []


def on_call_targets(settings: RoutingSettings, when: datetime | None = None) -> list[OnCallTarget]:
    """Whoever the rota has on shift now (converge.practices.rota), then the practice's ordered
    on-call list (without those already paged first); staff no longer active are left out."""
    from converge.practices.rota import on_shift

    entries = _entries(settings)
    ids = [e["staff"] for e in entries if "staff" in e]
    staff = {s.pk: s for s in StaffMember.objects.filter(practice_id=settings.practice_id, pk__in=ids, is_active=True)}
    rota = on_shift(settings.practice_id, when)
    targets = [OnCallTarget(label=m.display_name, phone=_staff_phone(m), staff_id=m.pk) for m in rota]
    entries = [e for e in entries if int(e.get("staff") or 0) not in {m.pk for m in rota}]
    for entry in entries:
        if "phone" in entry:
            targets.append(OnCallTarget(label=str(entry["phone"]), phone=str(entry["phone"]), staff_id=None))
        elif (member := staff.get(int(entry.get("staff") or 0))) is not None:
            targets.append(OnCallTarget(label=member.display_name, phone=_staff_phone(member), staff_id=member.pk))
    return targets


def _staff_phone(member: StaffMember) -> str:
    try:
        return normalize_phone(member.phone) if member.phone.strip() else ""
    except InvalidAddress:
        return ""


def on_call_list_parse(practice_id: int, text: str) -> list[dict[str, Any]]:
    """The settings form's on-call list: one entry a line (or comma-separated), each a staff
    member's name or email, or a phone number in E.164 form (+15551234567). ValueError says which
    entry is wrong."""
    items = [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]
    if len(items) > MAX_ON_CALL_ENTRIES:
        raise ValueError(f"on-call list: at most {MAX_ON_CALL_ENTRIES} entries")
    members = list(StaffMember.objects.filter(practice_id=practice_id, is_active=True).select_related("user"))
    entries: list[dict[str, Any]] = []
    for item in items:
        if item[0] in "+0123456789(":
            number = _PHONE_PUNCTUATION.sub("", item)
            try:
                if not _E164.fullmatch(number):
                    raise InvalidAddress("not E.164")
                entries.append({"phone": normalize_phone(number)})
            except InvalidAddress:
                raise ValueError(
                    f"on-call list: {item[:40]} is not a phone number in E.164 form (+ country code, e.g. +15551234567)"
                ) from None
            continue
        wanted = item.casefold()
        found = [m for m in members if wanted in (m.display_name.casefold(), m.user.email.casefold())]
        if not found:
            raise ValueError(f"on-call list: no active staff member is called {item[:60]}")
        if len(found) > 1:
            raise ValueError(f"on-call list: more than one staff member is called {item[:60]}; use their email")
        if not _staff_phone(found[0]):
            raise ValueError(f"on-call list: {found[0].display_name} has no mobile number on their profile")
        entries.append({"staff": found[0].pk})
    return entries


def on_call_list_text(settings: RoutingSettings) -> str:
    """The list as the settings form shows it, one entry a line (the rota is not part of it)."""
    entries = _entries(settings)
    ids = [e["staff"] for e in entries if "staff" in e]
    names = dict(
        StaffMember.objects.filter(practice_id=settings.practice_id, pk__in=ids, is_active=True).values_list(
            "pk", "display_name"
        )
    )
    labels = [str(e["phone"]) if "phone" in e else names.get(int(e.get("staff") or 0), "") for e in entries]
    return "\n".join(label for label in labels if label)


def on_call_list_update(*, settings: RoutingSettings, actor: object, text: str) -> RoutingSettings:
    entries = on_call_list_parse(settings.practice_id, text)
    with transaction.atomic():
        # The list replaces the older single on-call person, so clearing it clears both.
        settings.on_call_list, settings.on_call = entries, None
        settings.save(update_fields=["on_call_list", "on_call"])
        audit_record(
            practice_id=settings.practice_id,
            actor=actor,
            action="routing.on_call",
            obj=settings,
            detail={"entries": len(entries), "staff": [e["staff"] for e in entries if "staff" in e]},
        )
    return settings


def page_channel(settings: RoutingSettings) -> Channel | None:
    """The configured on-call channel, else the practice's first enabled SMS channel."""
    configured = settings.on_call_channel
    if configured is not None and configured.enabled:
        return configured
    return (
        Channel.objects.filter(practice_id=settings.practice_id, kind=ChannelKind.SMS, enabled=True)
        .order_by("id")
        .first()
    )


# --- escalation -----------------------------------------------------------------------------


def escalation_start(alert: UrgentAlert, *, ack_minutes: int) -> None:
    """A new alert: its first page is due in N minutes, unless its conversation is already being
    paged about an earlier one (the same people would be paged twice)."""
    busy = UrgentAlert.objects.filter(
        conversation_id=alert.conversation_id, acknowledged_at__isnull=True, next_escalation_at__isnull=False
    ).exists()
    if not busy:
        alert.next_escalation_at = alert.created_at + timedelta(minutes=ack_minutes)
        UrgentAlert.objects.filter(pk=alert.pk).update(next_escalation_at=alert.next_escalation_at)


def escalate_due() -> int:
    """Page the next person for every alert whose time is up: one query finds them all. Returns
    how many pages were queued."""
    now = clock.now()
    due = list(
        UrgentAlert.objects.filter(next_escalation_at__lte=now, acknowledged_at__isnull=True)
        .select_related("conversation__practice", "page_message")
        .order_by("next_escalation_at", "id")
    )
    settings_of: dict[int, RoutingSettings] = {}
    paged = 0
    for alert in due:
        if alert.practice_id not in settings_of:
            # A read: a practice that never saved its policies pages with the defaults (no row made).
            settings_of[alert.practice_id] = RoutingSettings.objects.select_related("on_call_channel").filter(
                practice_id=alert.practice_id
            ).first() or RoutingSettings(practice_id=alert.practice_id)
        paged += _page_next(alert, settings_of[alert.practice_id], now)
    return paged


def _page_next(alert: UrgentAlert, settings: RoutingSettings, now: datetime) -> int:
    conversation = alert.conversation
    minutes = settings.urgent_ack_minutes
    targets = on_call_targets(settings)
    channel = page_channel(settings)
    previous = alert.page_message
    failed = previous is not None and previous.status == DeliveryStatus.FAILED
    with transaction.atomic():
        claim = UrgentAlert.objects.filter(
            pk=alert.pk, acknowledged_at__isnull=True, next_escalation_at=alert.next_escalation_at
        )
        if not targets or channel is None:
            error = "no on-call list" if not targets else "no enabled SMS channel for on-call pages"
            if not claim.update(next_escalation_at=now + timedelta(minutes=minutes), escalation_error=error):
                return 0
            if alert.escalation_error != error:  # said once; checked again every N minutes
                _line(conversation, "page_failed", f"On-call page not sent: {error}{NOT_CONFIGURED_HINT}", now)
                audit_record(
                    action="urgent.page_not_sent", **_about(alert.conversation, alert), detail={"error": error}
                )
            return 0
        total = len(targets) * ON_CALL_ROUNDS
        step = alert.page_step
        skipped = []
        while step < total and not targets[step % len(targets)].phone:
            skipped.append(targets[step % len(targets)])
            step += 1
        if step >= total:
            if not claim.update(next_escalation_at=None, page_step=step):
                return 0
            _skipped_lines(conversation, skipped, now)
            _line(
                conversation,
                "page_stopped",
                f"Nobody acknowledged: everyone on call was paged {ON_CALL_ROUNDS} times. Paging stopped; "
                "the alert stays in Urgent until someone acknowledges it",
                now,
            )
            audit_record(
                action="urgent.escalation_stopped",
                **_about(alert.conversation, alert),
                detail={"pages": alert.page_step},
            )
            return 0
        target = targets[step % len(targets)]
        updated = claim.update(
            page_step=step + 1,
            next_escalation_at=now + timedelta(minutes=minutes),
            escalated_at=alert.escalated_at or now,
            escalation_error="",
        )
        if not updated:
            return 0  # acknowledged, or another worker paged, a moment ago
        link = f"{django_settings.PUBLIC_BASE_URL.rstrip('/')}/c/{conversation.pk}/"
        from converge.routing.texts import ON_CALL

        page = Message.objects.create(
            practice_id=alert.practice_id,
            conversation=conversation,
            patient_id=conversation.patient_id,
            channel=channel,
            contact_point=None,
            direction=Direction.OUTBOUND,
            kind=STAFF_PAGE_KIND,
            body=ON_CALL.format(practice=conversation.practice.name, link=link),
            status=DeliveryStatus.QUEUED,
            is_automatic=True,
            next_attempt_at=now,
            metadata={
                "to_address": target.phone,
                "on_call": {"alert": alert.pk, "step": step + 1, "staff": target.staff_id, "label": target.label},
            },
            created_at=now,
        )
        UrgentAlert.objects.filter(pk=alert.pk).update(page_message=page)
        _skipped_lines(conversation, skipped, now)
        if step == 0:
            text = f"Not acknowledged in {minutes} min: paging {target.label} (on call)"
            reason = "first"
        elif failed and not skipped:
            text = f"Paging {target.label}, next on call"
            reason = "failed"
        else:
            text = f"No acknowledgement in {minutes} min: paging {target.label}"
            reason = "timeout"
        if step and step % len(targets) == 0:
            text += f" (round {step // len(targets) + 1} of {ON_CALL_ROUNDS})"
        _line(conversation, "page", text, now)
        audit_record(
            action="urgent.page",
            **_about(alert.conversation, alert),
            detail={"step": step + 1, "staff": target.staff_id, "reason": reason},
        )
        from converge.core.worker import wake_worker

        transaction.on_commit(wake_worker)
    return 1


PAGE_CANCELLED = "page-cancelled"


def page_refusal(message: Message) -> str:
    """Why a queued page must not be sent now, or "": its alert was acknowledged while the page
    waited (a retry's backoff, say). The outbox records it as not sent (code PAGE_CANCELLED)."""
    info = (message.metadata or {}).get("on_call") or {}
    acknowledged = UrgentAlert.objects.filter(pk=int(info.get("alert") or 0), acknowledged_at__isnull=False).exists()
    return "the alert was acknowledged before this page was sent" if acknowledged else ""


def page_outcome(message: Message) -> None:
    """The outbox (or a provider's delivery report) recorded a page as sent or failed for good:
    say so on the timeline; a failure makes the next person due at once (the next check, within
    the job's interval, pages them). Runs in the recording transaction; other messages pass."""
    if message.kind != STAFF_PAGE_KIND:
        return
    info = (message.metadata or {}).get("on_call") or {}
    label = str(info.get("label") or "on call")
    now = clock.now()
    conversation = Conversation.objects.select_related("practice").get(pk=message.conversation_id)
    alert = UrgentAlert.objects.filter(pk=int(info.get("alert") or 0)).first()
    detail = {"step": info.get("step"), "staff": info.get("staff"), "message": message.pk}
    if message.status == DeliveryStatus.FAILED and message.failure_code == PAGE_CANCELLED:
        _line(conversation, "page_cancelled", f"On-call page to {label} not sent: the alert was acknowledged", now)
        audit_record(action="urgent.page_cancelled", **_about(conversation, alert), detail=detail)
        return
    if message.status == DeliveryStatus.FAILED:
        reason = message.failure_reason or "delivery failed"
        _line(conversation, "page_failed", f"On-call page to {label} failed: {reason}", now)
        audit_record(
            action="urgent.page_failed", **_about(conversation, alert), detail=detail | {"code": message.failure_code}
        )
        if alert is not None:
            UrgentAlert.objects.filter(
                pk=alert.pk,
                page_message_id=message.pk,
                acknowledged_at__isnull=True,
                next_escalation_at__isnull=False,
            ).update(next_escalation_at=now, escalation_error=reason[:300])
        return
    from converge.core.clock import clock_label

    local = now.astimezone(ZoneInfo(conversation.practice.time_zone))
    _line(conversation, "page_sent", f"On-call page to {label} sent {clock_label(local)}", now)
    audit_record(action="urgent.page_sent", **_about(conversation, alert), detail=detail)


def _skipped_lines(conversation: Conversation, skipped: list[OnCallTarget], now: datetime) -> None:
    for target in skipped:
        _line(conversation, "page_failed", f"Cannot page {target.label}: no mobile number on their profile", now)


def _line(conversation: Conversation, kind: str, text: str, now: datetime) -> None:
    ConversationEvent.objects.create(
        practice_id=conversation.practice_id, conversation=conversation, kind=kind, text=text[:300], created_at=now
    )
    events.publish_on_commit(
        [events.practice_group(conversation.practice_id)],
        {"type": "conversation.updated", "conversation_id": conversation.pk},
    )


def _about(conversation: Conversation, alert: UrgentAlert | None) -> dict[str, Any]:
    """audit_record's arguments for a paging step: the system acting on the alert, about the
    patient (ids only; no names or numbers in the detail)."""
    return {
        "practice_id": conversation.practice_id,
        "actor": None,
        "obj": alert if alert is not None else conversation,
        "patient_id": conversation.patient_id,
    }
