"""A patient's appointments on the patient page and in the patient pane (issue 13 #9): "Upcoming"
lists only visits that will happen (booked, confirmed, checked in); a cancelled or rescheduled
future visit is listed apart, under "Cancelled", with its status."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from converge.core import clock
from converge.scheduling.models import Appointment, Provider
from tests.dashboard.conftest import HTMX
from tests.helpers import receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def visits(practice, sms_channel):
    conversation = receive(sms_channel, "+15552017740", "hi").message.conversation
    for days, status in ((2, "booked"), (3, "confirmed"), (4, "cancelled"), (5, "rescheduled"), (-7, "completed")):
        provider = Provider.objects.create(practice=practice, display_name=f"Dr. {status.title()}")
        start = clock.now() + timedelta(days=days)
        Appointment.objects.create(
            practice=practice,
            patient=conversation.patient,
            provider=provider,
            start=start,
            end=start + timedelta(minutes=20),
            blocked_until=start + timedelta(minutes=20),
            status=status,
        )
    return conversation


def _between(html: str, start: str, end: str) -> str:
    match = re.search(re.escape(start) + r"(.*?)" + re.escape(end), html, re.S)
    assert match, f"{start!r} … {end!r} not found"
    return match.group(1)


def test_patient_page_upcoming_leaves_out_cancelled_visits(client, visits):
    page = client.get(f"/patients/{visits.patient_id}/").content.decode()
    upcoming = _between(page, ">Upcoming</h3>", "</ul>")
    assert "Dr. Booked" in upcoming and "Dr. Confirmed" in upcoming and "Confirmed</span>" in upcoming
    assert "Dr. Cancelled" not in upcoming and "Dr. Rescheduled" not in upcoming
    cancelled = _between(page, ">Cancelled</h3>", "</ul>")
    assert "Dr. Cancelled" in cancelled and "Cancelled</span>" in cancelled
    assert "Dr. Rescheduled" in cancelled and "Rescheduled</span>" in cancelled
    past = _between(page, ">Past</h3>", "</ul>")
    assert "Dr. Completed" in past and "Dr. Cancelled" not in past


def test_patient_pane_upcoming_leaves_out_cancelled_visits(client, visits):
    pane = client.get(f"/c/{visits.pk}/patient", headers=HTMX).content.decode()
    upcoming = _between(pane, "Upcoming appointments</h2>", "</section>")
    assert "Dr. Booked" in upcoming and "Dr. Confirmed" in upcoming
    assert "Dr. Cancelled" not in upcoming and "Dr. Rescheduled" not in upcoming
    cancelled = _between(pane, "Cancelled appointments</h2>", "</section>")
    assert "Dr. Cancelled" in cancelled and "Cancelled</span>" in cancelled and "Dr. Rescheduled" in cancelled


def test_no_cancelled_section_without_cancelled_visits(client, practice, sms_channel):
    conversation = receive(sms_channel, "+15552017741", "hi").message.conversation
    page = client.get(f"/patients/{conversation.patient_id}/").content.decode()
    assert ">Cancelled</h3>" not in page and "None booked." in page
    pane = client.get(f"/c/{conversation.pk}/patient", headers=HTMX).content.decode()
    assert "Cancelled appointments" not in pane


def test_merge_card_counts_only_visits_that_will_happen(client, practice, sms_channel, visits):
    from converge.practices.models import Role
    from tests.helpers import make_staff

    manager = make_staff(practice, "Mia Manager", Role.MANAGER)
    client.force_login(manager.user)
    other = receive(sms_channel, "+15552017742", "hi").message.conversation.patient
    other.first_name = "Dup"
    other.is_verified = True
    other.save(update_fields=["first_name", "is_verified"])
    visits.patient.first_name = "Keep"
    visits.patient.is_verified = True
    visits.patient.save(update_fields=["first_name", "is_verified"])
    page = client.get(f"/patients/{visits.patient_id}/merge", {"other": other.pk}).content.decode()
    keep = _between(page, "Keeps everything</h2>", "</article>")
    assert re.search(r"Upcoming appointments</dt><dd>2</dd>", keep)
