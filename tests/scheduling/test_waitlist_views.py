"""The waitlist page: entries, open offers with their batch and hold state, adding and removing
patients, and the follow-up queue, all through services; isolation and escaping."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.core import clock
from converge.patients.models import Patient
from converge.practices.models import Role
from converge.reminders.models import PatientPrompt
from converge.reminders.waitlist import WaitlistError, waitlist_add, waitlist_remove, waitlist_send_batches
from converge.scheduling.followups import follow_up_done
from converge.scheduling.models import FollowUpItem, SlotOffer, SlotOfferRecipient, WaitlistEntry
from converge.scheduling.services import appointment_book, appointment_set_status
from tests.helpers import make_staff
from tests.reminders.conftest import clinic, make_patient  # noqa: F401 -- fixtures shared with the reminder tests

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=NY)


@pytest.fixture
def client(clinic):
    staff = make_staff(clinic.practice, "Maria Lopez", Role.FRONT_DESK)
    client = Client()
    client.force_login(staff.user)
    client.staff = staff
    return client


def page(response) -> str:
    return response.content.decode()


def named(clinic, phone, first, last="Diaz"):
    patient = make_patient(clinic, phone=phone)
    Patient.objects.filter(pk=patient.pk).update(first_name=first, last_name=last)
    patient.first_name, patient.last_name = first, last
    return patient


def test_entries_offers_and_follow_ups_are_listed(client, clinic):
    with clock.frozen(MONDAY_9AM):
        waiter = named(clinic, "+15552030011", "Wendy", "Wait")
        waitlist_add(patient=waiter, actor=None, weekdays=[3], earliest_time=time(9), latest_time=time(12))
        booked = named(clinic, "+15552030012", "Carl", "Cancel")
        appointment = appointment_book(
            patient=booked,
            provider=clinic.provider,
            start=datetime(2026, 3, 5, 10, tzinfo=NY),
            appointment_type=clinic.visit,
        )
        appointment_set_status(appointment=appointment, status="cancelled")
        waitlist_send_batches()
        missed = appointment_book(
            patient=booked,
            provider=clinic.provider,
            start=MONDAY_9AM + timedelta(minutes=20),
            appointment_type=clinic.visit,
        )
    with clock.frozen(MONDAY_9AM + timedelta(hours=1)):
        appointment_set_status(appointment=missed, status="no_show")
        html = page(client.get("/waitlist/"))
    assert "Wendy Wait" in html and "Any provider" in html and "Thu" in html and "09:00–12:00" in html
    offer = SlotOffer.objects.get()
    assert offer.batches_sent == 1
    assert "Thu 5 Mar, 10:00 AM" in html
    assert "Offered" in html and "batch 1" in html and "9:30 AM" in html  # held 30 minutes after 9:00
    assert "Missed appointment" in html and "Carl Cancel" in html


def test_empty_states(client):
    html = page(client.get("/waitlist/"))
    assert "Nobody is waiting" in html and "No slot is being offered" in html and "Nothing to follow up" in html


def test_add_to_the_waitlist_with_preferences(client, clinic):
    patient = named(clinic, "+15552030021", "Ana")
    found = page(client.get("/waitlist/", {"q": "Ana"}))
    assert f'name="patient" value="{patient.pk}"' in found
    chosen = page(client.get("/waitlist/", {"patient": patient.pk}))
    assert "Ana Diaz" in chosen and 'class="primary" disabled' not in chosen
    response = client.post(
        "/waitlist/",
        {
            "patient": patient.pk,
            "provider": clinic.provider.pk,
            "type": clinic.visit.pk,
            "weekday": ["0", "2"],
            "earliest_time": "08:30",
            "latest_time": "11:00",
            "earliest_date": "2026-04-01",
        },
    )
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get(patient=patient)
    assert entry.weekdays == [0, 2] and entry.provider == clinic.provider and entry.appointment_type == clinic.visit
    assert entry.earliest_time == time(8, 30) and entry.latest_time == time(11)
    assert str(entry.earliest_date) == "2026-04-01"
    assert AuditEvent.objects.filter(
        action="waitlist.add", patient_id=patient.pk, actor_user_id=client.staff.user_id
    ).exists()
    bad = client.post("/waitlist/", {"patient": patient.pk, "earliest_time": "11:00", "latest_time": "09:00"})
    assert bad.status_code == 400 and "the latest time must be after the earliest" in page(bad).lower()
    nobody = client.post("/waitlist/", {"earliest_time": "09:00"})
    assert nobody.status_code == 400 and "Choose a patient first." in page(nobody)


def test_remove_withdraws_held_offers(client, clinic):
    with clock.frozen(MONDAY_9AM):
        patient = named(clinic, "+15552030031", "Ana")
        entry = waitlist_add(patient=patient, actor=None)
        other = named(clinic, "+15552030032", "Ben")
        appointment = appointment_book(
            patient=other,
            provider=clinic.provider,
            start=datetime(2026, 3, 5, 10, tzinfo=NY),
            appointment_type=clinic.visit,
        )
        appointment_set_status(appointment=appointment, status="cancelled")
        waitlist_send_batches()
        assert SlotOfferRecipient.objects.get(entry=entry).status == "offered"
        response = client.post(f"/waitlist/{entry.pk}/remove")
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == "removed"
    assert SlotOfferRecipient.objects.get(entry=entry).status == "too_late"
    assert not PatientPrompt.objects.filter(patient=patient, answered_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="waitlist.remove", patient_id=patient.pk).exists()
    assert client.post(f"/waitlist/{entry.pk}/remove").status_code == 302  # twice is harmless
    WaitlistEntry.objects.filter(pk=entry.pk).update(status="booked")
    with pytest.raises(WaitlistError):
        waitlist_remove(entry=WaitlistEntry.objects.get(pk=entry.pk), actor=None)


def test_follow_up_done(client, clinic):
    patient = named(clinic, "+15552030041", "Ana")
    item = FollowUpItem.objects.create(
        practice=clinic.practice, patient=patient, kind="recall", note="Annual check", created_at=clock.now()
    )
    assert "Annual check" in page(client.get("/waitlist/"))
    response = client.post(f"/waitlist/follow-ups/{item.pk}/done")
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "done"
    assert AuditEvent.objects.filter(action="follow_up.done", patient_id=patient.pk).count() == 1
    follow_up_done(item=item, actor=None)
    assert AuditEvent.objects.filter(action="follow_up.done").count() == 1
    assert "Annual check" not in page(client.get("/waitlist/"))


def test_another_practices_entries_are_404(client, other_practice):
    stranger = Patient.objects.create(practice=other_practice, first_name="Zed", last_name="Other")
    entry = waitlist_add(patient=stranger, actor=None)
    item = FollowUpItem.objects.create(
        practice=other_practice, patient=stranger, kind="no_show", created_at=clock.now()
    )
    assert client.post(f"/waitlist/{entry.pk}/remove").status_code == 404
    assert client.post(f"/waitlist/follow-ups/{item.pk}/done").status_code == 404
    assert client.post("/waitlist/", {"patient": stranger.pk}).status_code == 400
    html = page(client.get("/waitlist/", {"q": "Zed"}))
    assert "Zed" not in html.replace('value="Zed"', "").replace("“Zed”", "")
    entry.refresh_from_db()
    item.refresh_from_db()
    assert entry.status == "active" and item.status == "open"
    assert not WaitlistEntry.objects.filter(practice=client.staff.practice).exists()


def test_patient_text_is_escaped(client, clinic):
    evil = named(clinic, "+15552030051", "<script>alert(1)</script>")
    waitlist_add(patient=evil, actor=None)
    FollowUpItem.objects.create(
        practice=clinic.practice, patient=evil, kind="no_show", note="<b>x</b>", created_at=clock.now()
    )
    html = page(client.get("/waitlist/"))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html


def test_sign_in_is_required_and_every_role_may_use_it(clinic):
    assert Client().get("/waitlist/").status_code == 302
    assert Client().post("/waitlist/1/remove").status_code == 302
    for role in Role.values:
        client = Client()
        client.force_login(make_staff(clinic.practice, f"{role} Person", role).user)
        assert client.get("/waitlist/").status_code == 200, role
