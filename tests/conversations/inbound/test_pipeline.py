from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.conversations.models import Conversation, ConversationStatus, Message
from converge.conversations.services import conversation_set_status
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.providers.types import MalformedPayload
from tests.helpers import receive, signed_simulator_post
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db


def test_unknown_sender_becomes_unverified_contact(sms_channel):
    received = receive(sms_channel, "(555) 201-7788", "Do you take Aetna?")
    message = received.message
    assert received.created
    patient = message.patient
    assert not patient.is_verified
    assert patient.display_name == "Unknown +1 555-201-7788"
    contact = ContactPoint.objects.get(patient=patient)
    assert (contact.kind, contact.address) == ("sms", "+15552017788")
    conversation = message.conversation
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.team == sms_channel.practice.default_team
    assert conversation.waiting_since is not None


def test_same_number_on_whatsapp_and_sms_is_one_history(sms_channel, whatsapp_channel):
    first = receive(whatsapp_channel, "15552017788", "hola").message  # WhatsApp wa_id has no "+"
    second = receive(sms_channel, "+1 555 201 7788", "sms too").message
    assert first.patient_id == second.patient_id
    assert first.conversation_id == second.conversation_id
    kinds = set(ContactPoint.objects.filter(patient_id=first.patient_id).values_list("kind", flat=True))
    assert kinds == {"sms", "whatsapp"}


def test_unknown_number_is_never_attached_to_another_patient(sms_channel):
    a = receive(sms_channel, "+15552017788", "one").message
    b = receive(sms_channel, "+15552017789", "two").message
    assert a.patient_id != b.patient_id
    assert Patient.objects.count() == 2


def test_duplicate_delivery_is_stored_once(sms_channel):
    first = receive(sms_channel, "+15552017788", "hello", provider_id="SM1")
    again = receive(sms_channel, "+15552017788", "hello", provider_id="SM1")
    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1


def test_same_provider_id_on_two_channels_are_two_messages(sms_channel, whatsapp_channel):
    receive(sms_channel, "+15552017788", "a", provider_id="X1")
    receive(whatsapp_channel, "+15552017788", "b", provider_id="X1")
    assert Message.objects.count() == 2


def test_bad_sender_address_is_rejected_and_nothing_stored(sms_channel):
    with pytest.raises(MalformedPayload):
        receive(sms_channel, "not a phone", "hi")
    assert Message.objects.count() == 0
    assert Patient.objects.count() == 0


def test_resolved_conversation_reopens_within_window(sms_channel):
    first = receive(sms_channel, "+15552017788", "hi").message
    conversation = first.conversation
    conversation_set_status(conversation=conversation, actor=None, status="resolved")
    with clock.frozen(clock.now() + timedelta(days=2)):
        second = receive(sms_channel, "+15552017788", "one more thing").message
    assert second.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.events.filter(kind="reopened").exists()


def test_new_conversation_after_reopen_window(sms_channel):
    first = receive(sms_channel, "+15552017788", "hi").message
    conversation_set_status(conversation=first.conversation, actor=None, status="resolved")
    with clock.frozen(clock.now() + timedelta(days=8)):
        second = receive(sms_channel, "+15552017788", "new question").message
    assert second.conversation_id != first.conversation_id
    assert Conversation.objects.filter(patient=first.patient).count() == 2


def test_snoozed_conversation_wakes_on_patient_message(sms_channel):
    first = receive(sms_channel, "+15552017788", "hi").message
    conversation_set_status(
        conversation=first.conversation, actor=None, status="snoozed", snoozed_until=clock.now() + timedelta(days=1)
    )
    receive(sms_channel, "+15552017788", "hello?")
    first.conversation.refresh_from_db()
    assert first.conversation.status == ConversationStatus.OPEN
    assert first.conversation.snoozed_until is None


def test_receive_is_audited_without_phi(sms_channel):
    message = receive(sms_channel, "+15552017788", "my chest hurts").message
    row = AuditEvent.objects.get(action="message.receive")
    assert row.object_id == str(message.pk)
    assert row.patient_id == message.patient_id
    assert "chest" not in str(row.detail) and "555" not in str(row.detail)


