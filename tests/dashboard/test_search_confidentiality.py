"""Search obeys clinical confidentiality exactly as the conversation view does: a conversation
that answers 403 on /c/<id>/ does not show up (nor its text) in search results, unless the
reader holds a break-glass grant for the patient."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.practices.models import Role
from converge.privacy.access import break_glass
from converge.privacy.guard import privacy_settings
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

CLINICAL_TEXT = "my blood test results show the incision is red and oozing"


@pytest.fixture
def clinical(practice, sms_channel):
    settings = privacy_settings(practice.pk)
    settings.clinical_confidentiality = True
    settings.invite_to_portal_on_clinical = False
    settings.save()
    message = receive(sms_channel, "+15552017788", CLINICAL_TEXT).message
    office = receive(
        sms_channel, "+15552017799", "Do you take Aetna? I am still waiting for the results of my billing dispute"
    ).message
    message.conversation.refresh_from_db()
    assert message.conversation.category in ("clinical", "urgent", "refill")
    return message.conversation, office.conversation


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def test_front_desk_search_hides_clinical_conversations_it_cannot_open(practice, clinical):
    conversation, office = clinical
    front = signed_in(make_staff(practice, "Fran Desk", Role.FRONT_DESK))
    assert front.get(f"/c/{conversation.pk}/").status_code == 403
    page = front.get("/search", {"q": "results"}).content.decode()
    assert f"/c/{office.pk}/" in page
    assert f"/c/{conversation.pk}/" not in page
    assert "oozing" not in page and "incision" not in page


def test_nurse_search_finds_clinical_conversations(practice, clinical):
    conversation, _ = clinical
    nurse = signed_in(make_staff(practice, "Nina Nurse", Role.NURSE))
    page = nurse.get("/search", {"q": "results"}).content.decode()
    assert f"/c/{conversation.pk}/" in page and "oozing" in page


def test_break_glass_makes_the_patient_searchable_for_front_desk(practice, clinical):
    conversation, _ = clinical
    staff = make_staff(practice, "Fran Desk", Role.FRONT_DESK)
    break_glass(staff=staff, patient=conversation.patient, reason="Patient on the phone, nurse out")
    front = signed_in(staff)
    assert front.get(f"/c/{conversation.pk}/").status_code == 200
    page = front.get("/search", {"q": "results"}).content.decode()
    assert f"/c/{conversation.pk}/" in page and "oozing" in page


def test_without_confidentiality_front_desk_finds_everything(practice, clinical):
    conversation, _ = clinical
    settings = privacy_settings(practice.pk)
    settings.clinical_confidentiality = False
    settings.save()
    front = signed_in(make_staff(practice, "Fran Desk", Role.FRONT_DESK))
    page = front.get("/search", {"q": "results"}).content.decode()
    assert f"/c/{conversation.pk}/" in page
