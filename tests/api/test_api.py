from __future__ import annotations

import json

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.conversations.models import Message
from converge.patients.models import Patient
from tests.helpers import receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api_token):
    return Client(headers={"Authorization": f"Bearer {api_token}"})


@pytest.fixture
def conversation(sms_channel):
    return receive(sms_channel, "+15552017788", "Do you take Aetna?").message.conversation


def post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


def patch(client, url, payload):
    return client.patch(url, data=json.dumps(payload), content_type="application/json")


def test_requires_authentication(db):
    assert Client().get("/api/v1/conversations").status_code == 401
    assert Client(headers={"Authorization": "Bearer cvg_nope"}).get("/api/v1/conversations").status_code == 401


def test_openapi_is_published(db):
    spec = Client().get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "Converge API"
    assert "/api/v1/conversations/{conversation_id}/messages" in spec["paths"]


def test_list_read_and_reply(client, conversation, sms_channel):
    page = client.get("/api/v1/conversations").json()
    assert [item["id"] for item in page["items"]] == [conversation.pk]
    assert page["items"][0]["patient_name"].startswith("Unknown +1")
    detail = client.get(f"/api/v1/conversations/{conversation.pk}").json()
    assert detail["status"] == "open"
    messages = client.get(f"/api/v1/conversations/{conversation.pk}/messages").json()
    assert [m["body"] for m in messages] == ["Do you take Aetna?"]
    response = post(client, f"/api/v1/conversations/{conversation.pk}/messages", {"body": "Yes, we do."})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    assert response.json()["channel_id"] == sms_channel.pk
    newer = client.get(f"/api/v1/conversations/{conversation.pk}/messages?after_id={messages[0]['id']}").json()
    assert [m["body"] for m in newer] == ["Yes, we do."]


def test_reads_are_audited(client, conversation):
    client.get(f"/api/v1/conversations/{conversation.pk}")
    row = AuditEvent.objects.filter(action="conversation.read").get()
    assert row.actor_label.startswith("token:")
    assert row.patient_id == conversation.patient_id


def test_assign_and_status(client, conversation, staff, practice):
    nursing = practice.default_team.__class__.objects.get(practice=practice, slug="nursing")
    response = post(
        client, f"/api/v1/conversations/{conversation.pk}/assign", {"assignee_id": staff.pk, "team_id": nursing.pk}
    )
    assert response.status_code == 200, response.content
    assert (response.json()["assignee_id"], response.json()["team_id"]) == (staff.pk, nursing.pk)
    response = post(client, f"/api/v1/conversations/{conversation.pk}/status", {"status": "resolved"})
    assert response.json()["status"] == "resolved"
    assert client.get("/api/v1/conversations?view=resolved").json()["items"][0]["id"] == conversation.pk


@pytest.mark.parametrize(
    ("url", "payload", "fragment"),
    [
        ("/status", {"status": "bogus"}, "status: Input should be 'open', 'pending', 'snoozed' or 'resolved'"),
        ("/status", {"status": "snoozed"}, "snoozing needs a time"),
        ("/assign", {"assignee_id": 999999}, "assignee_id"),
        ("/messages", {"body": ""}, "body"),
        ("/messages", {"body": "hi", "channel_id": 999999}, "channel_id"),
    ],
)
def test_bad_input_is_4xx_with_a_clear_message(client, conversation, url, payload, fragment):
    response = post(client, f"/api/v1/conversations/{conversation.pk}{url}", payload)
    assert 400 <= response.status_code < 500
    assert fragment in response.json()["detail"]


def test_bad_query_parameters(client, conversation):
    assert "view" in client.get("/api/v1/conversations?view=nope").json()["detail"]
    assert client.get("/api/v1/conversations?cursor=%%%").status_code == 400
    assert client.get("/api/v1/conversations?limit=0").status_code == 422
    # Without an offset a time is not an RFC 3339 date-time, as the schema says: a 422.
    naive = client.get("/api/v1/conversations?updated_since=2026-01-01T00:00:00")
    assert naive.status_code == 422 and "updated_since" in naive.json()["detail"]


