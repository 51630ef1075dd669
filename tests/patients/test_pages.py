"""Creating and editing patients and their contact points from the staff pages."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.patients.models import ContactPoint, Patient
from tests.helpers import receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(staff):
    client = Client()
    client.force_login(staff.user)
    return client


def test_create_patient_with_first_contact(client, practice):
    response = client.post(
        "/patients/",
        {
            "first_name": "Ana",
            "last_name": "Reyes",
            "date_of_birth": "1984-03-02",
            "language": "es",
            "preferred_channel": "sms",
            "kind": "sms",
            "address": "(555) 201-7788",
            "consent": "on",
        },
    )
    patient = Patient.objects.get(first_name="Ana")
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/"
    assert patient.is_verified and patient.language == "es" and str(patient.date_of_birth) == "1984-03-02"
    contact = ContactPoint.objects.get(patient=patient)
    assert contact.address == "+15552017788" and contact.consent_at is not None
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Ana Reyes" in page and "+1 555-201-7788" in page
    assert AuditEvent.objects.filter(action="patient.read", patient_id=patient.pk).exists()


def test_create_patient_errors_are_shown(client):
    for data, problem in (
        ({"first_name": "", "last_name": ""}, "name"),
        ({"first_name": "A", "date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"first_name": "A", "date_of_birth": "not a date"}, "date_of_birth"),
        ({"first_name": "A", "address": "not a phone", "kind": "sms"}, "address"),
    ):
        response = client.post("/patients/", {"language": "en", **data})
        assert response.status_code in (302, 400)
        if response.status_code == 400:
            assert problem in response.content.decode()
    assert not Patient.objects.filter(first_name="", last_name="").exists()


def test_edit_patient_and_contacts(client, staff, sms_channel):
    received = receive(sms_channel, "+15552017799", "hi")
    patient = received.message.patient
    client.post(f"/patients/{patient.pk}/", {"first_name": "Bo", "last_name": "Li", "language": "en"})
    patient.refresh_from_db()
    assert patient.full_name == "Bo Li" and patient.is_verified
    client.post(f"/patients/{patient.pk}/contacts", {"kind": "email", "address": "Bo@Example.com", "consent": "on"})
    email = ContactPoint.objects.get(patient=patient, kind="email")
    assert email.address == "bo@example.com"
    sms = ContactPoint.objects.get(patient=patient, kind="sms")
    client.post(f"/contacts/{sms.pk}", {"opted_out": "1"})
    sms.refresh_from_db()
    assert sms.opted_out_at is not None
    client.post(f"/contacts/{sms.pk}", {"opted_out": "0", "back": f"/c/{received.message.conversation_id}/"})
    sms.refresh_from_db()
    assert sms.opted_out_at is None
    duplicate = client.post(
        f"/patients/{patient.pk}/contacts", {"kind": "email", "address": "bo@example.com"}, follow=True
    )
    assert "already belongs" in duplicate.content.decode()
    assert (
        client.post(f"/patients/{patient.pk}/contacts", {"kind": "portal", "address": "x"}, follow=True).status_code
        == 200
    )


def test_patient_list_search_and_unknown_senders(client, staff, sms_channel):
    receive(sms_channel, "+15552017711", "who am I")
    Patient.objects.create(practice=staff.practice, first_name="Carla", last_name="Mendez", is_verified=True)
    page = client.get("/patients/").content.decode()
    assert "Unknown senders to link" in page and "Unknown +1 555-201-7711" in page and "Carla Mendez" in page
    found = client.get("/patients/?q=carla").content.decode()
    assert "Carla Mendez" in found and "1 match" in found
    assert AuditEvent.objects.filter(action="search").exists()


def test_other_practice_patients_are_invisible(client, other_practice):
    theirs = Patient.objects.create(practice=other_practice, first_name="Zed", last_name="Other", is_verified=True)
    assert client.get(f"/patients/{theirs.pk}/").status_code == 404
    assert "Zed" not in client.get("/patients/?q=Zed").content.decode().replace('value="Zed"', "")
    assert client.post(f"/patients/{theirs.pk}/", {"first_name": "Hacked", "language": "en"}).status_code == 404
