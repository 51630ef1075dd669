"""The PHI guard on outgoing messages and the secure portal round trip."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.connectors.simulate import simulator_outbox
from converge.conversations.models import Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import PhiReviewNeeded, message_queue
from converge.core import clock
from converge.privacy.guard import privacy_settings
from converge.privacy.models import PhiPolicy, PortalLink
from tests.helpers import receive

pytestmark = pytest.mark.django_db

CLINICAL = "Your A1c came back at 7.2%, please keep taking metformin 500 mg twice daily."


@pytest.fixture
def conversation(sms_channel):
    message = receive(sms_channel, "+15552017788", "hello").message
    patient = message.patient
    patient.first_name, patient.last_name, patient.date_of_birth = "Ana", "Diaz", date(1980, 2, 3)
    patient.save()
    return message.conversation


def drain():
    while outbox_dispatch_batch():
        pass


def set_policy(practice, policy):
    settings = privacy_settings(practice.pk)
    settings.standard_channel_policy = policy
    settings.save()


def test_routine_text_goes_out_unchanged(conversation, sms_channel, staff):
    message = message_queue(conversation=conversation, channel=sms_channel, body="We open at 8 tomorrow.", sender=staff)
    assert message.channel_id == sms_channel.pk


def test_convert_policy_sends_only_a_neutral_notice(conversation, sms_channel, staff):
    secure = message_queue(conversation=conversation, channel=sms_channel, body=CLINICAL, sender=staff)
    assert secure.channel.kind == "portal" and secure.body == CLINICAL
    drain()
    sent = simulator_outbox(sms_channel.key)
    assert len(sent) == 1
    assert "metformin" not in sent[0]["body"] and "A1c" not in sent[0]["body"]
    assert "You have a new secure message from Sunrise Family Clinic" in sent[0]["body"]
    assert re.search(r"/portal/t/[\w-]+", sent[0]["body"])
    assert AuditEvent.objects.filter(action="phi.converted_to_portal").exists()


@pytest.mark.parametrize("policy", [PhiPolicy.WARN, PhiPolicy.BLOCK])
def test_warn_and_block_need_a_reason(conversation, sms_channel, staff, policy):
    set_policy(conversation.practice, policy)
    with pytest.raises(PhiReviewNeeded) as caught:
        message_queue(conversation=conversation, channel=sms_channel, body=CLINICAL, sender=staff)
    assert "metformin" in caught.value.summary
    assert not Message.objects.filter(direction="out").exists()
    sent = message_queue(
        conversation=conversation,
        channel=sms_channel,
        body=CLINICAL,
        sender=staff,
        phi_override_reason="Patient asked by phone",
    )
    assert sent.channel_id == sms_channel.pk
    row = AuditEvent.objects.get(action="phi.override")
    assert row.detail["reason"] == "Patient asked by phone" and "medication" in row.detail["found"]


def test_automatic_messages_are_always_converted(conversation, sms_channel):
    set_policy(conversation.practice, PhiPolicy.WARN)
    secure = message_queue(
        conversation=conversation, channel=sms_channel, body=CLINICAL, sender=None, is_automatic=True
    )
    assert secure.channel.kind == "portal"


def test_api_reports_phi_review(conversation, api_token):
    set_policy(conversation.practice, PhiPolicy.BLOCK)
    client = Client(headers={"Authorization": f"Bearer {api_token}"})
    response = client.post(
        f"/api/v1/conversations/{conversation.pk}/messages", data={"body": CLINICAL}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "health information" in response.json()["detail"]


def portal_token(sms_channel) -> str:
    body = simulator_outbox(sms_channel.key)[-1]["body"]
    return re.search(r"/portal/t/([\w-]+)", body).group(1)


def test_portal_round_trip(conversation, sms_channel, staff):
    message_queue(conversation=conversation, channel=sms_channel, body=CLINICAL, sender=staff)
    drain()
    token = portal_token(sms_channel)
    patient_browser = Client()
    page = patient_browser.get(f"/portal/t/{token}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>Secure messages</title>" in html and "metformin" not in html
    response = patient_browser.post(f"/portal/t/{token}", {"year": "1980", "month": "2", "day": "3"})
    assert response.status_code == 302 and response.url == "/portal/"
    home = patient_browser.get("/portal/").content.decode()
    assert "metformin 500 mg" in home
    secure = Message.objects.get(channel__kind="portal", direction="out")
    assert secure.status == "read"
    patient_browser.post("/portal/reply", {"body": "Thanks, will do. Any side effects to watch?"})
    reply = Message.objects.get(channel__kind="portal", direction="in")
    assert reply.conversation_id == conversation.pk and reply.patient_id == conversation.patient_id
    # The link worked once.
    assert Client().post(f"/portal/t/{token}", {"year": "1980", "month": "2", "day": "3"}).status_code == 400


def test_portal_dob_guessing_is_throttled(conversation, sms_channel, staff):
    message_queue(conversation=conversation, channel=sms_channel, body=CLINICAL, sender=staff)
    drain()
    token = portal_token(sms_channel)
    browser = Client()
    for _ in range(5):
        response = browser.post(f"/portal/t/{token}", {"year": "1999", "month": "1", "day": "1"})
        assert response.status_code == 400
    assert "Too many attempts" in response.content.decode()
    response = browser.post(f"/portal/t/{token}", {"year": "1980", "month": "2", "day": "3"})
    assert response.status_code == 400  # the right answer no longer helps
    assert AuditEvent.objects.filter(action="portal.check_failed").count() == 5


def test_portal_link_expires(conversation, sms_channel, staff):
    message_queue(conversation=conversation, channel=sms_channel, body=CLINICAL, sender=staff)
    drain()
    token = portal_token(sms_channel)
    link = PortalLink.objects.get()
    with clock.frozen(link.expires_at + timedelta(seconds=1)):
        assert Client().get(f"/portal/t/{token}").status_code == 404


def test_portal_idle_timeout(conversation, sms_channel, staff):
    message_queue(conversation=conversation, channel=sms_channel, body=CLINICAL, sender=staff)
    drain()
    token = portal_token(sms_channel)
    browser = Client()
    browser.post(f"/portal/t/{token}", {"year": "1980", "month": "2", "day": "3"})
    session = browser.session
    data = session["portal"]
    data["seen"] -= 11 * 60
    session["portal"] = data
    session.save()
    assert browser.get("/portal/").status_code == 401


def test_inbound_clinical_message_gets_portal_invitation(sms_channel):
    receive(sms_channel, "+15552017799", "I started lisinopril and now I have a dry cough")
    drain()
    bodies = [line["body"] for line in simulator_outbox(sms_channel.key)]
    assert len(bodies) == 1 and "secure" in bodies[0].lower()
    assert Message.objects.filter(direction="in").count() == 1  # the patient's message is kept
    receive(sms_channel, "+15552017799", "also my ankles are swollen")
    drain()
    assert len(simulator_outbox(sms_channel.key)) == 1  # one invitation a day


@pytest.mark.parametrize(
    "text",
    ["My stitches look red and it hurts where they did the procedure", "I need a refill of my blood pressure medicine"],
)
def test_message_triaged_clinical_gets_portal_invitation_without_phi_words(sms_channel, text):
    """The triage category alone is enough: these texts name no drug, symptom or procedure the
    PHI scanner knows, yet they are clinical questions that belong in the portal."""
    message = receive(sms_channel, "+15552017798", text).message
    assert message.metadata["classification"]["category"] in ("clinical", "refill")
    drain()
    bodies = [line["body"] for line in simulator_outbox(sms_channel.key)]
    assert any("secure" in body.lower() for body in bodies)


def test_api_override_and_portal_choice(conversation, api_token, sms_channel):
    set_policy(conversation.practice, PhiPolicy.BLOCK)
    client = Client(headers={"Authorization": f"Bearer {api_token}"})
    url = f"/api/v1/conversations/{conversation.pk}/messages"
    portal = client.post(url, data={"body": CLINICAL, "via_portal": True}, content_type="application/json")
    assert portal.status_code == 201 and portal.json()["channel_kind"] == "portal"
    plain = client.post(url, data={"body": "See you Tuesday", "via_portal": True}, content_type="application/json")
    assert plain.json()["channel_kind"] == "portal"  # staff may choose the portal for anything
    override = client.post(
        url,
        data={"body": CLINICAL, "phi_override_reason": "patient consented in writing"},
        content_type="application/json",
    )
    assert override.status_code == 201 and override.json()["channel_kind"] == "sms"


def test_url_secrets_are_redacted_from_logs():
    from converge.core.logfilters import redact

    assert redact("Bad Request: /portal/t/abcDEF_123-x") == "Bad Request: /portal/t/[redacted]"
    assert redact("POST /webhooks/twilio/KEY123/status") == "POST /webhooks/twilio/[redacted]/status"


@pytest.mark.parametrize(
    "dob",
    [
        {"year": "100000000000000000000", "month": "2", "day": "3"},
        {"year": "1980", "month": "100000000000000000000", "day": "3"},
        {"year": "1980", "month": "2", "day": "-100000000000000000000"},
        {"year": "1980", "month": "13", "day": "3"},
        {"year": "0", "month": "2", "day": "3"},
        {"year": "1980", "month": "2", "day": "31"},
        {"year": "9" * 5000, "month": "2", "day": "3"},
    ],
)
def test_portal_out_of_range_dob_is_a_failed_attempt(conversation, sms_channel, staff, dob):
    message_queue(conversation=conversation, channel=sms_channel, body=CLINICAL, sender=staff)
    drain()
    token = portal_token(sms_channel)
    response = Client().post(f"/portal/t/{token}", dob)
    assert response.status_code == 400
    assert "the details do not match" in response.content.decode()
    assert PortalLink.objects.get().failed_checks == 1
    assert AuditEvent.objects.filter(action="portal.check_failed").count() == 1


def test_a_portal_reply_lands_on_the_granted_patients_record_even_without_the_link_step(conversation):
    from converge.portal.services import PortalGrant, portal_reply

    grant = PortalGrant(
        patient_id=conversation.patient_id, practice_id=conversation.practice_id, conversation_id=conversation.pk
    )
    reply = portal_reply(grant, "Thanks, see you then")
    assert reply.patient_id == conversation.patient_id
    assert reply.conversation.patient_id == conversation.patient_id
