"""The JSON API obeys clinical confidentiality as the pages do: a staff session that may not open a
clinical conversation gets a JSON 403 for it, and cannot recategorise its messages (which would
declassify the conversation)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from converge.practices.models import Role
from converge.privacy.guard import privacy_settings
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

CLINICAL_TEXT = "my blood test results show the incision is red and oozing"


@pytest.fixture
def clinical_message(practice, sms_channel):
    settings = privacy_settings(practice.pk)
    settings.clinical_confidentiality = True
    settings.invite_to_portal_on_clinical = False
    settings.save()
    message = receive(sms_channel, "+15552017788", CLINICAL_TEXT).message
    message.conversation.refresh_from_db()
    assert message.conversation.category in ("clinical", "urgent", "refill")
    return message


def front_desk(practice) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(make_staff(practice, "Fran Desk", role=Role.FRONT_DESK).user)
    return client


def test_reading_a_clinical_conversation_is_a_json_403(practice, clinical_message):
    response = front_desk(practice).get(f"/api/v1/conversations/{clinical_message.conversation_id}")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()
    assert CLINICAL_TEXT not in response.content.decode()


def test_recategorising_a_clinical_message_is_refused_and_changes_nothing(practice, clinical_message):
    before = clinical_message.conversation.category
    response = front_desk(practice).post(
        f"/api/v1/messages/{clinical_message.pk}/category",
        data=json.dumps({"category": "administrative"}),
        content_type="application/json",
    )
    assert response.status_code == 403, response.content
    clinical_message.conversation.refresh_from_db()
    assert clinical_message.conversation.category == before