def test_event_published_only_after_commit(sms_channel, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("converge.core.events.publish_now", lambda groups, event: sent.append((groups, event)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receive(sms_channel, "+15552017788", "hi")
    assert sent == []
    for callback in callbacks:
        callback()
    types = [event["type"] for _groups, event in sent]
    assert "message.received" in types
    groups, event = next(item for item in sent if item[1]["type"] == "message.received")
    assert groups == [f"practice.{sms_channel.practice_id}"]
    assert set(event) == {"type", "conversation_id", "message_id"}  # ids only, never PHI


def test_reply_context_links_to_earlier_message(sms_channel):
    first = receive(sms_channel, "+15552017788", "hi", provider_id="A").message
    second = receive(sms_channel, "+15552017788", "re", provider_id="B", reply_to_provider_id="A").message
    assert second.reply_to_id == first.pk


class TestSimulatorWebhook:
    def test_signed_post_is_stored(self, sms_channel):
        response = signed_simulator_post(Client(), sms_channel, {"from": "+15552017788", "text": "hi", "id": "w1"})
        assert response.status_code == 200
        assert response.json() == {"accepted": 1}
        assert run_inbound() == 1
        assert Message.objects.count() == 1
        again = signed_simulator_post(Client(), sms_channel, {"from": "+15552017788", "text": "hi", "id": "w1"})
        assert again.json() == {"accepted": 1}
        assert run_inbound() == 1
        assert Message.objects.count() == 1

    def test_unsigned_or_missigned_is_refused_and_nothing_stored(self, sms_channel):
        body = b'{"from": "+15552017788", "text": "hi", "id": "w1"}'
        client = Client()
        url = f"/webhooks/simulator/{sms_channel.key}"
        assert client.post(url, data=body, content_type="application/json").status_code == 401
        bad = client.post(
            url, data=body, content_type="application/json", headers={"X-Converge-Signature": "sha256=" + "0" * 64}
        )
        assert bad.status_code == 403  # as every provider's webhook: missing 401, wrong 403
        assert run_inbound() == 0  # nothing queued either
        assert Message.objects.count() == 0

    @pytest.mark.parametrize(
        "payload",
        [
            b"not json",
            b"[]",
            b'{"messages": []}',
            b'{"from": "+15552017788", "id": "x"}',
            b'{"from": "+15552017788", "text": "hi"}',
            b'{"from": "nonsense", "text": "hi", "id": "x"}',
            b'{"messages": [{"from": "+15552017788", "text": "ok", "id": "a"}, {"from": "??", "text": "x", "id": "b"}]}',
        ],
    )
    def test_malformed_is_400_and_nothing_stored(self, sms_channel, payload):
        response = signed_simulator_post(Client(), sms_channel, payload)
        assert response.status_code == 400
        assert response.json()["detail"]
        assert run_inbound() == 0  # nothing queued either
        assert Message.objects.count() == 0

    @pytest.mark.parametrize(
        "payload",
        [
            b"[" * 100_000,
            b'{"messages": ' + b"[" * 1_200 + b"]" * 1_200 + b"}",
            b'{"from": "+15552017788", "text": "hi", "id": "deep", "x": ' + b'{"a": ' * 1_500 + b"1" + b"}" * 1_501,
        ],
    )
    def test_deeply_nested_json_is_400_and_nothing_stored(self, sms_channel, payload):
        response = signed_simulator_post(Client(), sms_channel, payload)
        assert response.status_code == 400
        assert response.json()["detail"] == "body is not JSON"
        assert run_inbound() == 0  # nothing queued either
        assert Message.objects.count() == 0

    def test_unknown_channel_is_404(self, db):
        assert Client().post("/webhooks/simulator/nope", data=b"{}", content_type="application/json").status_code == 404

    def test_xss_body_is_stored_verbatim_and_rendered_inert(self, sms_channel, staff_client):
        body = "<img src=x onerror=alert(1)>"
        signed_simulator_post(Client(), sms_channel, {"from": "+15552017788", "text": body, "id": "x1"})
        run_inbound()
        message = Message.objects.get()
        assert message.body == body
        page = staff_client.get(f"/c/{message.conversation_id}/").content.decode()
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
