"""Tenant isolation, walked over EVERY URL pattern: a signed-in staff member of practice A
points each route at practice B's objects (GET and POST) and must be refused, and nothing of
B's may appear in any page A can reach. New routes are covered automatically: a route whose
parameter this walk cannot map fails the test until it is taught here."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import get_resolver

from converge.accounts.models import StaffInvitation
from converge.conversations.models import Conversation, Message, Note
from converge.core import clock
from converge.practices.models import Role
from converge.scheduling.models import Appointment, AppointmentType, Provider
from tests.core.urlwalk import walk
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

SECRET_BODY = "VICTIM-SECRET-7731"
SECRET_NAME = "Zebedee"

# Routes that are public by design (no practice data) or take a secret instead of an id.
PUBLIC = {
    "healthz",
    "readyz",
    "login/",
    "logout/",
    "login/verify",
    "account/mfa/",
    "widget.js",
    "portal/",
    "portal/reply",
    "portal/sign-out",
    "api/v1/",
    "bench/three-writes/<str:key>",
}
SECRET_PARAMS = {"key", "token"}  # channel webhook keys and portal tokens: unguessable secrets


@pytest.fixture
def victim(other_practice):
    from converge.connectors.services import simulator_channel_create
    from converge.patients.models import Patient

    channel = simulator_channel_create(practice=other_practice, kind="sms")
    message = receive(channel, "+15559990000", SECRET_BODY).message
    Patient.objects.filter(pk=message.patient_id).update(first_name=SECRET_NAME, last_name="Victim", is_verified=True)
    bob = make_staff(other_practice, "Bob Other", Role.MANAGER)
    note = Note.objects.create(
        practice=other_practice, conversation=message.conversation, author=bob, body=SECRET_BODY, created_at=clock.now()
    )
    provider = Provider.objects.create(practice=other_practice, display_name="Dr. Other")
    kind = AppointmentType.objects.create(practice=other_practice, name="Visit")
    start = clock.now() + timedelta(days=3)
    appointment = Appointment.objects.create(
        practice=other_practice,
        patient_id=message.patient_id,
        provider=provider,
        appointment_type=kind,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_until=start + timedelta(minutes=20),
    )
    ids = {
        "conversation_id": message.conversation_id,
        "patient_id": message.patient_id,
        "message_id": message.pk,
        "contact_id": message.contact_point_id,
        "appointment_id": appointment.pk,
        "provider_id": provider.pk,
        "note_id": note.pk,
        "staff_id": bob.pk,
        "channel_id": channel.pk,
        "team_id": other_practice.default_team_id,
        "invitation_id": StaffInvitation.objects.create(
            practice=other_practice,
            email="victim.invite@harbor.example",
            display_name=SECRET_NAME,
            role=Role.FRONT_DESK,
            token_hash="1" * 64,
            created_at=start,
            expires_at=start + timedelta(hours=72),
        ).pk,
    }
    # Objects of apps that add their own routes: map their id parameters here.
    from converge.replies.models import CannedResponse

    now = clock.now()
    response = CannedResponse.objects.create(
        practice=other_practice, shortcut="secret", title="t", body=SECRET_BODY, created_at=now, updated_at=now
    )
    ids["response_id"] = response.pk
    from converge.scheduling.models import FollowUpItem, WaitlistEntry

    ids["entry_id"] = WaitlistEntry.objects.create(
        practice=other_practice, patient_id=message.patient_id, created_at=now
    ).pk
    ids["item_id"] = FollowUpItem.objects.create(
        practice=other_practice, patient_id=message.patient_id, kind="no_show", created_at=now
    ).pk
    from datetime import time as wall

    from converge.practices.models import OnCallShift

    ids["shift_id"] = OnCallShift.objects.create(
        practice=other_practice, staff=bob, weekdays=[0, 1, 2, 3, 4], start_time=wall(18), end_time=wall(8)
    ).pk
    from converge.connectors.models import Channel as ChannelModel
    from converge.connectors.models import Provider as ChannelProvider
    from converge.connectors.models import QuarantinedMail

    mailbox = ChannelModel.objects.create(
        practice=other_practice,
        kind="email",
        provider=ChannelProvider.MAILBOX,
        name="Mail",
        display_address="x@o.example",
    )
    ids["quarantine_id"] = QuarantinedMail.objects.create(
        practice=other_practice,
        channel=mailbox,
        uid=1,
        reason=SECRET_BODY,
        raw_sha256="0" * 64,
        raw_size=1,
        storage_path="quarantine/0/none.eml",
        created_at=now,
    ).pk
    from converge.connectors.channel_setup import whatsapp_channel_create
    from converge.connectors.whatsapp_templates import whatsapp_template_save

    whatsapp = whatsapp_channel_create(
        practice=other_practice, phone_number_id="99887766554433", access_token="t", app_secret="s", verify_token="v"
    )
    ids["template_id"] = whatsapp_template_save(
        channel=whatsapp, name="secret_template", language="en_US", body=SECRET_BODY, actor=None
    ).pk
    from converge.conversations.models import Attachment

    ids["attachment_id"] = Attachment.objects.create(
        practice=other_practice,
        message=message,
        filename=f"{SECRET_NAME}.pdf",
        content_type="application/pdf",
        state=Attachment.State.STORED,
        storage_path="never-read.enc",
    ).pk
    from converge.teamchat import services as team

    team.team_channels_ensure(practice_id=other_practice.pk)
    channel = team.channel_create(actor=bob, name=SECRET_NAME, member_ids=[])
    topic, team_message = team.topic_start(actor=bob, channel=channel, title=SECRET_NAME, body=SECRET_BODY)
    carol = make_staff(other_practice, "Carol Other", Role.NURSE)
    thread = team.direct_open(actor=bob, member_ids=[carol.pk])
    team.message_post(actor=bob, thread=thread, body=SECRET_BODY)
    ids.update(team_channel_id=channel.pk, topic_id=topic.pk, thread_id=thread.pk, team_message_id=team_message.pk)
    return ids


def test_every_route_refuses_another_practices_objects(practice, victim, sms_channel):
    attacker = make_staff(practice, "Eve Admin", Role.ADMIN)
    client = Client()
    client.force_login(attacker.user)
    receive(sms_channel, "+15552017788", "mine").message
    walked_objects, walked_lists, unmapped = 0, 0, []
    for route, _pattern in walk(get_resolver().url_patterns):
        route = route.lstrip("^").rstrip("$")
        if route.startswith(("static/", "api/v1/")) or route in PUBLIC:
            continue
        params = re.findall(r"<(?:\w+:)?(\w+)>", route)
        if set(params) & SECRET_PARAMS:
            continue
        missing = [p for p in params if p not in victim]
        if missing:
            unmapped.append((route, missing))
            continue
        url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(victim[m.group(1)]), route)
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"body": "x", "status": "resolved", "reason": "looking around 123"})
            body = response.content.decode(errors="replace") if not response.streaming else ""
            assert SECRET_BODY not in body and SECRET_NAME not in body, (method, url)
            if params:
                assert response.status_code in (302, 400, 403, 404, 405), (method, url, response.status_code)
                if response.status_code == 302:
                    assert response.url.startswith("/login") or str(victim[params[0]]) not in response.url, (
                        method,
                        url,
                    )
        if params:
            walked_objects += 1
        else:
            walked_lists += 1
    assert not unmapped, f"teach the isolation walk these route parameters: {unmapped}"
    victim_conversation = Conversation.objects.get(pk=victim["conversation_id"])
    assert victim_conversation.status == "open"
    assert not Message.objects.filter(conversation=victim_conversation, direction="out", sender__isnull=False).exists()
    assert walked_objects >= 10 and walked_lists >= 5
    print(f"isolation walk: {walked_objects} object routes and {walked_lists} list routes")