def test_cursor_pagination_and_sync(client, sms_channel):
    for n in range(5):
        receive(sms_channel, f"+1555201770{n}", f"message {n}")
    first = client.get("/api/v1/conversations?limit=2").json()
    second = client.get(f"/api/v1/conversations?limit=2&cursor={first['next_cursor']}").json()
    third = client.get(f"/api/v1/conversations?limit=2&cursor={second['next_cursor']}").json()
    ids = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert len(ids) == len(set(ids)) == 5
    everything = client.get("/api/v1/conversations").json()
    assert client.get("/api/v1/conversations", {"updated_since": everything["sync_cursor"]}).json()["items"] == []
    receive(sms_channel, "+15552017702", "again")
    changed = client.get("/api/v1/conversations", {"updated_since": everything["sync_cursor"]}).json()
    assert [c["patient_name"] for c in changed["items"]] == ["Unknown +1 555-201-7702"]


def test_patients_crud(client):
    response = post(
        client,
        "/api/v1/patients",
        {"first_name": "Ana", "last_name": "García", "date_of_birth": "1980-02-03", "language": "es"},
    )
    assert response.status_code == 201, response.content
    patient_id = response.json()["id"]
    response = post(client, f"/api/v1/patients/{patient_id}/contact-points", {"kind": "sms", "address": "555-201-7000"})
    assert response.status_code == 201
    contact_id = response.json()["id"]
    assert response.json()["address"] == "+15552017000"
    assert client.get("/api/v1/patients?q=garc").json()[0]["id"] == patient_id
    assert client.get("/api/v1/patients?q=5552017000").json()[0]["id"] == patient_id
    response = patch(client, f"/api/v1/patients/{patient_id}", {"preferred_channel": "sms"})
    assert response.json()["preferred_channel"] == "sms"
    response = patch(client, f"/api/v1/contact-points/{contact_id}", {"opted_out": True})
    assert response.json()["opted_out"] is True
    detail = client.get(f"/api/v1/patients/{patient_id}").json()
    assert detail["contact_points"][0]["opted_out"] is True


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"first_name": "A", "language": "fr"}, "language"),
        ({"first_name": "A", "date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"first_name": "A" * 300}, "first_name"),
        ({"first_name": "A", "date_of_birth": "yesterday"}, "date_of_birth"),
    ],
)
def test_patient_validation(client, payload, fragment):
    response = post(client, "/api/v1/patients", payload)
    assert 400 <= response.status_code < 500
    assert fragment in response.json()["detail"]
    assert Patient.objects.count() == 0


def test_contact_point_validation(client, practice):
    patient_id = post(client, "/api/v1/patients", {"first_name": "A"}).json()["id"]
    bad = post(client, f"/api/v1/patients/{patient_id}/contact-points", {"kind": "sms", "address": "call me"})
    assert bad.status_code == 400 and "address" in bad.json()["detail"]
    post(client, f"/api/v1/patients/{patient_id}/contact-points", {"kind": "email", "address": "a@b.example"})
    dup = post(client, f"/api/v1/patients/{patient_id}/contact-points", {"kind": "email", "address": "A@B.example"})
    assert dup.status_code == 400 and "already" in dup.json()["detail"]


def test_session_auth_needs_csrf(staff_client, conversation):
    assert staff_client.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    response = staff_client.post(
        f"/api/v1/conversations/{conversation.pk}/messages", data='{"body": "hi"}', content_type="application/json"
    )
    assert response.status_code == 403
    assert not Message.objects.filter(direction="out").exists()


