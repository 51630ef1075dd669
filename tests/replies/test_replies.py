"""Canned responses: writes, the language variant choice, safe variable filling, the settings
page and the composer endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.http import Http404
from django.test import Client

from converge.audit.models import AuditEvent
from converge.core import clock
from converge.patients.models import Patient
from converge.practices.models import Role
from converge.replies.models import CannedResponse
from converge.replies.rendering import format_when, render_for_conversation
from converge.replies.selectors import canned_response_for, canned_response_list
from converge.replies.services import ReplyError, canned_response_create, canned_response_delete, canned_response_update
from converge.scheduling.models import Appointment, Provider
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(practice):
    """Changing canned responses needs MANAGE_TEMPLATES (test_replies_permissions covers the rest)."""
    return make_staff(practice, "Maria Lopez", Role.NURSE, team_slugs=("nursing",))


@pytest.fixture
def conversation(sms_channel):
    received = receive(sms_channel, "+15552017788", "When is my visit?")
    Patient.objects.filter(pk=received.message.patient_id).update(first_name="Ana", last_name="Reyes")
    received.message.conversation.patient.refresh_from_db()
    return received.message.conversation


@pytest.fixture
def client(staff):
    client = Client()
    client.force_login(staff.user)
    return client


def make(practice, shortcut="hours", body="We are open 8-5.", language="en", title="Hours"):
    return canned_response_create(
        practice_id=practice.pk, actor=None, shortcut=shortcut, title=title, body=body, language=language
    )


def test_create_validates_and_is_unique_per_language(practice):
    response = make(practice, shortcut="/Hours")
    assert response.shortcut == "hours"
    make(practice, language="es", body="Abrimos de 8 a 5.")
    with pytest.raises(ReplyError, match="already exists"):
        make(practice)
    for bad in ("", "has space", "x" * 31, "ÄÖ"):
        with pytest.raises(ReplyError, match="shortcut"):
            make(practice, shortcut=bad)
    with pytest.raises(ReplyError, match="body"):
        make(practice, shortcut="empty", body="  ")
    with pytest.raises(ReplyError, match="language"):
        make(practice, shortcut="fr", language="fr")
    assert AuditEvent.objects.filter(action="canned_response.create").count() == 2


def test_update_and_delete(practice, staff):
    response = make(practice)
    canned_response_update(response=response, actor=staff, shortcut="open", title="Open", body="8-5", language="en")
    response.refresh_from_db()
    assert (response.shortcut, response.body) == ("open", "8-5")
    canned_response_delete(response=response, actor=staff)
    assert not CannedResponse.objects.exists()


def test_patient_language_variant_is_chosen(practice):
    make(practice, body="english")
    make(practice, body="español", language="es")
    make(practice, shortcut="only-es", body="solo", language="es")
    assert canned_response_for(practice_id=practice.pk, shortcut="hours", language="es").body == "español"
    assert canned_response_for(practice_id=practice.pk, shortcut="hours", language="en").body == "english"
    assert canned_response_for(practice_id=practice.pk, shortcut="only-es", language="en").body == "solo"
    with pytest.raises(Http404):
        canned_response_for(practice_id=practice.pk, shortcut="nope", language="en")


def test_practices_do_not_share_responses(practice, other_practice):
    make(other_practice)
    assert canned_response_list(practice_id=practice.pk) == []
    with pytest.raises(Http404):
        canned_response_for(practice_id=practice.pk, shortcut="hours", language="en")


def test_variables_are_filled_from_a_whitelist(conversation, staff, practice):
    provider = Provider.objects.create(practice=practice, display_name="Dr. Patel")
    start = datetime(2026, 12, 1, 19, 30, tzinfo=UTC)  # 2:30 PM in New York
    with clock.frozen(datetime(2026, 11, 20, 12, 0, tzinfo=UTC)):
        Appointment.objects.create(
            practice=practice,
            patient=conversation.patient,
            provider=provider,
            start=start,
            end=start + timedelta(minutes=20),
            blocked_until=start + timedelta(minutes=20),
        )
        text = (
            "Hi {{patient.first_name}} {{ patient.last_name }}, this is {{staff.first_name}} at {{practice.name}}. "
            "See you {{appointment.start}}. {{patient.date_of_birth}} {% debug %} {{ practice.name|upper }}"
        )
        rendered = render_for_conversation(text=text, conversation=conversation, staff=staff, language="en")
    assert rendered.text == (
        "Hi Ana Reyes, this is Maria at Sunrise Family Clinic. See you Tuesday, December 1 at 2:30 PM. "
        "{{patient.date_of_birth}} {% debug %} {{ practice.name|upper }}"
    )
    assert rendered.missing == []


def test_values_are_not_expanded_again(conversation, staff):
    Patient.objects.filter(pk=conversation.patient_id).update(first_name="{{practice.name}}")
    conversation.patient.refresh_from_db()
    rendered = render_for_conversation(
        text="Hi {{patient.first_name}}", conversation=conversation, staff=staff, language="en"
    )
    assert rendered.text == "Hi {{practice.name}}"


def test_missing_values_stay_visible_and_are_reported(conversation, staff):
    rendered = render_for_conversation(
        text="Your visit: {{appointment.start}}", conversation=conversation, staff=staff, language="en"
    )
    assert rendered.text == "Your visit: {{appointment.start}}"
    assert rendered.missing == ["appointment.start"]


def test_appointment_time_in_spanish_and_across_dst():
    # 2026-03-08: clocks go forward in New York. 15:00 UTC is 11:00 EDT (it was 10:00 EST a day earlier).
    assert (
        format_when(datetime(2026, 3, 8, 15, 0, tzinfo=UTC), "America/New_York", "en") == "Sunday, March 8 at 11:00 AM"
    )
    assert (
        format_when(datetime(2026, 3, 7, 15, 0, tzinfo=UTC), "America/New_York", "en")
        == "Saturday, March 7 at 10:00 AM"
    )
    assert (
        format_when(datetime(2026, 3, 9, 18, 5, tzinfo=UTC), "America/New_York", "es") == "lunes 9 de marzo a las 14:05"
    )


def test_settings_page_creates_edits_and_deletes(client, practice):
    page = client.get("/settings/replies/")
    assert page.status_code == 200 and "No canned responses yet" in page.content.decode()
    created = client.post(
        "/settings/replies/", {"shortcut": "hours", "title": "Hours", "body": "Open 8-5", "language": "en"}
    )
    assert created.status_code == 302
    response = CannedResponse.objects.get()
    assert "/hours" in client.get("/settings/replies/").content.decode()
    bad = client.post("/settings/replies/", {"shortcut": "hours", "title": "Hours", "body": "again", "language": "en"})
    assert bad.status_code == 400 and "already exists" in bad.content.decode()
    client.post(
        f"/settings/replies/{response.pk}/",
        {"shortcut": "hours", "title": "Hours", "body": "Open 9-5", "language": "en"},
    )
    response.refresh_from_db()
    assert response.body == "Open 9-5"
    client.post(f"/settings/replies/{response.pk}/delete")
    assert not CannedResponse.objects.exists()


def test_settings_page_escapes_and_isolates(client, practice, other_practice):
    make(practice, body="<script>alert(1)</script>")
    theirs = make(other_practice, shortcut="secret", body="other practice text")
    page = client.get("/settings/replies/").content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert "other practice text" not in page
    assert client.get(f"/settings/replies/{theirs.pk}/").status_code == 404
    assert client.post(f"/settings/replies/{theirs.pk}/delete").status_code == 404


def test_composer_suggest_and_render(client, practice, conversation):
    make(practice, body="Hi {{patient.first_name}}, we are open 8-5.")
    make(practice, body="Hola {{patient.first_name}}, abrimos de 8 a 5.", language="es")
    make(practice, shortcut="refill", title="Refill policy", body="Refills take 48 hours.")
    items = client.get("/replies/suggest?q=ho").json()["items"]
    assert items == [{"shortcut": "hours", "title": "Hours", "languages": ["en", "es"]}]
    assert len(client.get("/replies/suggest?q=").json()["items"]) == 2
    rendered = client.get(f"/c/{conversation.pk}/replies/render?shortcut=hours").json()
    assert rendered["text"] == "Hi Ana, we are open 8-5." and rendered["language"] == "en"
    Patient.objects.filter(pk=conversation.patient_id).update(language="es")
    rendered = client.get(f"/c/{conversation.pk}/replies/render?shortcut=/hours").json()
    assert rendered["text"] == "Hola Ana, abrimos de 8 a 5." and rendered["language"] == "es"
    assert client.get(f"/c/{conversation.pk}/replies/render?shortcut=nope").status_code == 404


def test_render_is_scoped_to_the_practice(conversation, other_practice):
    intruder = make_staff(other_practice, "Eve", Role.NURSE)
    make(other_practice)
    other = Client()
    other.force_login(intruder.user)
    assert other.get(f"/c/{conversation.pk}/replies/render?shortcut=hours").status_code == 404
