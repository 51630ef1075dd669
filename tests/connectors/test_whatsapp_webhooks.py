"""WhatsApp Cloud API end to end: the real webhook view (verification handshake, X-Hub-Signature-256,
every message type, batches, duplicates, replies, reactions, statuses, hostile bodies) and the
real outbox sending to a local Graph API that checks the documented request shapes."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.connectors.models import TemplateStatus
from converge.connectors.policy import WINDOW_CLOSED
from converge.connectors.whatsapp_templates import whatsapp_template_save, whatsapp_template_send
from converge.conversations.models import Attachment, Direction, Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import ServiceError, message_queue
from converge.core import clock
from converge.patients.models import ContactPoint
from converge.providers import http as provider_http
from converge.providers.types import DeliveryStatus
from tests.connectors.channels import (
    APP_SECRET,
    PATIENT_E164,
    VERIFY_TOKEN,
    WA_NUMBER_ID,
    wa_channel,
    wa_fixture,
    wa_post,
    wa_sign,
    wa_status_notification,
    wa_text_notification,
)
from tests.providers.fakes import Reply
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db

# pywa tests/test_server.py::test_webhook_updates_validator (PROTOCOLS.md).
PYWA_SECRET = "1222e786b144d0e85b9f365372d93676"
PYWA_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"264937493375603","changes":[{"value":'
    b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550953877",'
    b'"phone_number_id":"277321005464405"},"contacts":[{"profile":{"name":"PyWa Tests"},'
    b'"wa_id":"972544401243"}],"messages":[{"from":"972544401243","id":"wamid.HBgMOTcyNTQ0ND'
    b'AxMjQzFQIAEhggM0RFQTNCMEEwRTY3QzUwODYzMDc4NjQ4QzM4ODAxM0YA","timestamp":"1730231903",'
    b'"text":{"body":"Hey there! I am using PyWa."},"type":"text"}]},"field":"messages"}]}]}'
)
PYWA_HEADER = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
OUR_WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1QjJGRjY3MzM0QkU1MjVFMDgA"  # context / reaction / status target


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def channel(practice):
    return wa_channel(practice)


def inbound_count() -> int:
    """Patient messages in the inbox once the worker has taken what the webhooks queued."""
    run_inbound()
    return Message.objects.filter(direction=Direction.INBOUND).count()


# --- verification handshake and signatures -------------------------------------------------


def test_subscription_handshake_answers_the_bare_challenge(client, channel):
    url = f"/webhooks/whatsapp/{channel.key}"
    ok = client.get(url, {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN})
    assert ok.status_code == 200
    assert ok.content == b"1158201444"
    assert ok["Content-Type"].startswith("text/plain")
    wrong = client.get(url, {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "guess"})
    assert wrong.status_code == 403
    no_mode = client.get(url, {"hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN})
    assert no_mode.status_code == 403
    markup = client.get(url, {"hub.mode": "subscribe", "hub.challenge": "<script>", "hub.verify_token": VERIFY_TOKEN})
    assert markup.status_code == 403
    assert client.get("/webhooks/whatsapp/not-a-channel", {"hub.mode": "subscribe"}).status_code == 404


def test_pywa_public_signature_vector_through_the_view(client, practice):
    channel = wa_channel(practice, phone_number_id="277321005464405", app_secret=PYWA_SECRET)
    response = client.post(
        f"/webhooks/whatsapp/{channel.key}",
        data=PYWA_BODY,
        content_type="application/json",
        headers={"X-Hub-Signature-256": PYWA_HEADER},
    )
    assert response.status_code == 200, response.content
    run_inbound()
    message = Message.objects.get(direction=Direction.INBOUND)
    assert message.body == "Hey there! I am using PyWa."
    assert message.contact_point.address == "+972544401243"


@pytest.mark.parametrize(
    ("signature", "status"),
    [
        (None, 401),
        ("", 401),
        ("sha256=" + "0" * 64, 403),
        ("sha1=" + "0" * 40, 403),
        (wa_sign(b"a different body"), 403),
        (wa_sign(wa_fixture("text"), "not-the-app-secret"), 403),
    ],
)
def test_unsigned_or_missigned_posts_are_refused_and_store_nothing(client, channel, signature, status):
    response = wa_post(client, channel, wa_fixture("text"), signature=signature)
    assert response.status_code == status
    assert inbound_count() == 0


def test_signature_covers_the_raw_bytes_not_the_parsed_json(client, channel):
    # Same JSON, different bytes: a signature over a re-serialisation must not pass.
    raw = wa_fixture("text")
    reserialised = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    assert reserialised != raw
    response = wa_post(client, channel, raw, signature=wa_sign(reserialised))
    assert response.status_code == 403
    assert inbound_count() == 0


# --- every message type ------------------------------------------------------------------------

EXPECTED = {
    "text": ("text", "Hi, can I move my appointment on Tuesday?", 0),
    "text_forwarded": ("text", "forwarded text", 0),
    "image": ("image", "Rash on my arm since Monday", 1),
    "audio_voice": ("audio", "", 1),
    "video": ("video", "how it looks when I walk", 1),
    "document": ("document", "Referral letter", 1),
    "sticker": ("sticker", "", 1),
    "location": ("location", None, 0),
    "location_pin": ("location", None, 0),
    "interactive_button_reply": ("button_reply", "Confirm", 0),
    "interactive_list_reply": ("list_reply", "Wed 3:00 pm", 0),
    "interactive_without_content": ("unsupported", "", 0),
    "button": ("button", "Reschedule", 0),
    "reaction": ("reaction", "👍", 0),
    "reaction_removed": ("reaction", "", 0),
    "contacts": ("contacts", None, 0),
    "order": ("unsupported", "", 0),
    "unsupported": ("unsupported", "", 0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_message_type_is_stored(client, channel, name):
    kind, body, attachments = EXPECTED[name]
    response = wa_post(client, channel, wa_fixture(name))
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert run_inbound() == 1
    message = Message.objects.get(direction=Direction.INBOUND)
    assert message.kind == kind
    if body is not None:
        assert message.body == body
    else:
        assert message.body  # location / contacts get a readable summary
    assert message.status == DeliveryStatus.RECEIVED
    assert message.contact_point.kind == "whatsapp"
    assert message.contact_point.address == PATIENT_E164
    assert message.metadata["phone_number_id"] == WA_NUMBER_ID
    assert message.attachments.count() == attachments
    for attachment in message.attachments.all():
        assert attachment.state == Attachment.State.PENDING
        assert attachment.provider_media_id


@pytest.mark.xfail(strict=True, reason="username-only senders need BSUID addresses in patients.addresses")
def test_username_only_sender_is_stored(client, channel):
    assert wa_post(client, channel, wa_fixture("user_id")).status_code == 200


def test_a_post_with_several_entries_changes_and_messages(client, practice):
    first = wa_channel(practice)
    second = wa_channel(practice, phone_number_id="106540352242923")  # same Meta app, second number
    response = wa_post(client, first, wa_fixture("batch"))
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "statuses": 0, "ignored": 0}
    run_inbound()
    on_first = Message.objects.filter(channel=first).order_by("id")
    assert [m.body for m in on_first] == ["first", "second"]
    assert {m.contact_point.address for m in on_first} == {"+16505551234", "+16505550199"}
    assert [m.body for m in Message.objects.filter(channel=second)] == ["third"]


def test_messages_for_a_number_not_set_up_here_are_acknowledged_not_misfiled(client, channel):
    response = wa_post(client, channel, wa_fixture("batch"))
    assert response.status_code == 200
    assert response.json()["ignored"] == 1
    run_inbound()
    assert sorted(Message.objects.values_list("body", flat=True)) == ["first", "second"]


def test_another_apps_number_is_not_a_routing_target(client, practice):
    own = wa_channel(practice)
    wa_channel(practice, phone_number_id="106540352242923", app_secret="another-app-secret")
    assert wa_post(client, own, wa_fixture("batch")).json()["ignored"] == 1


def test_whole_post_is_validated_before_anything_is_stored(client, channel):
    document = json.loads(wa_fixture("batch"))
    document["entry"][0]["changes"][0]["value"]["messages"][1]["from"] = 16505550199  # not a string
    response = wa_post(client, channel, document)
    assert response.status_code == 400
    assert "from" in response.json()["detail"]
    assert inbound_count() == 0
    document = json.loads(wa_fixture("batch"))
    document["entry"][1]["changes"][0]["value"]["messages"][0]["from"] = "not-a-number"
    document["entry"][1]["changes"][0]["value"]["metadata"]["phone_number_id"] = WA_NUMBER_ID
    assert wa_post(client, channel, document).status_code == 400
    assert inbound_count() == 0


def test_duplicate_notifications_are_stored_once(client, channel):
    body = wa_fixture("text")
    assert wa_post(client, channel, body).json()["accepted"] == 1
    assert inbound_count() == 1
    again = wa_post(client, channel, body)
    assert again.status_code == 200
    assert again.json() == {"accepted": 1, "statuses": 0, "ignored": 0}
    assert inbound_count() == 1


def _sent_message(client, channel, fake_graph_id: str = OUR_WAMID) -> Message:
    """An outbound message we 'sent' with the provider id the fixtures refer to."""
    wa_post(client, channel, wa_text_notification("wamid.first", "hello"))
    run_inbound()
    conversation = Message.objects.get(provider_message_id="wamid.first").conversation
    message = message_queue(conversation=conversation, channel=channel, body="See you at 3pm.", sender=None)
    Message.objects.filter(pk=message.pk).update(status=DeliveryStatus.SENT, provider_message_id=fake_graph_id)
    message.refresh_from_db()
    return message


def test_a_reply_with_context_points_at_the_message_it_answers(client, channel):
    ours = _sent_message(client, channel)
    assert wa_post(client, channel, wa_fixture("text_reply")).status_code == 200
    run_inbound()
    reply = Message.objects.get(body="Yes, 3pm works")
    assert reply.reply_to_id == ours.pk
    assert reply.conversation_id == ours.conversation_id


def test_a_reaction_is_stored_under_the_message_it_reacts_to(client, channel):
    ours = _sent_message(client, channel)
    wa_post(client, channel, wa_fixture("reaction"))
    run_inbound()
    reaction = Message.objects.get(kind="reaction")
    assert (reaction.body, reaction.metadata["emoji"], reaction.reply_to_id) == ("👍", "👍", ours.pk)


# --- statuses ----------------------------------------------------------------------------------


def test_statuses_arrive_out_of_order_and_never_move_backwards(client, channel):
    ours = _sent_message(client, channel)
    response = wa_post(client, channel, wa_fixture("statuses"))  # sent, read, delivered
    assert response.status_code == 200
    assert response.json()["statuses"] == 3
    ours.refresh_from_db()
    assert ours.status == DeliveryStatus.READ
    assert ours.read_at is not None
    wa_post(client, channel, wa_status_notification(OUR_WAMID, "failed", errors=[{"code": 131026, "title": "x"}]))
    ours.refresh_from_db()
    assert ours.status == DeliveryStatus.READ


def test_a_failed_status_records_the_code_and_a_readable_reason(client, channel):
    ours = _sent_message(client, channel)
    wa_post(client, channel, wa_fixture("status_failed"))
    ours.refresh_from_db()
    assert ours.status == DeliveryStatus.FAILED
    assert ours.failure_code == "131047"
    assert "24 hours" in ours.failure_reason and "template" in ours.failure_reason


def test_status_for_an_unknown_message_is_acknowledged(client, channel):
    response = wa_post(client, channel, wa_status_notification("wamid.unknown", "delivered"))
    assert response.status_code == 200
    assert response.json()["statuses"] == 0


# --- hostile and malformed bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"object":"page","entry":[]}',
        b'{"object":"whatsapp_business_account"}',
        b'{"object":"whatsapp_business_account","entry":{}}',
        b'{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":[]}]}]}',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000,
        json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}).encode(),
    ],
)
def test_malformed_signed_bodies_are_400_and_store_nothing(client, channel, body):
    response = wa_post(client, channel, body)
    assert response.status_code == 400
    assert inbound_count() == 0


def test_an_overlong_message_id_is_refused_before_storing(client, channel):
    document = wa_text_notification("wamid." + "x" * 300, "hello")
    assert wa_post(client, channel, document).status_code == 400
    assert inbound_count() == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _mutations(document: dict) -> list[list]:
    """Paths of every node in a JSON document."""
    paths: list[list] = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, [*path, key])
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, [*path, index])

    walk(document, [])
    return paths[1:]


TEMPLATE_DOC = json.loads(wa_fixture("batch"))
PATHS = _mutations(TEMPLATE_DOC)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path_index=st.integers(0, len(PATHS) - 1), value=json_values)
def test_hypothesis_mutated_notifications_are_stored_whole_or_refused_whole(client, channel, path_index, value):
    document = copy.deepcopy(TEMPLATE_DOC)
    target = document
    path = PATHS[path_index]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    before = inbound_count()
    response = wa_post(client, channel, json.dumps(document).encode())
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert inbound_count() == before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_hypothesis_arbitrary_signed_bodies_never_crash(client, channel, body):
    response = wa_post(client, channel, body)
    assert response.status_code in (200, 400)
    assert inbound_count() == 0


# --- sending through the outbox to the Graph API ---------------------------------------------


@pytest.fixture
def live(practice, fake_graph, client):
    """A WhatsApp channel on the fake Graph API and a patient who wrote a minute ago."""
    channel = wa_channel(practice, fake_graph)
    wa_post(client, channel, wa_text_notification("wamid.in1", "Hello, is the clinic open?"))
    run_inbound()
    conversation = Message.objects.get(provider_message_id="wamid.in1").conversation
    return channel, conversation


def _send(conversation, channel, body="We are open until 5pm.", **kw) -> Message:
    message = message_queue(conversation=conversation, channel=channel, body=body, sender=None, **kw)
    outbox_dispatch_batch()
    message.refresh_from_db()
    return message


def test_text_reply_is_posted_to_the_graph_api(live, fake_graph):
    channel, conversation = live
    message = _send(conversation, channel)
    assert message.status == DeliveryStatus.SENT
    assert message.provider_message_id.startswith("wamid.FAKE")
    [request] = fake_graph.requests_on("send")
    assert request.path == f"/v21.0/{fake_graph.phone_number_id}/messages"
    assert request.headers["authorization"] == f"Bearer {fake_graph.access_token}"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PATIENT_E164,
        "type": "text",
        "text": {"body": "We are open until 5pm."},
        "biz_opaque_callback_data": str(message.idempotency_key),
    }


def test_reply_buttons_and_media(live, fake_graph):
    channel, conversation = live
    buttons = [{"id": "confirm", "title": "Confirm"}, {"id": "reschedule", "title": "Reschedule"}]
    assert _send(conversation, channel, "Your visit is Tuesday 3pm.", kind="interactive", metadata={"buttons": buttons})
    media = [{"url": "https://files.example.org/map.png", "content_type": "image/png"}]
    assert _send(conversation, channel, "How to find us", kind="media", metadata={"media": media})
    interactive, image = (r.json() for r in fake_graph.requests_on("send"))
    assert interactive["type"] == "interactive"
    assert interactive["interactive"]["action"]["buttons"][1] == {
        "type": "reply",
        "reply": {"id": "reschedule", "title": "Reschedule"},
    }
    assert image["type"] == "image"
    assert image["image"] == {"link": "https://files.example.org/map.png", "caption": "How to find us"}


def test_a_text_with_quick_answers_goes_as_reply_buttons(live, fake_graph):
    channel, conversation = live
    offer = "A slot opened on Friday 9:00. Reply to take it."
    assert _send(conversation, channel, offer, metadata={"buttons": [{"id": "confirm", "title": "Take it"}]})
    sent = fake_graph.requests_on("send")[0].json()
    assert sent["type"] == "interactive"
    assert sent["interactive"]["body"] == {"text": offer}


def test_an_approved_template_with_parameters_and_language(live, fake_graph, staff):
    channel, conversation = live
    template = whatsapp_template_save(
        channel=channel,
        name="appointment_reminder",
        language="en_US",
        body="Hi, this is {{1}}. Your visit is on {{2}}.",
        status=TemplateStatus.APPROVED,
        actor=None,
    )
    message = whatsapp_template_send(
        conversation=conversation, template=template, params=["Sunrise Clinic", "Tue Feb 11, 3:00 PM"], sender=staff
    )
    assert message.kind == "template"
    assert message.body == "Hi, this is Sunrise Clinic. Your visit is on Tue Feb 11, 3:00 PM."
    assert message.metadata["template_params"] == ["Sunrise Clinic", "Tue Feb 11, 3:00 PM"]
    outbox_dispatch_batch()
    [request] = fake_graph.requests_on("send")
    assert request.json()["template"] == {
        "name": "appointment_reminder",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Sunrise Clinic"},
                    {"type": "text", "text": "Tue Feb 11, 3:00 PM"},
                ],
            }
        ],
    }
    with pytest.raises(ServiceError, match="takes 2 parameter"):
        whatsapp_template_send(conversation=conversation, template=template, params=["only one"], sender=staff)


# --- the 24-hour window ------------------------------------------------------------------------


def test_free_text_outside_the_window_is_refused_before_it_is_queued(live, fake_graph, staff):
    channel, conversation = live
    with clock.frozen(clock.now() + timedelta(hours=24, minutes=1)):
        with pytest.raises(ServiceError) as refused:
            message_queue(conversation=conversation, channel=channel, body="Are you still there?", sender=staff)
        assert str(refused.value) == WINDOW_CLOSED
        for kind in ("interactive", "media"):
            with pytest.raises(ServiceError, match="24-hour"):
                message_queue(conversation=conversation, channel=channel, body="x", sender=staff, kind=kind)
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    assert fake_graph.requests_on("send") == []


def test_a_message_queued_in_the_window_is_not_sent_after_it_closes(live, fake_graph, staff):
    channel, conversation = live
    message = message_queue(conversation=conversation, channel=channel, body="Queued at hour 23", sender=staff)
    with clock.frozen(clock.now() + timedelta(hours=25)):
        outbox_dispatch_batch()
    message.refresh_from_db()
    assert (message.status, message.failure_code, message.failure_reason) == ("failed", "window-closed", WINDOW_CLOSED)
    assert fake_graph.requests_on("send") == []


def test_outside_the_window_only_approved_registered_templates_go(live, fake_graph, staff):
    channel, conversation = live
    pending = whatsapp_template_save(
        channel=channel, name="recall", language="en_US", body="Time for your check-up.", actor=None
    )
    later = clock.now() + timedelta(days=3)
    with clock.frozen(later):
        with pytest.raises(ServiceError, match="not approved"):
            whatsapp_template_send(conversation=conversation, template=pending, params=[], sender=staff)
        with pytest.raises(ServiceError, match="not registered"):
            message_queue(
                conversation=conversation,
                channel=channel,
                body="x",
                sender=None,
                kind="template",
                metadata={"template_name": "made_up", "template_language": "en_US"},
            )
        whatsapp_template_save(
            channel=channel,
            name="recall",
            language="en_US",
            body="Time for your check-up.",
            status=TemplateStatus.APPROVED,
            actor=None,
            template=pending,
        )
        pending.refresh_from_db()
        message = whatsapp_template_send(conversation=conversation, template=pending, params=[], sender=staff)
        outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT
    assert fake_graph.requests_on("send")[0].json()["type"] == "template"


def test_a_new_patient_message_reopens_the_window(live, fake_graph, client, staff):
    channel, conversation = live
    with clock.frozen(clock.now() + timedelta(days=2)):
        wa_post(client, channel, wa_text_notification("wamid.in2", "Hello again"))
        run_inbound()
        contact = ContactPoint.objects.get(kind="whatsapp")
        assert contact.last_inbound_at == clock.now()
        assert message_queue(conversation=conversation, channel=channel, body="Hi!", sender=staff)


# --- provider errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "http_status", "reason_part"),
    [
        (131047, 400, "24 hours"),
        (131026, 400, "undeliverable"),
        (190, 401, "access token"),
        (100, 400, "parameter"),
        (132001, 404, "template does not exist"),
    ],
)
def test_permanent_provider_errors_fail_with_a_reason_staff_can_read(live, fake_graph, code, http_status, reason_part):
    channel, conversation = live
    fake_graph.graph_error(code, http_status=http_status, details="recipient +16505551234 detail")
    message = _send(conversation, channel)
    assert message.status == DeliveryStatus.FAILED
    assert message.failure_code == str(code)
    assert reason_part in message.failure_reason
    assert "6505551234" not in message.failure_reason  # numbers are scrubbed from provider text


@pytest.mark.parametrize(
    ("code", "http_status", "retry_after"),
    [(130429, 429, "30"), (131056, 400, None), (80007, 400, None), (2, 503, None), (None, 500, None)],
)
def test_throttling_and_server_errors_are_retried_with_backoff(live, fake_graph, code, http_status, retry_after):
    channel, conversation = live
    if code is None:
        fake_graph.reply_next(Reply(status=http_status, body=b"upstream error"), route="send")
    else:
        fake_graph.graph_error(code, http_status=http_status, retry_after=retry_after)
    message = _send(conversation, channel)
    assert message.status == DeliveryStatus.QUEUED
    assert message.failure_reason  # staff see why it is waiting
    wait = (message.next_attempt_at - clock.now()).total_seconds()
    assert wait >= (29 if retry_after else 1)
    with clock.frozen(message.next_attempt_at + timedelta(seconds=1)):
        outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT
    assert message.attempts == 2
    assert len(fake_graph.requests_on("send")) == 2


def test_a_timeout_after_the_request_is_held_not_retried(live, fake_graph, monkeypatch):
    channel, conversation = live
    monkeypatch.setattr(provider_http, "TIMEOUT_SECONDS", 0.3)
    fake_graph.reply_next(Reply(delay=1.0, json_body={"messages": [{"id": "wamid.late"}]}), route="send")
    message = _send(conversation, channel)
    # Meta may have accepted it: held for its status webhook, not sent again.
    assert (message.status, message.failure_code) == (DeliveryStatus.SENDING, "unconfirmed")
    assert "timeout" in message.failure_reason
    outbox_dispatch_batch()
    assert len(fake_graph.requests_on("send")) == 1


def test_a_message_whatsapp_would_refuse_fails_at_once(live, fake_graph):
    channel, conversation = live
    buttons = [{"id": "a", "title": "A title far longer than twenty characters"}]
    message = _send(conversation, channel, "Pick one", kind="interactive", metadata={"buttons": buttons})
    assert (message.status, message.failure_code) == (DeliveryStatus.FAILED, "invalid")
    assert "20" in message.failure_reason
    assert fake_graph.requests_on("send") == []


def test_app_secret_is_not_the_access_token(practice):
    channel = wa_channel(practice)
    assert channel.credentials()["app_secret"] == APP_SECRET
    assert APP_SECRET not in channel.credentials_encrypted


def test_nothing_patient_identifying_is_logged(client, channel, caplog):
    caplog.set_level("DEBUG")
    for name in ("text", "image", "contacts", "location"):
        wa_post(client, channel, wa_fixture(name))
    wa_post(client, channel, wa_fixture("text"), signature="sha256=" + "0" * 64)
    wa_post(client, channel, b'{"object":"whatsapp_business_account","entry":[{"changes":"Sheena"}]}')
    run_inbound()
    logged = caplog.text
    for secret in ("6505551234", "Sheena", "Tuesday", "Rash", "Chandler", "Main Street", APP_SECRET):
        assert secret not in logged
