"""Recall messaging: one automatic message per patient on their preferred reachable channel,
throttled, opted-out and unreachable patients skipped and counted, the PHI guard respected,
audited; who gets chosen; and the /recall/ page."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.connectors.simulate import simulator_outbox
from converge.conversations.models import Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import ServiceError
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Role
from converge.reminders.recall import recall_candidates_due, recall_candidates_no_visit, recall_send
from converge.scheduling.models import FollowUpItem
from converge.scheduling.services import appointment_book, appointment_set_status
from tests.helpers import make_staff
from tests.reminders.conftest import make_patient

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=NY)
TEXT = "Hello {first_name}, time for your yearly check-up at {practice}. Reply to book."


def patients(clinic, n, start=0):
    return [make_patient(clinic, phone=f"+15552050{start + i:03d}") for i in range(n)]


def outbound(patient):
    """What the recall queued (visits set up in the past sent their own messages then)."""
    return list(Message.objects.filter(patient=patient, direction="out", created_at__gte=NOW).order_by("id"))


def test_one_message_each_on_the_preferred_channel_staggered(clinic):
    group = patients(clinic, 4)
    group[1].preferred_channel = "whatsapp"
    Patient.objects.filter(pk=group[1].pk).update(preferred_channel="whatsapp")
    Patient.objects.filter(pk=group[2].pk).update(preferred_channel="email")
    with clock.frozen(NOW):
        result = recall_send(
            practice=clinic.practice,
            patient_ids=[p.pk for p in group],
            body=TEXT,
            actor=None,
            interval=timedelta(seconds=10),
        )
    assert (result.queued, result.skipped) == (4, 0)
    messages = [outbound(p) for p in group]
    assert all(len(m) == 1 for m in messages)
    # WhatsApp refuses free text outside its 24-hour window: that patient gets the next channel.
    assert [m[0].channel.kind for m in messages] == ["sms", "sms", "email", "sms"]
    assert [m[0].next_attempt_at for m in messages] == [NOW + timedelta(seconds=10 * i) for i in range(4)]
    assert all(m[0].is_automatic and m[0].sender_id is None for m in messages)
    assert messages[0][0].body == "Hello Ana, time for your yearly check-up at Sunrise Family Clinic. Reply to book."
    assert result.first_at == NOW and result.last_at == NOW + timedelta(seconds=30)


def test_outbox_sends_only_what_is_due(clinic):
    group = patients(clinic, 3)
    with clock.frozen(NOW):
        recall_send(
            practice=clinic.practice,
            patient_ids=[p.pk for p in group],
            body=TEXT,
            actor=None,
            interval=timedelta(seconds=30),
        )
        while outbox_dispatch_batch():
            pass
    assert len(simulator_outbox(clinic.sms.key)) == 1
    with clock.frozen(NOW + timedelta(seconds=30)):
        while outbox_dispatch_batch():
            pass
    assert len(simulator_outbox(clinic.sms.key)) == 2
    with clock.frozen(NOW + timedelta(minutes=5)):
        while outbox_dispatch_batch():
            pass
    assert len(simulator_outbox(clinic.sms.key)) == 3


def test_a_second_recall_waits_behind_the_first(clinic):
    first, second = patients(clinic, 3), patients(clinic, 2, start=10)
    with clock.frozen(NOW):
        recall_send(
            practice=clinic.practice,
            patient_ids=[p.pk for p in first],
            body=TEXT,
            actor=None,
            interval=timedelta(seconds=5),
        )
    with clock.frozen(NOW + timedelta(seconds=1)):
        result = recall_send(
            practice=clinic.practice,
            patient_ids=[p.pk for p in second],
            body=TEXT,
            actor=None,
            interval=timedelta(seconds=5),
        )
    assert result.first_at == NOW + timedelta(seconds=15)
    assert outbound(second[1])[0].next_attempt_at == NOW + timedelta(seconds=20)


def test_interval_comes_from_the_environment(clinic, monkeypatch):
    monkeypatch.setenv("CONVERGE_RECALL_INTERVAL_SECONDS", "7")
    group = patients(clinic, 2)
    with clock.frozen(NOW):
        recall_send(practice=clinic.practice, patient_ids=[p.pk for p in group], body=TEXT, actor=None)
    assert outbound(group[1])[0].next_attempt_at == NOW + timedelta(seconds=7)


def test_opted_out_and_unreachable_patients_are_skipped_and_counted(clinic, other_practice):
    reachable, opted_out, partly, unreachable = patients(clinic, 4)
    ContactPoint.objects.filter(patient=opted_out).update(opted_out_at=NOW)
    # Opted out of SMS only: falls back to WhatsApp... which refuses outside its window, then
    # not tried further (one route per patient), so give them only an email besides.
    ContactPoint.objects.filter(patient=partly, kind__in=["sms", "whatsapp"]).update(opted_out_at=NOW)
    ContactPoint.objects.filter(patient=unreachable).delete()
    stranger = Patient.objects.create(practice=other_practice, first_name="Zed")
    with clock.frozen(NOW):
        result = recall_send(
            practice=clinic.practice,
            patient_ids=[reachable.pk, opted_out.pk, partly.pk, unreachable.pk, stranger.pk, reachable.pk],
            body=TEXT,
            actor=None,
            interval=timedelta(seconds=3),
        )
    assert (result.queued, result.opted_out, result.unreachable, result.not_found, result.failed) == (2, 1, 1, 1, 0)
    assert outbound(opted_out) == [] and outbound(unreachable) == [] and outbound(stranger) == []
    assert [m.channel.kind for m in outbound(partly)] == ["email"]
    assert len(outbound(reachable)) == 1  # a repeated id gets one message


def test_phi_goes_through_the_portal_and_both_messages_wait_their_turn(clinic):
    group = patients(clinic, 2)
    with clock.frozen(NOW):
        result = recall_send(
            practice=clinic.practice,
            patient_ids=[p.pk for p in group],
            body="Your metformin refill and A1c 7.9 result: please book a visit.",
            actor=None,
            interval=timedelta(seconds=20),
        )
    assert result.queued == 2
    second = outbound(group[1])
    kinds = sorted(m.channel.kind for m in second)
    assert kinds == ["portal", "sms"]
    sms = next(m for m in second if m.channel.kind == "sms")
    assert "metformin" not in sms.body and sms.metadata.get("portal_notice_for")
    assert {m.next_attempt_at for m in second} == {NOW + timedelta(seconds=20)}


def test_audited_without_the_text(clinic):
    staff = make_staff(clinic.practice, "Mia Manager", Role.MANAGER)
    group = patients(clinic, 2)
    with clock.frozen(NOW):
        result = recall_send(practice=clinic.practice, patient_ids=[p.pk for p in group], body=TEXT, actor=staff)
    event = AuditEvent.objects.get(action="recall.send")
    assert event.actor_user_id == staff.user_id
    assert event.detail["queued"] == 2 and event.detail["batch"] == result.batch
    assert "check-up" not in str(event.detail)
    assert AuditEvent.objects.filter(action="message.queue").count() == 2


def test_refuses_empty_text(clinic):
    with pytest.raises(ServiceError):
        recall_send(practice=clinic.practice, patient_ids=[], body="  ", actor=None)


# Who to recall -----------------------------------------------------------------------------


def visit(clinic, patient, when, status="completed"):
    with clock.frozen(when - timedelta(days=7)):
        appointment = appointment_book(
            patient=patient, provider=clinic.provider, start=when, appointment_type=clinic.visit
        )
    if status != "booked":
        with clock.frozen(when + timedelta(hours=1)):
            appointment_set_status(appointment=appointment, status=status)
    return appointment


def test_candidates_with_no_visit_in_n_months(clinic):
    old, recent, never, booked, missed = patients(clinic, 5)
    visit(clinic, old, datetime(2025, 1, 6, 10, tzinfo=NY))
    visit(clinic, recent, datetime(2026, 1, 5, 10, tzinfo=NY))
    visit(clinic, booked, datetime(2025, 1, 6, 11, tzinfo=NY))
    visit(clinic, booked, datetime(2026, 3, 9, 10, tzinfo=NY), status="booked")
    visit(clinic, missed, datetime(2025, 1, 7, 10, tzinfo=NY))
    visit(clinic, missed, datetime(2026, 2, 2, 10, tzinfo=NY), status="no_show")  # a no-show is not a visit
    with clock.frozen(NOW):
        ids = [c.patient.pk for c in recall_candidates_no_visit(practice=clinic.practice, months=12)]
        with_booked = [
            c.patient.pk for c in recall_candidates_no_visit(practice=clinic.practice, months=12, exclude_booked=False)
        ]
        shorter = [c.patient.pk for c in recall_candidates_no_visit(practice=clinic.practice, months=1)]
    assert ids == [old.pk, missed.pk]
    assert with_booked == [old.pk, booked.pk, missed.pk]
    assert set(shorter) == {old.pk, missed.pk, recent.pk}


def test_candidates_with_a_recall_due(clinic):
    due, later, done = patients(clinic, 3)
    for patient, day, status in (
        (due, "2026-03-01", "open"),
        (later, "2026-04-01", "open"),
        (done, "2026-02-01", "done"),
    ):
        FollowUpItem.objects.create(
            practice=clinic.practice, patient=patient, kind="recall", due_date=day, status=status, created_at=NOW
        )
    with clock.frozen(NOW):
        assert [c.patient.pk for c in recall_candidates_due(practice=clinic.practice)] == [due.pk]


# The page ----------------------------------------------------------------------------------


def test_recall_page_for_managers(clinic):
    old = patients(clinic, 1)[0]
    visit(clinic, old, datetime(2025, 1, 6, 10, tzinfo=NY))
    opted = patients(clinic, 1, start=50)[0]
    visit(clinic, opted, datetime(2025, 1, 6, 11, tzinfo=NY))
    ContactPoint.objects.filter(patient=opted).update(opted_out_at=NOW)
    for role in (Role.FRONT_DESK, Role.SCHEDULER, Role.NURSE, Role.PROVIDER):
        client = Client()
        client.force_login(make_staff(clinic.practice, f"{role} Person", role).user)
        assert client.get("/recall/").status_code == 403, role
        assert client.post("/recall/", {"patient": [old.pk], "body": TEXT}).status_code == 403
    assert not Message.objects.filter(created_at__gte=NOW).exists()
    manager = Client()
    manager.force_login(make_staff(clinic.practice, "Mia Manager", Role.MANAGER).user)
    with clock.frozen(NOW):
        html = manager.get("/recall/", {"mode": "no_visit", "months": "12"}).content.decode()
        assert f'name="patient" value="{old.pk}"' in html and f'value="{opted.pk}"' in html
        response = manager.post(
            "/recall/", {"mode": "no_visit", "months": "12", "patient": [old.pk, opted.pk], "body": TEXT}
        )
        assert response.status_code == 302
        html = manager.get(response.url).content.decode()
    assert "Recall queued for 1 patient." in html
    assert "<dt>Queued</dt><dd>1</dd>" in html and "<dt>Opted out (skipped)</dt><dd>1</dd>" in html
    assert len(outbound(old)) == 1 and outbound(opted) == []
    empty = manager.post("/recall/", {"body": TEXT})
    assert empty.status_code == 400 and "Choose at least one patient." in empty.content.decode()


def test_recall_page_escapes_names(clinic):
    evil = patients(clinic, 1)[0]
    Patient.objects.filter(pk=evil.pk).update(first_name="<script>x()</script>")
    FollowUpItem.objects.create(practice=clinic.practice, patient=evil, kind="recall", created_at=NOW)
    manager = Client()
    manager.force_login(make_staff(clinic.practice, "Mia Manager", Role.ADMIN).user)
    html = manager.get("/recall/", {"mode": "due"}).content.decode()
    assert "<script>x()</script>" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html


def test_patients_recalled_in_the_last_30_days_are_not_ticked_again(clinic):
    """After a send, the page lists the same candidates again: the ones just recalled say so and
    are left unticked, so a second click on Send does not message them twice."""
    sent, fresh = patients(clinic, 2, start=70)
    for i, patient in enumerate((sent, fresh)):
        visit(clinic, patient, datetime(2025, 1, 6, 10 + i, tzinfo=NY))
    manager = Client()
    manager.force_login(make_staff(clinic.practice, "Mia Manager", Role.MANAGER).user)
    with clock.frozen(NOW):
        manager.post("/recall/", {"mode": "no_visit", "months": "12", "patient": [sent.pk], "body": TEXT})
        html = manager.get("/recall/", {"mode": "no_visit", "months": "12"}).content.decode()
    assert f'value="{sent.pk}" id="recall-p{sent.pk}">' in html  # listed, not ticked
    assert f'value="{fresh.pk}" id="recall-p{fresh.pk}" checked>' in html
    assert "Recalled 2 Mar 2026" in html
