"""A simulated month at a practice: several hundred appointments across the spring DST change,
patients in two time zones, quiet hours, channel fallback, replies and a waitlist race.

The clock jumps from one due reminder to the next, so every reminder is sent at exactly the
time it was planned for, and each send time is checked against the rules."""

from __future__ import annotations

import contextlib
import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from converge.conversations.models import Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core import clock
from converge.patients.models import ContactPoint
from converge.reminders.models import Reminder, ReminderStatus
from converge.reminders.services import reminders_dispatch_due, reminders_fall_back
from converge.reminders.waitlist import waitlist_add, waitlist_send_batches
from converge.scheduling.models import Appointment, SlotOffer
from converge.scheduling.services import BookingError, appointment_book
from tests.helpers import receive
from tests.reminders.conftest import make_patient

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
MONTH_START = datetime(2026, 2, 23, 8, 0, tzinfo=NY)  # bookings are made from here on
QUIET_START, QUIET_END = time(21, 0), time(8, 0)


def in_quiet(moment: datetime, zone: ZoneInfo) -> bool:
    wall = moment.astimezone(zone).time()
    return wall >= QUIET_START or wall < QUIET_END


def drain_outbox() -> None:
    while outbox_dispatch_batch():
        pass


@pytest.fixture
def month(clinic):
    rng = random.Random(2026)
    patients = []
    for i in range(120):
        zone = "America/Los_Angeles" if i % 3 == 0 else ""
        phone = f"+1555000{i:04d}" if i % 17 == 0 else f"+1555301{i:04d}"  # every 17th is unreachable
        preferred = "whatsapp" if i % 4 == 0 else ("email" if i % 9 == 0 else "sms")
        patient = make_patient(
            clinic, phone=phone, language="es" if i % 5 == 0 else "en", preferred=preferred, time_zone=zone
        )
        if i % 11 == 0:
            ContactPoint.objects.filter(patient=patient, kind="whatsapp").update(opted_out_at=MONTH_START)
        patients.append(patient)
    appointments = []
    with clock.frozen(MONTH_START):
        day = MONTH_START.date()
        while len(appointments) < 320:
            day += timedelta(days=1)
            if day.weekday() >= 5:
                continue
            for slot in range(16):
                if rng.random() < 0.35:
                    continue
                hour, minute = divmod(9 * 60 + slot * 30 if slot < 6 else 13 * 60 + (slot - 6) * 20, 60)
                start = datetime.combine(day, time(hour, minute), tzinfo=NY)
                with contextlib.suppress(BookingError):
                    appointments.append(
                        appointment_book(
                            patient=rng.choice(patients),
                            provider=clinic.provider,
                            start=start,
                            appointment_type=clinic.visit,
                        )
                    )
    return patients, appointments


def run_month(until: datetime) -> int:
    """Jump the clock to each due reminder in turn; returns how many steps were taken."""
    steps = 0
    while True:
        nxt = Reminder.objects.filter(status=ReminderStatus.PLANNED, due_at__lte=until).order_by("due_at").first()
        if nxt is None:
            return steps
        with clock.frozen(nxt.due_at):
            reminders_dispatch_due()
            drain_outbox()
        for second in range(1, 4):  # a failed channel falls back to the next, one by one
            with clock.frozen(nxt.due_at + timedelta(seconds=second)):
                if not reminders_fall_back():
                    break
                drain_outbox()
        steps += 1


