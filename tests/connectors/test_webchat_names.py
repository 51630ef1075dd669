"""Web-chat visitors are shown by the name they typed into the pre-chat form, marked unverified
(issue 13 #8): in the inbox list, the thread header and the patient pane. The name is a claim:
it never becomes the patient's name, never verifies, never links or merges anyone."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client

from converge.connectors.models import Channel
from converge.connectors.webchat import (
    chat_config_portal_prefix,
    webchat_channel_create,
    webchat_message_receive,
    webchat_visitor_start,
)
from converge.patients.models import ContactPoint, Patient

pytestmark = pytest.mark.django_db

SITE = "https://www.sunrise-clinic.example"
HOSTILE = '<img src=x onerror=alert(1)> "Ana"'


@pytest.fixture
def widget(practice: Any) -> Channel:
    return webchat_channel_create(practice=practice, origins=[SITE], actor=None)


def chat(widget: Channel, name: str, text: str = "Do you take new patients?", client_id: str = "c1") -> Any:
    form = {"name": name, "phone": "(555) 201-7788", "email": "", "consent": True}
    visitor = webchat_visitor_start(channel=widget, form=form, ip="203.0.113.9").visitor
    return webchat_message_receive(visitor=visitor, text=text, client_id=client_id, ip="x")


def test_the_visitor_is_shown_by_the_name_they_gave_marked_unverified(widget):
    message = chat(widget, "Ana Torres")
    patient = Patient.objects.get(pk=message.patient_id)
    assert patient.display_name == "Ana Torres (web chat, unverified)"
    contact = ContactPoint.objects.get(pk=message.contact_point_id)
    assert contact.given_name == "Ana Torres" and not contact.is_verified
    # A claim, not an identity: the record stays nameless and unverified.
    assert (patient.first_name, patient.last_name, patient.is_verified) == ("", "", False)


def test_same_name_from_two_visitors_is_two_unlinked_senders(widget, practice):
    known = Patient.objects.create(practice=practice, first_name="Ana", last_name="Torres", is_verified=True)
    first = chat(widget, "Ana Torres", client_id="a")
    second = chat(widget, "Ana Torres", client_id="b")
    assert len({first.patient_id, second.patient_id, known.pk}) == 3
    assert first.conversation_id != second.conversation_id
    known.refresh_from_db()
    assert known.merged_into_id is None and not ContactPoint.objects.filter(patient=known).exists()


def test_a_visitor_without_a_given_name_is_still_an_unknown_web_visitor(widget, practice):
    patient = Patient.objects.create(practice=practice)
    ContactPoint.objects.create(practice=practice, patient=patient, kind="webchat", address="v0123")
    assert patient.display_name == "Unknown web visitor"


def test_a_linked_patients_own_name_wins(widget, practice):
    message = chat(widget, "Ana T.")
    patient = Patient.objects.get(pk=message.patient_id)
    Patient.objects.filter(pk=patient.pk).update(first_name="Ana", last_name="Torres", is_verified=True)
    patient.refresh_from_db()
    assert patient.display_name == "Ana Torres"


def test_the_name_is_escaped_in_list_header_and_patient_pane(widget, staff):
    message = chat(widget, HOSTILE)
    client = Client()
    client.force_login(staff.user)
    shown = html.escape(HOSTILE, quote=False) + " (web chat, unverified)"
    pages = {
        "list": client.get("/inbox/list?view=all").content.decode(),
        "header": client.get(f"/c/{message.conversation_id}/header").content.decode(),
        "patient": client.get(f"/c/{message.conversation_id}/patient").content.decode(),
        "page": client.get(f"/c/{message.conversation_id}/").content.decode(),
    }
    for where, page in pages.items():
        assert "<img src=x" not in page, where
        assert "&lt;img src=x onerror=alert(1)&gt;" in page, where
        assert "(web chat, unverified)" in page, where
    assert shown.replace('"', "&quot;") in pages["header"]


def test_the_widget_is_told_which_links_are_the_practices_portal(widget, settings):
    settings.PUBLIC_BASE_URL = "https://inbox.sunrise.example"
    assert chat_config_portal_prefix() == "https://inbox.sunrise.example/portal/"
    client = Client()
    response = client.post(
        f"/webchat/{widget.key}/config", data="{}", content_type="text/plain;charset=UTF-8", headers={"Origin": SITE}
    )
    assert response.json()["portal"] == "https://inbox.sunrise.example/portal/"
