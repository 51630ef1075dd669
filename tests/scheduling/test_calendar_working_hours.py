"""The calendar's Book and Move forms refuse a time outside the provider's working hours with a message
that names them, and offer to go ahead: a checkbox and a required reason, which the audit row keeps."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.practices.models import Role
from converge.scheduling.models import Appointment
from tests.helpers import make_staff
from tests.reminders.conftest import clinic, make_patient  # noqa: F401 -- shared fixtures
from tests.scheduling.hours_scaffold import (  # noqa: F401 -- shared fixtures
    MONDAY_9AM,
    NY,
    SATURDAY,
    THURSDAY,
    UTC,
    ana,
    at,
    book,
    frozen,
)

# The calendar -------------------------------------------------------------------------------


@pytest.fixture
def client(clinic):
    staff = make_staff(clinic.practice, "Maria Lopez", Role.FRONT_DESK)
    client = Client()
    client.force_login(staff.user)
    client.staff = staff
    return client


def state(**extra):
    return {"view": "day", "date": THURSDAY.isoformat(), "provider": "all", **extra}


@pytest.mark.django_db
def test_calendar_book_at_another_time_asks_for_an_override(client, clinic, ana, frozen):
    form = {
        **state(),
        "patient": ana.pk,
        "type": clinic.visit.pk,
        "book_provider": clinic.provider.pk,
        "book_date": THURSDAY.isoformat(),
        "other_time": "18:00",
    }
    panel = client.get("/calendar/", state(panel="book", patient=ana.pk, book_date=THURSDAY.isoformat())).content
    assert b'name="other_time"' in panel and b"Another time" in panel
    refused = client.post("/calendar/book", form)
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "outside Dr. Patel&#x27;s working hours (Thu 09:00–12:00, 13:00–17:00)" in html
    assert 'role="alert"' in html
    assert 'type="checkbox" name="override_hours"' in html and "Book outside working hours" in html
    assert 'name="override_reason"' in html and 'value="18:00"' in html
    assert not Appointment.objects.filter(patient=ana).exists()
    missing = client.post("/calendar/book", {**form, "override_hours": "1", "override_reason": " "})
    assert missing.status_code == 400 and "reason" in missing.content.decode()
    assert 'type="checkbox" name="override_hours"' in missing.content.decode()
    done = client.post("/calendar/book", {**form, "override_hours": "1", "override_reason": "Only time she can"})
    assert done.status_code == 302
    appointment = Appointment.objects.get(patient=ana)
    assert appointment.start == at(THURSDAY, 18)
    event = AuditEvent.objects.get(action="appointment.book", object_id=str(appointment.pk))
    assert event.detail["override_reason"] == "Only time she can"
    assert event.actor_user_id == client.staff.user_id
    # Another time needs one provider, not "any".
    anyone = client.post("/calendar/book", {**form, "book_provider": "", "other_time": "10:00"})
    assert anyone.status_code == 400 and "Choose a provider" in anyone.content.decode()


@pytest.mark.django_db
def test_calendar_book_inside_hours_at_another_time_needs_no_override(client, clinic, ana, frozen):
    form = {
        **state(),
        "patient": ana.pk,
        "type": clinic.visit.pk,
        "book_provider": clinic.provider.pk,
        "book_date": THURSDAY.isoformat(),
        "other_time": "09:05",
    }
    assert client.post("/calendar/book", form).status_code == 302
    assert Appointment.objects.get(patient=ana).start == at(THURSDAY, 9, 5)


@pytest.mark.django_db
def test_calendar_move_outside_hours_asks_for_an_override(client, clinic, ana, frozen):
    appointment = book(clinic, ana, at(THURSDAY, 9))
    url = f"/calendar/appointments/{appointment.pk}/move"
    form = {**state(), "move_date": "2026-03-07", "move_provider": clinic.provider.pk, "other_time": "10:00"}
    refused = client.post(url, form)
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "not working Sat" in html and "Move outside working hours" in html
    assert 'name="override_reason"' in html
    appointment.refresh_from_db()
    assert appointment.start == at(THURSDAY, 9)
    done = client.post(url, {**form, "override_hours": "1", "override_reason": "Saturday catch-up"})
    assert done.status_code == 302
    appointment.refresh_from_db()
    assert appointment.start == at(SATURDAY, 10)
    assert AuditEvent.objects.get(action="appointment.move").detail["override_reason"] == "Saturday catch-up"


@pytest.mark.django_db
def test_a_free_time_that_fell_outside_hours_is_offered_as_another_time(client, clinic, ana, frozen):
    # The hours changed after the free times were listed: the picked time is put into "another
    # time" for its provider and day, with the override, instead of being lost.
    slot = f"{clinic.provider.pk}|{at(SATURDAY, 10).isoformat()}"
    refused = client.post("/calendar/book", {**state(), "patient": ana.pk, "type": clinic.visit.pk, "slot": slot})
    assert refused.status_code == 409
    html = refused.content.decode()
    assert 'name="other_time" value="10:00"' in html and 'name="book_date" value="2026-03-07"' in html
    assert f'<option value="{clinic.provider.pk}" selected>' in html
    assert "Book outside working hours" in html and "To book anyway" in html
