"""Every API endpoint, called by practice A with practice B's object ids, must refuse (404 for
path ids, 4xx for body ids) and leave B's data untouched and unread."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client

from converge.api.v1 import api
from converge.audit.models import AuditEvent
from converge.connectors.services import simulator_channel_create
from converge.conversations.models import Conversation, Message
from converge.practices.models import Team
from converge.practices.services import api_token_create
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def victim(other_practice):
    channel = simulator_channel_create(practice=other_practice, kind="sms")
    message = receive(channel, "+15559990000", "private").message
    staff = make_staff(other_practice, "Bob Other")
    from converge.scheduling.models import Appointment, AppointmentType, Provider

    provider = Provider.objects.create(practice=other_practice, display_name="Dr. Other")
    kind = AppointmentType.objects.create(practice=other_practice, name="Visit")
    start = message.created_at.replace(microsecond=0)
    appointment = Appointment.objects.create(
        practice=other_practice,
        patient_id=message.patient_id,
        provider=provider,
        appointment_type=kind,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_until=start + timedelta(minutes=20),
    )
    return {
        "message_id": message.pk,
        "appointment_id": appointment.pk,
        "provider_id": provider.pk,
        "appointment_type_id": kind.pk,
        "conversation_id": message.conversation_id,
        "patient_id": message.patient_id,
        "contact_id": message.contact_point_id,
        "staff_id": staff.pk,
        "team_id": Team.objects.filter(practice=other_practice).first().pk,
        "channel_id": channel.pk,
    }


PATH_PARAM_TO_OBJECT = {
    "conversation_id": "conversation_id",
    "patient_id": "patient_id",
    "contact_id": "contact_id",
    "appointment_id": "appointment_id",
    "message_id": "message_id",
}


def all_operations():
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    yield method, (prefix.rstrip("/") + "/" + path.lstrip("/"))


def test_every_endpoint_refuses_another_practices_objects(practice, sms_channel, victim):
    _token, secret = api_token_create(practice=practice, name="attacker")
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    own = receive(sms_channel, "+15552017788", "mine").message
    walked = 0
    for method, path in all_operations():
        params = re.findall(r"{(\w+)}", path)
        if not params or not set(params) <= set(PATH_PARAM_TO_OBJECT):
            continue  # no object of another practice to point at (e.g. /routing/rules/{category})
        url = "/api/v1/" + path.lstrip("/")
        for name in params:
            url = url.replace("{" + name + "}", str(victim[PATH_PARAM_TO_OBJECT[name]]))
        body = json.dumps(
            {
                "body": "x",
                # Valid for the path, so the answer is about whose object it is (a 404), not a 422.
                "status": "cancelled" if "/appointments/" in path else "resolved",
                "assignee_id": None,
                "first_name": "X",
                "kind": "sms",
                "address": "+15551112222",
                "opted_out": True,
                "category": "clinical",
                "reason": "just looking around here",
            }
        )
        if method == "GET":
            response = client.get(url)
        else:
            response = getattr(client, method.lower())(url, data=body, content_type="application/json")
        assert response.status_code == 404, (method, url, response.status_code, response.content)
        walked += 1
    # Body ids that point into the other practice are refused too.
    for payload in ({"assignee_id": victim["staff_id"]}, {"team_id": victim["team_id"]}):
        response = client.post(
            f"/api/v1/conversations/{own.conversation_id}/assign",
            data=json.dumps(payload),
            content_type="application/json",
        )
        assert response.status_code == 400, payload
    for url, payload in (
        (
            "/api/v1/appointments",
            {
                "patient_id": victim["patient_id"],
                "provider_id": 1,
                "appointment_type_id": 1,
                "start": "2030-01-01T10:00:00Z",
            },
        ),
        ("/api/v1/waitlist", {"patient_id": victim["patient_id"]}),
    ):
        response = client.post(url, data=json.dumps(payload), content_type="application/json")
        assert response.status_code == 400, (url, response.content)
    since = "start=2020-01-01T00:00:00Z&end=2020-02-01T00:00:00Z"
    assert (
        client.get(f"/api/v1/availability?appointment_type_id={victim['appointment_type_id']}&{since}").status_code
        == 400
    )
    assert client.get(f"/api/v1/appointments?provider_id={victim['provider_id']}&{since}").json() == []
    response = client.post(
        f"/api/v1/conversations/{own.conversation_id}/messages",
        data=json.dumps({"body": "x", "channel_id": victim["channel_id"]}),
        content_type="application/json",
    )
    assert response.status_code == 400
    # Lists never show the other practice's rows.
    assert [c["id"] for c in client.get("/api/v1/conversations").json()["items"]] == [own.conversation_id]
    assert victim["patient_id"] not in [p["id"] for p in client.get("/api/v1/patients").json()]
    # Nothing of the victim's was read or changed.
    victim_conversation = Conversation.objects.get(pk=victim["conversation_id"])
    assert victim_conversation.status == "open" and victim_conversation.assignee_id is None
    assert not Message.objects.filter(conversation=victim_conversation, direction="out").exists()
    assert not AuditEvent.objects.filter(patient_id=victim["patient_id"], action__endswith=".read").exists()
    assert walked >= 9
