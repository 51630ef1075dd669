"""Clinical confidentiality and break-glass access."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.core import clock
from converge.practices.models import Role
from converge.privacy.guard import privacy_settings
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinical(practice, sms_channel):
    settings = privacy_settings(practice.pk)
    settings.clinical_confidentiality = True
    settings.save()
    message = receive(
        sms_channel, "+15552017788", "Since my surgery the incision is red and oozing, is that normal?"
    ).message
    admin = receive(sms_channel, "+15552017799", "Do you take Aetna?").message
    message.conversation.refresh_from_db()
    assert message.conversation.category == "clinical"
    return message.conversation, admin.conversation


def client_for(staff) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(staff.user)
    return client


def test_front_desk_cannot_read_clinical_conversations(practice, clinical):
    conversation, admin_conversation = clinical
    front = client_for(make_staff(practice, "Fran Desk", Role.FRONT_DESK))
    ids = [c["id"] for c in front.get("/api/v1/conversations").json()["items"]]
    assert ids == [admin_conversation.pk]
    assert front.get(f"/api/v1/conversations/{conversation.pk}").status_code == 403
    nurse = client_for(make_staff(practice, "Nina Nurse", Role.NURSE))
    assert nurse.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200


def test_break_glass_is_time_boxed_audited_and_announced(practice, clinical):
    conversation, _ = clinical
    front_staff = make_staff(practice, "Fran Desk", Role.FRONT_DESK)
    front = client_for(front_staff)
    url = f"/api/v1/patients/{conversation.patient_id}/break-glass"
    assert front.post(url, data=json.dumps({"reason": "short"}), content_type="application/json").status_code == 422
    response = front.post(
        url,
        data=json.dumps({"reason": "Patient on the phone, nurse unavailable", "minutes": 15}),
        content_type="application/json",
    )
    assert response.status_code == 201
    assert front.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    row = AuditEvent.objects.get(action="privacy.break_glass")
    assert row.patient_id == conversation.patient_id and "nurse unavailable" in row.detail["reason"]
    with clock.frozen(clock.now() + timedelta(minutes=16)):
        assert front.get(f"/api/v1/conversations/{conversation.pk}").status_code == 403
