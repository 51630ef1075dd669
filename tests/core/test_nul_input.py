"""A NUL character in a form field or query is refused with a 400 that says so, before any view
runs: PostgreSQL cannot store NUL in text (it was a 500 there, found by tests/core/test_form_fuzz.py),
and SQLite would keep it, so the two databases agreed on nothing. Webhooks are not refused: a
patient's message is never lost for a stray byte (the inbound queue drops NULs)."""

from __future__ import annotations

import json

import pytest

from converge.conversations.models import Message
from converge.patients.models import Patient
from converge.providers.simulator.connector import SIGNATURE_HEADER, sign
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db


def test_a_nul_in_a_form_field_is_a_400_and_nothing_is_stored(staff_client):
    before = Patient.objects.count()
    response = staff_client.post("/patients/", {"first_name": "An\x00a", "last_name": "Ruiz"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    assert Patient.objects.count() == before


def test_a_nul_in_a_query_is_a_400(staff_client):
    response = staff_client.get("/search", {"q": "refill\x00"})
    assert response.status_code == 400


def test_a_nul_in_a_signed_webhook_is_not_refused(client, sms_channel):
    body = json.dumps({"from": "+15552017788", "text": "hello\x00 there", "id": "nul-1"}).encode()
    response = client.post(
        f"/webhooks/simulator/{sms_channel.key}",
        data=body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(sms_channel.credentials()["webhook_secret"], body)},
    )
    assert response.status_code == 200
    assert run_inbound() == 1
    assert Message.objects.filter(provider_message_id="nul-1").exists()