def test_every_reminder_time_in_a_month(clinic, month):
    _patients, appointments = month
    assert len(appointments) >= 300
    dst_day = datetime(2026, 3, 9, tzinfo=NY).date()
    assert any(a.start.astimezone(NY).date() == dst_day for a in appointments)
    run_month(until=max(a.start for a in appointments))
    reminders = list(Reminder.objects.select_related("appointment", "appointment__patient", "message"))
    assert len(reminders) == 2 * len(appointments)
    sent = [r for r in reminders if r.status == ReminderStatus.QUEUED]
    assert len(sent) > 400
    for reminder in sent:
        appointment = reminder.appointment
        zone = LA if appointment.patient.time_zone else NY
        sent_at = reminder.message.created_at
        # Sent when planned (a fallback after a failed first channel follows within seconds).
        assert reminder.due_at <= sent_at <= reminder.due_at + timedelta(seconds=5)
        assert sent_at < appointment.start  # never after the start
        assert not in_quiet(sent_at, zone), (reminder.kind, appointment.start, sent_at.astimezone(zone))
        nominal = appointment.start - timedelta(hours=int(reminder.kind.rstrip("h")))
        if not in_quiet(nominal, zone):
            assert reminder.due_at == nominal  # not moved when no move was needed
    for reminder in reminders:
        if reminder.status != ReminderStatus.QUEUED:
            assert reminder.skipped_reason  # every reminder not sent says why
    # DST: a 9:00 visit on the Monday after the change has its 24 h reminder at 9:00 EDT on Sunday.
    monday_nine = [
        a for a in appointments if a.start == datetime(2026, 3, 9, 9, 0, tzinfo=NY) and not a.patient.time_zone
    ]
    for appointment in monday_nine:
        reminder = Reminder.objects.get(appointment=appointment, kind="24h")
        assert reminder.due_at.astimezone(NY) == datetime(2026, 3, 8, 9, 0, tzinfo=NY)
        assert reminder.due_at - timedelta(hours=23) == reminder.due_at.replace(hour=9) - timedelta(hours=23)
    # Los Angeles patients of 9:00 New York visits (6:00 in LA) hear the evening before, not at night.
    early = [
        r for r in sent if r.appointment.patient.time_zone and r.appointment.start.astimezone(NY).time() == time(9)
    ]
    assert early
    for reminder in early:
        local = reminder.due_at.astimezone(LA)
        assert local.time() >= QUIET_END and local.time() < QUIET_START
    # Fallback: unreachable numbers ended on email; WhatsApp opt-outs never got WhatsApp.
    for reminder in sent:
        patient = reminder.appointment.patient
        if patient.contact_points.filter(kind="sms", address__startswith="+1555000").exists():
            assert reminder.channel_kind == "email"
        if patient.contact_points.filter(kind="whatsapp", opted_out_at__isnull=False).exists():
            assert reminder.channel_kind != "whatsapp"
    assert not Message.objects.filter(direction="out", status__in=["queued", "sending"]).exists()


def test_replies_during_the_month(clinic, month):
    patients, appointments = month
    first_week = sorted(
        (
            a
            for a in appointments
            if a.patient.contact_points.filter(kind="sms", address__startswith="+1555301").exists()
        ),
        key=lambda a: a.start,
    )[:30]
    for n, appointment in enumerate(first_week):
        reminder = Reminder.objects.get(appointment=appointment, kind="48h")
        if reminder.status != ReminderStatus.PLANNED:
            continue
        run_month(until=reminder.due_at)
        reminder.refresh_from_db()
        if reminder.status != ReminderStatus.QUEUED or reminder.channel_kind != "sms":
            continue
        address = appointment.patient.contact_points.get(kind="sms").address
        answer = ["1", "sí, confirmo" if appointment.patient.language == "es" else "yes see you then", "3", "maybe?"][
            n % 4
        ]
        with clock.frozen(reminder.due_at + timedelta(minutes=3)):
            receive(clinic.sms, address, answer)
            drain_outbox()
        appointment.refresh_from_db()
        expected = {0: "confirmed", 1: "confirmed", 2: "cancelled", 3: appointment.status}[n % 4]
        if (
            Reminder.objects.filter(
                appointment__patient=appointment.patient, status=ReminderStatus.QUEUED, queued_at__gt=reminder.queued_at
            )
            .exclude(appointment=appointment)
            .exists()
        ):
            continue  # a newer reminder for another visit of the same patient took the reply
        assert appointment.status == expected, (answer, appointment.status)


@pytest.mark.django_db(transaction=True)
def test_waitlist_race_under_concurrency(clinic):
    """Several patients accept the same freed slot at the same instant: exactly one gets it."""
    import threading

    from django.db import connection

    from converge.reminders.waitlist import waitlist_accept
    from converge.scheduling.models import SlotOfferRecipient
    from converge.scheduling.services import appointment_set_status

    owner = make_patient(clinic, phone="+15553020000")
    waiting = [make_patient(clinic, phone=f"+155530200{i:02d}") for i in range(1, 7)]
    with clock.frozen(MONTH_START):
        appointment = appointment_book(
            patient=owner,
            provider=clinic.provider,
            start=MONTH_START + timedelta(days=3, hours=2),
            appointment_type=clinic.visit,
        )
        for patient in waiting:
            waitlist_add(patient=patient, actor=None)
        from converge.reminders.services import policy_for

        policy = policy_for(clinic.practice)
        policy.waitlist_batch_size = 6
        policy.save()
        appointment_set_status(appointment=appointment, status="cancelled")
        waitlist_send_batches()
    recipients = list(SlotOfferRecipient.objects.all())
    assert len(recipients) == 6
    results: list[object] = []
    barrier = threading.Barrier(len(recipients))

    def accept(recipient_id: int) -> None:
        try:
            barrier.wait()
            with clock.frozen(MONTH_START + timedelta(minutes=5)):
                results.append(waitlist_accept(recipient_id=recipient_id))
        except Exception as exc:  # surfaced below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(r.pk,)) for r in recipients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert SlotOffer.objects.get().status == "filled"
    assert Appointment.objects.filter(start=appointment.start, status="booked").count() == 1
