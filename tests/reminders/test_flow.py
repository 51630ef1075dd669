"""Reminders, replies, waitlist and no-shows end to end on simulator channels, with a frozen clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from converge.connectors.simulate import simulator_outbox
from converge.conversations.models import Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core import clock
from converge.patients.services import contact_point_update
from converge.reminders.models import Reminder
from converge.reminders.services import reminders_dispatch_due, reminders_fall_back
from converge.reminders.waitlist import waitlist_accept, waitlist_add, waitlist_send_batches
from converge.scheduling.models import Appointment, FollowUpItem, Provider, SlotOffer, SlotOfferRecipient
from converge.scheduling.services import BookingError, appointment_book, appointment_move, appointment_set_status
from tests.helpers import receive
from tests.reminders.conftest import make_patient

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=NY)  # a Monday, a week before the DST change


def book(clinic, patient, start=None, **kw):
    return appointment_book(
        patient=patient,
        provider=clinic.provider,
        start=start or MONDAY_9AM + timedelta(days=3, hours=1),
        appointment_type=clinic.visit,
        **kw,
    )


def run_until(moment):
    with clock.frozen(moment):
        reminders_dispatch_due()
        while outbox_dispatch_batch():
            pass


def sent_bodies(channel):
    return [line["body"] for line in simulator_outbox(channel.key)]


def test_booking_plans_48h_and_24h_reminders(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)  # Thursday 10:00
    reminders = {r.kind: r for r in Reminder.objects.filter(appointment=appointment)}
    assert set(reminders) == {"48h", "24h"}
    assert reminders["48h"].due_at == appointment.start - timedelta(hours=48)
    assert reminders["24h"].due_at == appointment.start - timedelta(hours=24)


def test_reminder_sent_on_preferred_channel_with_instructions_only_first(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    run_until(appointment.start - timedelta(hours=48))
    bodies = sent_bodies(clinic.sms)
    assert len(bodies) == 1
    assert "Thursday, March 5 at 10:00 AM" in bodies[0]
    assert "Bring your medication list." in bodies[0]
    assert "Reply 1 to confirm" in bodies[0]
    assert "Follow-up visit" not in bodies[0]  # the type is not named unless allowed
    run_until(appointment.start - timedelta(hours=24))
    bodies = sent_bodies(clinic.sms)
    assert len(bodies) == 2 and "medication" not in bodies[1]
    message = Message.objects.filter(metadata__reminder_id__isnull=False).first()
    assert message.is_automatic and message.conversation.patient_id == patient.pk


def test_whatsapp_reminder_uses_template_and_buttons(clinic):
    patient = make_patient(clinic, preferred="whatsapp", language="es")
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    run_until(appointment.start - timedelta(hours=48))
    message = Message.objects.get(metadata__reminder_id__isnull=False)
    assert message.channel.kind == "whatsapp" and message.kind == "template"
    assert message.metadata["template_language"] == "es"
    assert [b["id"] for b in message.metadata["buttons"]] == ["confirm", "reschedule", "cancel"]
    assert "jueves 5 de marzo" in message.body


def test_falls_back_when_preferred_channel_opted_out(clinic, patient):
    from converge.patients.models import ContactPoint

    contact_point_update(contact=ContactPoint.objects.get(patient=patient, kind="sms"), actor=None, opted_out=True)
    contact_point_update(contact=ContactPoint.objects.get(patient=patient, kind="whatsapp"), actor=None, opted_out=True)
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    run_until(appointment.start - timedelta(hours=48))
    assert sent_bodies(clinic.sms) == [] and sent_bodies(clinic.whatsapp) == []
    assert len(sent_bodies(clinic.email)) == 1
    assert Reminder.objects.get(appointment=appointment, kind="48h").channel_kind == "email"


def test_falls_back_when_send_fails(clinic):
    patient = make_patient(clinic, phone="+15550001111")  # the simulator refuses +1555000… numbers
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    moment = appointment.start - timedelta(hours=48)
    run_until(moment)
    for step, expected in ((1, "whatsapp"), (2, "email")):  # whatsapp uses the same unreachable number
        with clock.frozen(moment + timedelta(minutes=step)):
            assert reminders_fall_back() == 1
            while outbox_dispatch_batch():
                pass
        assert Reminder.objects.get(appointment=appointment, kind="48h").channel_kind == expected
    reminder = Reminder.objects.get(appointment=appointment, kind="48h")
    assert reminder.tried_kinds == ["email", "sms", "whatsapp"]
    assert len(sent_bodies(clinic.email)) == 1


def test_no_reminder_for_cancelled_appointment_or_opted_out_everywhere(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
        appointment_set_status(appointment=appointment, status="cancelled")
    run_until(appointment.start - timedelta(hours=24))
    assert sent_bodies(clinic.sms) == []
    assert set(Reminder.objects.filter(appointment=appointment).values_list("status", flat=True)) == {"cancelled"}


def test_moving_replans_reminders(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
        appointment_move(appointment=appointment, start=appointment.start + timedelta(days=1))
    reminder = Reminder.objects.get(appointment=appointment, kind="24h")
    assert reminder.due_at == appointment.start - timedelta(hours=24)
    assert reminder.planned_for_start == appointment.start


def test_reply_1_confirms(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    moment = appointment.start - timedelta(hours=48)
    run_until(moment)
    with clock.frozen(moment + timedelta(minutes=5)):
        reply = receive(clinic.sms, patient.contact_points.get(kind="sms").address, "1").message
        while outbox_dispatch_batch():
            pass
    appointment.refresh_from_db()
    assert appointment.status == "confirmed"
    assert "is confirmed" in sent_bodies(clinic.sms)[-1]
    reply.conversation.refresh_from_db()
    assert reply.conversation.waiting_since is None
    run_until(appointment.start - timedelta(hours=24))
    assert Reminder.objects.get(appointment=appointment, kind="24h").skipped_reason == "already confirmed"


def test_spanish_free_text_cancel_frees_slot_for_waitlist(clinic):
    patient = make_patient(clinic, language="es")
    waiting = make_patient(clinic, phone="+15552010002")
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
        waitlist_add(patient=waiting, actor=None, provider=clinic.provider)
    moment = appointment.start - timedelta(hours=48)
    run_until(moment)
    with clock.frozen(moment + timedelta(minutes=5)):
        receive(clinic.sms, "+15552010001", "no puedo ir")
        waitlist_send_batches()
        while outbox_dispatch_batch():
            pass
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"
    offer = SlotOffer.objects.get()
    assert offer.start == appointment.start
    recipient = SlotOfferRecipient.objects.get()
    assert recipient.entry.patient_id == waiting.pk
    with clock.frozen(moment + timedelta(minutes=10)):
        receive(clinic.sms, "+15552010002", "yes")
    offer.refresh_from_db()
    assert offer.status == "filled"
    filled = Appointment.objects.get(pk=offer.filled_by_id)
    assert filled.patient_id == waiting.pk and filled.start == appointment.start


def test_waitlist_race_first_acceptance_wins(clinic):
    patient = make_patient(clinic)
    others = [make_patient(clinic, phone=f"+1555201002{i}") for i in range(3)]
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
        for other in others:
            waitlist_add(patient=other, actor=None)
        appointment_set_status(appointment=appointment, status="cancelled")
        waitlist_send_batches()
    recipients = list(SlotOfferRecipient.objects.order_by("id"))
    assert len(recipients) == 3
    with clock.frozen(MONDAY_9AM + timedelta(minutes=5)):
        first = waitlist_accept(recipient_id=recipients[1].pk)
        second = waitlist_accept(recipient_id=recipients[0].pk)
    assert first is not None and second is None
    statuses = dict(SlotOfferRecipient.objects.values_list("pk", "status"))
    assert statuses[recipients[1].pk] == "accepted"
    assert statuses[recipients[0].pk] == statuses[recipients[2].pk] == "too_late"


def test_reschedule_by_reply_offers_times_and_books_the_choice(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    moment = appointment.start - timedelta(hours=48)
    run_until(moment)
    with clock.frozen(moment + timedelta(minutes=5)):
        receive(clinic.sms, "+15552010001", "can we do next week?")
        while outbox_dispatch_batch():
            pass
        offer_text = sent_bodies(clinic.sms)[-1]
        assert "1. " in offer_text and "2. " in offer_text
        receive(clinic.sms, "+15552010001", "2")
        while outbox_dispatch_batch():
            pass
    appointment.refresh_from_db()
    assert appointment.status == "rescheduled"
    new = Appointment.objects.get(pk=appointment.rescheduled_to_id)
    assert new.status == "booked" and new.start != appointment.start
    assert "your appointment is now on" in sent_bodies(clinic.sms)[-1]
    assert Reminder.objects.filter(appointment=new).exists()


def test_ambiguous_reply_goes_to_scheduling_team(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    moment = appointment.start - timedelta(hours=48)
    run_until(moment)
    with clock.frozen(moment + timedelta(minutes=5)):
        reply = receive(clinic.sms, "+15552010001", "yes but can I come a bit later?").message
    appointment.refresh_from_db()
    assert appointment.status == "booked"
    reply.conversation.refresh_from_db()
    assert reply.conversation.team.slug == "scheduling"
    assert reply.conversation.events.filter(kind="needs_person").exists()


def test_no_show_sends_missed_you_and_queues_follow_up(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    with clock.frozen(appointment.start + timedelta(hours=1)):
        appointment_set_status(appointment=appointment, status="no_show")
        while outbox_dispatch_batch():
            pass
    assert "we missed you" in sent_bodies(clinic.sms)[-1]
    assert FollowUpItem.objects.get().kind == "no_show"


def test_double_booking_is_refused(clinic, patient):
    with clock.frozen(MONDAY_9AM):
        book(clinic, patient)
        other = make_patient(clinic, phone="+15552010099")
        with pytest.raises(BookingError):
            book(clinic, other, start=MONDAY_9AM + timedelta(days=3, hours=1, minutes=10))
        cancelled = book(clinic, other, start=MONDAY_9AM + timedelta(days=3, hours=2))
        appointment_set_status(appointment=cancelled, status="cancelled")
        book(clinic, patient, start=MONDAY_9AM + timedelta(days=3, hours=2))  # a cancelled visit frees its slot


def test_bulk_planning_covers_visits_without_reminders_and_is_idempotent(clinic, patient):
    from converge.reminders.services import reminders_plan_missing

    with clock.frozen(MONDAY_9AM):
        start = MONDAY_9AM + timedelta(days=4)
        Appointment.objects.bulk_create(
            [
                Appointment(
                    practice=clinic.practice,
                    patient=patient,
                    provider=clinic.provider,
                    appointment_type=clinic.visit,
                    start=start + timedelta(hours=i),
                    end=start + timedelta(hours=i, minutes=20),
                    blocked_until=start + timedelta(hours=i, minutes=20),
                )
                for i in range(5)
            ]
        )
        assert reminders_plan_missing() == 10
        assert reminders_plan_missing() == 0
    assert Reminder.objects.count() == 10


def test_bulk_planning_writes_what_planning_one_visit_writes(clinic, patient):
    """Shared slot times, quiet hours, a visit too soon for its 48 h reminder and small chunks:
    the bulk path (memoised plans, multi-row INSERT or COPY) matches `reminders_plan` row for row."""
    from converge.reminders.services import reminders_plan, reminders_plan_missing

    with clock.frozen(MONDAY_9AM):
        starts = [
            MONDAY_9AM + timedelta(days=3),
            MONDAY_9AM + timedelta(days=3),  # the same slot time: one plan serves both
            MONDAY_9AM + timedelta(days=2, hours=-1, minutes=30),  # 48 h before falls in quiet hours
            MONDAY_9AM + timedelta(hours=30),  # too soon for the 48 h reminder
            MONDAY_9AM + timedelta(days=5, hours=8),
        ]
        other = Provider.objects.create(practice=clinic.practice, display_name="Dr. Other")
        visits = Appointment.objects.bulk_create(
            [
                Appointment(
                    practice=clinic.practice,
                    patient=patient,
                    provider=other if i == 1 else clinic.provider,
                    appointment_type=clinic.visit,
                    start=start,
                    end=start + timedelta(minutes=20),
                    blocked_until=start + timedelta(minutes=20),
                )
                for i, start in enumerate(starts)
            ]
        )
        assert reminders_plan_missing(batch=2) == 10

        def rows() -> list[tuple[object, ...]]:
            return sorted(
                Reminder.objects.filter(appointment__in=visits).values_list(
                    "appointment_id", "kind", "due_at", "status", "skipped_reason", "planned_for_start", "practice_id"
                )
            )

        bulk = rows()
        Reminder.objects.filter(appointment__in=visits).delete()
        for visit in visits:
            reminders_plan(visit)
        assert bulk == rows()
    assert {status for _, _, _, status, *_ in bulk} == {"planned", "skipped"}


def test_auto_no_show_after_grace_when_opted_in(clinic, patient):
    from converge.reminders.lifecycle import no_shows_mark_due
    from converge.reminders.services import policy_for

    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    with clock.frozen(appointment.start + timedelta(minutes=45)):
        assert no_shows_mark_due() == 0  # off by default
        policy = policy_for(clinic.practice)
        policy.auto_no_show = True
        policy.save()
        assert no_shows_mark_due() == 1
    appointment.refresh_from_db()
    assert appointment.status == "no_show"
    assert FollowUpItem.objects.filter(appointment=appointment, kind="no_show").exists()