# Found by tests/api/test_schemathesis.py: numbers past SQLite's integer range reached a query
# (OverflowError, a 500); a time without an offset was compared with one that has it (TypeError).
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/patients?offset=4241650462201527385513664951877632000",
        "/api/v1/conversations?team_id=44228543711875948544",
        "/api/v1/conversations?team_id=-391296650527555843786801152",
        "/api/v1/appointments?start=2026-03-01T00:00:00&end=2026-03-02T00:00:00%2B00:00",
    ],
)
def test_out_of_range_input_is_a_422_not_a_500(client, url):
    response = client.get(url)
    assert response.status_code == 422, response.content


def test_a_forged_cursor_is_a_400_not_a_500(client):
    import base64

    forged = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|99999999999999999999999").decode()
    assert client.get("/api/v1/conversations", {"cursor": forged}).status_code == 400


def test_times_at_the_edge_of_the_calendar_are_a_400(client):
    response = client.get("/api/v1/conversations", {"updated_since": "0001-01-01T00:00:00+14:00"})
    assert response.status_code == 400 and "updated_since" in response.json()["detail"]


def test_schema_lists_the_values_it_accepts_and_documents_refusals(db):
    from typing import get_args

    from converge.api import schemas
    from converge.conversations.models import ConversationStatus
    from converge.conversations.selectors import INBOX_VIEWS
    from converge.patients.models import Language, Patient
    from converge.routing.models import DEFAULT_RULES
    from converge.scheduling.models import AppointmentStatus

    assert get_args(schemas.InboxView) == INBOX_VIEWS
    assert list(get_args(schemas.ConversationStatusValue)) == ConversationStatus.values
    assert list(get_args(schemas.LanguageCode)) == Language.values
    assert list(get_args(schemas.RoutingCategory)) == list(DEFAULT_RULES)
    assert list(get_args(schemas.AppointmentStatusValue)) == AppointmentStatus.values
    channels = [value for value, _ in Patient._meta.get_field("preferred_channel").choices]
    assert list(get_args(schemas.PreferredChannel)) == ["", *channels]

    spec = Client().get("/api/v1/openapi.json").json()
    view = next(p for p in spec["paths"]["/api/v1/conversations"]["get"]["parameters"] if p["name"] == "view")
    assert view["schema"]["enum"] == list(INBOX_VIEWS)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"401", "422"} <= set(operation["responses"]), (method, path)
    invalid = spec["paths"]["/api/v1/patients"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert invalid["$ref"].endswith("/ValidationErrorOut")


def test_documented_enum_values_are_accepted(client, conversation):
    from converge.conversations.selectors import INBOX_VIEWS

    for view in INBOX_VIEWS:
        assert client.get(f"/api/v1/conversations?view={view}").status_code == 200, view
    assert client.get("/api/v1/conversations?view=bogus").status_code == 422


def test_request_bodies_are_not_coerced(client, conversation):
    patient_id = post(client, "/api/v1/patients", {"first_name": "A"}).json()["id"]
    contact = post(client, f"/api/v1/patients/{patient_id}/contact-points", {"kind": "sms", "address": "555-201-7001"})
    assert patch(client, f"/api/v1/contact-points/{contact.json()['id']}", {"consent": 0.0}).status_code == 422
    assert client.get("/api/v1/conversations?updated_since=347").status_code == 422
    assert post(client, f"/api/v1/conversations/{conversation.pk}/assign", {"team_id": "1"}).status_code == 422


def test_nul_in_text_is_a_422_not_a_500(client):
    # PostgreSQL cannot hold NUL in text: it was a DataError, a 500, there.
    response = post(client, "/api/v1/patients", {"first_name": "A\u0000"})
    assert response.status_code == 422 and "first_name" in response.json()["detail"]
    assert client.get("/api/v1/patients", {"q": "a\u0000"}).status_code == 422


def test_a_body_that_is_not_an_object_is_a_422(client):
    assert post(client, "/api/v1/patients", []).status_code == 422
    assert Patient.objects.count() == 0
