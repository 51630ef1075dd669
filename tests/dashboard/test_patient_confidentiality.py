"""The patient pane ("Earlier conversations") and the patient page obey clinical confidentiality
as the conversation view does (issue 12): a reader who gets 403 on a clinical conversation sees
only that one exists and when ("Clinical conversation — restricted"), not its category, size,
status or a link; a clinical role, a break-glass grant or confidentiality off shows it all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from converge.conversations.models import Conversation, Message
from converge.core import clock
from converge.practices.models import Role
from converge.privacy.access import break_glass
from converge.privacy.guard import privacy_settings
from tests.dashboard.conftest import HTMX
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

RESTRICTED = "Clinical conversation — restricted"


@pytest.fixture
def confidential(practice):
    settings = privacy_settings(practice.pk)
    settings.clinical_confidentiality = True
    settings.invite_to_portal_on_clinical = False
    settings.save()
    return settings


@pytest.fixture
def two_conversations(practice, sms_channel, confidential):
    """An open office conversation and, earlier, a resolved refill conversation of 3 messages."""
    office = receive(sms_channel, "+15552017788", "Do you take Aetna?").message.conversation
    patient = office.patient
    earlier = clock.now() - timedelta(days=40)
    clinical = Conversation.objects.create(
        practice=practice,
        patient=patient,
        status="resolved",
        category="refill",
        last_message_at=earlier,
        created_at=earlier,
        updated_at=earlier,
        resolved_at=earlier,
    )
    for n in range(3):
        Message.objects.create(
            practice=practice,
            conversation=clinical,
            patient=patient,
            channel=sms_channel,
            direction="in",
            body=f"lisinopril refill {n}",
            status="received",
            created_at=earlier,
        )
    return office, clinical


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def _pane(client: Client, office: Conversation) -> str:
    response = client.get(f"/c/{office.pk}/patient", headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def _patient_page(client: Client, office: Conversation) -> str:
    response = client.get(f"/patients/{office.patient_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_front_desk_pane_shows_a_restricted_line_without_category_count_or_link(practice, two_conversations):
    office, clinical = two_conversations
    front = signed_in(make_staff(practice, "Fran Desk", Role.FRONT_DESK))
    assert front.get(f"/c/{clinical.pk}/").status_code == 403
    pane = _pane(front, office)
    assert RESTRICTED in pane and clinical.created_at.strftime("%b") in pane
    assert f"/c/{clinical.pk}/" not in pane
    assert "refill" not in pane.lower() and "lisinopril" not in pane
    assert "3 messages" not in pane and "Resolved" not in pane


def test_front_desk_patient_page_shows_a_restricted_line(practice, two_conversations):
    office, clinical = two_conversations
    front = signed_in(make_staff(practice, "Fran Desk", Role.FRONT_DESK))
    page = _patient_page(front, office)
    assert RESTRICTED in page
    assert f'href="/c/{office.pk}/"' in page  # the office conversation is listed as before
    assert f"/c/{clinical.pk}/" not in page
    assert "refill" not in page.lower() and "3 messages" not in page


@pytest.mark.parametrize("role", [Role.NURSE, Role.PROVIDER, Role.MANAGER])
def test_clinical_roles_see_the_clinical_conversation(practice, two_conversations, role):
    office, clinical = two_conversations
    reader = signed_in(make_staff(practice, "Nina Clinical", role))
    pane = _pane(reader, office)
    assert f'href="/c/{clinical.pk}/"' in pane and "refill" in pane and "3 messages" in pane
    assert RESTRICTED not in pane
    page = _patient_page(reader, office)
    assert f'href="/c/{clinical.pk}/"' in page and RESTRICTED not in page


def test_break_glass_shows_the_clinical_conversation_to_front_desk(practice, two_conversations):
    office, clinical = two_conversations
    staff = make_staff(practice, "Fran Desk", Role.FRONT_DESK)
    break_glass(staff=staff, patient=office.patient, reason="Patient on the phone, nurse out")
    front = signed_in(staff)
    assert front.get(f"/c/{clinical.pk}/").status_code == 200
    pane = _pane(front, office)
    assert f'href="/c/{clinical.pk}/"' in pane and RESTRICTED not in pane
    assert f'href="/c/{clinical.pk}/"' in _patient_page(front, office)


def test_expired_break_glass_restricts_again(practice, two_conversations):
    office, clinical = two_conversations
    staff = make_staff(practice, "Fran Desk", Role.FRONT_DESK)
    grant = break_glass(staff=staff, patient=office.patient, reason="Patient on the phone, nurse out")
    grant.expires_at = clock.now() - timedelta(minutes=1)
    grant.save(update_fields=["expires_at"])
    pane = _pane(signed_in(staff), office)
    assert RESTRICTED in pane and f"/c/{clinical.pk}/" not in pane


def test_without_confidentiality_front_desk_sees_everything(practice, two_conversations, confidential):
    office, clinical = two_conversations
    confidential.clinical_confidentiality = False
    confidential.save()
    front = signed_in(make_staff(practice, "Fran Desk", Role.FRONT_DESK))
    pane = _pane(front, office)
    assert f'href="/c/{clinical.pk}/"' in pane and "refill" in pane and RESTRICTED not in pane
