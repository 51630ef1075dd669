"""WhatsApp Cloud API protocol: signatures, webhook parsing, sending, media, delivery statuses."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.providers.status import status_may_advance
from converge.providers.types import (
    DeliveryStatus,
    InboundMessage,
    MalformedPayload,
    OutboundButton,
    OutboundMedia,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SignatureError,
    StatusUpdate,
)
from converge.providers.whatsapp.protocol import (
    WhatsAppClient,
    message_payload,
    parse_notification,
    verify_signature,
    verify_subscription,
    within_customer_service_window,
)
from tests.providers.fakes import FakeGraphAPI, Reply

FIXTURES = Path(__file__).parent / "fixtures"
PATIENT = "16505551234"
OUR_MESSAGE = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1QjJGRjY3MzM0QkU1MjVFMDgA"

# pywa tests/test_server.py::test_webhook_updates_validator (the secret has been reset upstream).
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


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def only_message(name: str) -> InboundMessage:
    events = parse_notification(fixture(name))
    assert len(events) == 1
    assert isinstance(events[0], InboundMessage)
    return events[0]


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- webhook verification ------------------------------------------------------------------


def test_pywa_public_signature_vector_verifies() -> None:
    verify_signature(PYWA_BODY, PYWA_HEADER, PYWA_SECRET)
    [message] = parse_notification(PYWA_BODY)
    assert isinstance(message, InboundMessage)
    assert message.body == "Hey there! I am using PyWa."
    assert message.metadata["phone_number_id"] == "277321005464405"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        PYWA_HEADER.removeprefix("sha256="),  # no algorithm prefix
        "sha1=" + PYWA_HEADER.removeprefix("sha256="),
        PYWA_HEADER[:-1] + "0",  # one digit off
        PYWA_HEADER + "00",
        "sha256=zz" + PYWA_HEADER[9:],
        "sha256=é" + PYWA_HEADER[8:],  # non-ASCII must not crash compare_digest
    ],
)
def test_bad_signature_headers_are_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify_signature(PYWA_BODY, header, PYWA_SECRET)


def test_signature_covers_the_raw_bytes() -> None:
    reserialised = json.dumps(json.loads(PYWA_BODY)).encode()  # same JSON, other bytes
    with pytest.raises(SignatureError):
        verify_signature(reserialised, PYWA_HEADER, PYWA_SECRET)
    with pytest.raises(SignatureError):
        verify_signature(PYWA_BODY, PYWA_HEADER, "another-secret")


def test_upper_case_hex_and_surrounding_space_are_accepted() -> None:
    verify_signature(PYWA_BODY, "  sha256=" + PYWA_HEADER[7:].upper() + " ", PYWA_SECRET)


def test_no_app_secret_configured_refuses_everything() -> None:
    with pytest.raises(SignatureError):
        verify_signature(b"{}", sign(b"{}", ""), "")


@given(body=st.binary(max_size=2000), secret=st.text(min_size=1, max_size=64))
def test_signature_round_trip(body: bytes, secret: str) -> None:
    verify_signature(body, sign(body, secret), secret)
    with pytest.raises(SignatureError):
        verify_signature(body + b"x", sign(body, secret), secret)


def test_subscription_challenge_is_echoed_when_token_matches() -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "s3cr3t"}
    assert verify_subscription(params, "s3cr3t") == "1158201444"


@pytest.mark.parametrize(
    ("params", "token"),
    [
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "nope"}, "s3cr3t"),
        ({"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": "s3cr3t"}, "s3cr3t"),
        ({"hub.mode": "subscribe", "hub.verify_token": "s3cr3t"}, "s3cr3t"),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, "s3cr3t"),
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}, ""),
        (
            {"hub.mode": "subscribe", "hub.challenge": "<script>", "hub.verify_token": "s3cr3t"},
            "s3cr3t",
        ),
    ],
)
def test_subscription_is_refused(params: dict[str, str], token: str) -> None:
    with pytest.raises(SignatureError):
        verify_subscription(params, token)


# --- webhook parsing: one fixture per message type -----------------------------------------


def test_text() -> None:
    message = only_message("text")
    assert message.provider_message_id.startswith("wamid.")
    assert message.sender_address == PATIENT
    assert message.sender_name == "Sheena Nelson"
    assert message.kind == "text"
    assert message.body == "Hi, can I move my appointment on Tuesday?"
    assert message.sent_at == datetime(2025, 2, 12, 0, 43, 44, tzinfo=UTC)
    assert message.reply_to_provider_id is None
    assert message.metadata == {"phone_number_id": "106540352242922"}


def test_reply_context_links_to_our_message() -> None:
    message = only_message("text_reply")
    assert message.reply_to_provider_id == OUR_MESSAGE
    assert message.body == "Yes, 3pm works"


def test_forwarded_flag_is_kept_and_is_not_a_reply() -> None:
    message = only_message("text_forwarded")
    assert message.metadata["forwarded"] is True
    assert message.reply_to_provider_id is None


@pytest.mark.parametrize(
    ("name", "kind", "media_id", "mime", "caption", "filename", "flags"),
    [
        ("image", "image", "1003383421387256", "image/jpeg", "Rash on my arm since Monday", "", {}),
        ("audio_voice", "audio", "1234567890987654", "audio/ogg; codecs=opus", "", "", {"voice": True}),
        ("video", "video", "765756756765756", "video/mp4", "how it looks when I walk", "", {}),
        ("document", "document", "1234567890987655", "application/pdf", "Referral letter", "referral.pdf", {}),
        ("sticker", "sticker", "1234567890987656", "image/webp", "", "", {}),
    ],
)
def test_media_messages_become_attachments(
    name: str, kind: str, media_id: str, mime: str, caption: str, filename: str, flags: dict[str, Any]
) -> None:
    message = only_message(name)
    assert message.kind == kind
    assert message.body == caption
    [attachment] = message.attachments
    assert attachment.provider_media_id == media_id
    assert attachment.content_type == mime
    assert attachment.filename == filename
    assert attachment.sha256
    assert attachment.url is None and attachment.content is None
    assert message.metadata == {"phone_number_id": "106540352242922", **flags}


def test_location_with_name_and_address() -> None:
    message = only_message("location")
    assert message.kind == "location"
    assert message.body == ("📍 Main Street Clinic, 1 Hacker Way, Menlo Park, CA 94025 (37.4611978, -122.2164385)")
    assert message.metadata["latitude"] == 37.4611978
    assert message.metadata["longitude"] == -122.2164385
    assert message.metadata["url"].startswith("https://maps.google.com/")


def test_location_pin_without_name() -> None:
    message = only_message("location_pin")
    assert message.body == "📍 (12.25089, 43.90539)"
    assert "name" not in message.metadata


def test_interactive_button_reply() -> None:
    message = only_message("interactive_button_reply")
    assert message.kind == "button_reply"
    assert message.body == "Confirm"
    assert message.metadata["reply_id"] == "confirm"
    assert message.reply_to_provider_id == OUR_MESSAGE


def test_interactive_list_reply() -> None:
    message = only_message("interactive_list_reply")
    assert message.kind == "list_reply"
    assert message.body == "Wed 3:00 pm"
    assert message.metadata["reply_id"] == "slot-2025-02-12T15:00"
    assert message.metadata["description"] == "Dr. Rivera, Main Street"


def test_template_quick_reply_button() -> None:
    message = only_message("button")
    assert message.kind == "button"
    assert message.body == "Reschedule"
    assert message.metadata["payload"] == "reschedule"
    assert message.metadata["reply_id"] == "reschedule"
    assert message.reply_to_provider_id == OUR_MESSAGE


def test_reaction() -> None:
    message = only_message("reaction")
    assert message.kind == "reaction"
    assert message.metadata["emoji"] == "👍"
    assert message.metadata["message_id"] == OUR_MESSAGE


def test_reaction_removed_has_empty_emoji() -> None:
    message = only_message("reaction_removed")
    assert message.kind == "reaction"
    assert message.metadata["emoji"] == ""
    assert message.body == ""


def test_shared_contacts_get_a_readable_body() -> None:
    message = only_message("contacts")
    assert message.kind == "contacts"
    assert message.body == (
        "Shared contact: Chandler Bing — +1 555-555-0101 (CELL)\nShared contact: Monica — +1 555-555-0102 (HOME)"
    )
    assert message.metadata["contacts"][0]["name"] == "Chandler Bing"


def test_unsupported_type_keeps_the_error() -> None:
    message = only_message("unsupported")
    assert message.kind == "unsupported"
    assert message.metadata["error_code"] == "131051"
    assert message.metadata["error_reason"] == "Unsupported message type"


@pytest.mark.parametrize(("name", "original"), [("order", "order"), ("interactive_without_content", "interactive")])
def test_types_we_do_not_handle_are_unsupported_not_dropped(name: str, original: str) -> None:
    message = only_message(name)
    assert message.kind == "unsupported"
    assert message.metadata["whatsapp_type"] == original
    assert message.provider_message_id.startswith("wamid.")


def test_username_sender_without_phone_uses_business_scoped_user_id() -> None:
    message = only_message("user_id")
    assert message.sender_address == "US.13491208655302741918"
    assert message.metadata["user_id"] == "US.13491208655302741918"
    assert message.metadata["username"] == "@jane.d"
    assert message.sender_name == "Jane"


def test_statuses_map_in_the_order_they_arrived() -> None:
    events = parse_notification(fixture("statuses"))
    assert [e.status for e in events if isinstance(e, StatusUpdate)] == [
        DeliveryStatus.SENT,
        DeliveryStatus.READ,
        DeliveryStatus.DELIVERED,
    ]
    assert all(isinstance(e, StatusUpdate) and e.provider_message_id == OUR_MESSAGE for e in events)
    assert isinstance(events[0], StatusUpdate)
    assert events[0].at == datetime.fromtimestamp(1739323000, UTC)


def test_failed_status_has_code_and_readable_reason() -> None:
    [update] = parse_notification(fixture("status_failed"))
    assert isinstance(update, StatusUpdate)
    assert update.status == DeliveryStatus.FAILED
    assert update.error_code == "131047"
    assert "24 hours" in update.error_reason
    assert "template" in update.error_reason


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (131026, "undeliverable"),
        (130429, "Throughput"),
        (131056, "same recipient"),
        (131048, "spam"),
        (80007, "rate limit"),
        (190, "access token"),
        (131051, "Unsupported"),
        (131052, "could not be downloaded"),
        (131053, "could not be uploaded"),
    ],
)
def test_known_status_error_codes_have_readable_reasons(code: int, words: str) -> None:
    doc = json.loads(fixture("status_failed"))
    doc["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]["code"] = code
    [update] = parse_notification(json.dumps(doc).encode())
    assert isinstance(update, StatusUpdate)
    assert update.error_code == str(code)
    assert words in update.error_reason


def test_unknown_error_code_falls_back_to_meta_details_without_phone_numbers() -> None:
    doc = json.loads(fixture("status_failed"))
    error = doc["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0]
    error.update(code=999999, error_data={"details": "Recipient +1 650-555-1234 is odd"})
    [update] = parse_notification(json.dumps(doc).encode())
    assert isinstance(update, StatusUpdate)
    assert update.error_reason == "WhatsApp error 999999: Recipient [number] is odd"


def test_unknown_status_values_are_skipped() -> None:
    doc = json.loads(fixture("statuses"))
    doc["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    events = parse_notification(json.dumps(doc).encode())
    assert [e.status for e in events if isinstance(e, StatusUpdate)] == ["read", "delivered"]


def test_batch_with_several_entries_changes_and_messages() -> None:
    events = parse_notification(fixture("batch"))
    messages = [e for e in events if isinstance(e, InboundMessage)]
    statuses = [e for e in events if isinstance(e, StatusUpdate)]
    assert [m.body for m in messages] == ["first", "second", "third"]
    assert [m.sender_name for m in messages] == ["Sheena Nelson", "Rafael Ortiz", "Sheena Nelson"]
    assert [m.metadata["phone_number_id"] for m in messages] == [
        "106540352242922",
        "106540352242922",
        "106540352242923",
    ]
    assert [s.status for s in statuses] == [DeliveryStatus.DELIVERED]


def test_non_message_fields_are_ignored() -> None:
    doc = json.loads(fixture("batch"))
    doc["entry"] = [doc["entry"][0]]
    doc["entry"][0]["changes"] = [doc["entry"][0]["changes"][1]]  # template status only
    assert parse_notification(json.dumps(doc).encode()) == []


# --- webhook parsing: malformed input ------------------------------------------------------


def _mutate(name: str, path: tuple[Any, ...], value: Any) -> bytes:
    doc = json.loads(fixture(name))
    parent = reduce(lambda node, key: node[key], path[:-1], doc)
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(doc).encode()


_DELETE = object()
MESSAGE = ("entry", 0, "changes", 0, "value", "messages", 0)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"[]", "body must be a JSON object"),
        (b'{"object":"page","entry":[]}', "body.object"),
        (b'{"object":"whatsapp_business_account"}', "body.entry"),
        (b'{"object":"whatsapp_business_account","entry":{}}', "body.entry"),
        (b'{"object":"whatsapp_business_account","entry":[1]}', "body.entry[0]"),
        (_mutate("text", (*MESSAGE, "id"), _DELETE), "messages[0].id is missing"),
        (_mutate("text", (*MESSAGE, "from"), _DELETE), "neither from nor from_user_id"),
        (_mutate("text", (*MESSAGE, "type"), 7), "messages[0].type must be a string"),
        (_mutate("text", (*MESSAGE, "timestamp"), "yesterday"), "timestamp"),
        (_mutate("text", (*MESSAGE, "timestamp"), 10**30), "timestamp"),
        (_mutate("text", (*MESSAGE, "text"), "hello"), "messages[0].text must be a JSON object"),
        (_mutate("text", (*MESSAGE, "text", "body"), ["x"]), "text.body must be a string"),
        (_mutate("image", (*MESSAGE, "image", "id"), _DELETE), "image.id is missing"),
        (_mutate("location", (*MESSAGE, "location", "latitude"), "north"), "latitude"),
        (_mutate("reaction", (*MESSAGE, "reaction", "message_id"), _DELETE), "message_id"),
        (_mutate("contacts", (*MESSAGE, "contacts"), {"name": "x"}), "contacts must be a JSON"),
        (_mutate("statuses", ("entry", 0, "changes", 0, "value", "statuses", 0, "id"), 5), "id"),
        (_mutate("text", ("entry", 0, "changes", 0, "value", "messages"), {}), "messages must"),
    ],
)
def test_malformed_notifications_are_refused_with_a_clear_message(raw: bytes, fragment: str) -> None:
    with pytest.raises(MalformedPayload, match=None) as caught:
        parse_notification(raw)
    assert fragment in str(caught.value)
    assert PATIENT not in str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
FIXTURE_DOCS = [json.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    paths = [prefix] if prefix else []
    for key, child in children:
        paths.extend(_paths(child, (*prefix, key)))
    return paths


@st.composite
def mutated_notifications(draw: st.DrawFn) -> bytes:
    doc = copy.deepcopy(draw(st.sampled_from(FIXTURE_DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = reduce(lambda node, key: node[key], path[:-1], doc)
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return json.dumps(doc).encode()


def _parses_or_refuses(raw: bytes) -> None:
    try:
        events = parse_notification(raw)
    except MalformedPayload:
        return
    for event in events:
        assert isinstance(event, InboundMessage | StatusUpdate)
        assert isinstance(event.provider_message_id, str) and event.provider_message_id
        if isinstance(event, InboundMessage):
            assert isinstance(event.sender_address, str) and event.sender_address
            assert isinstance(event.body, str)
            assert event.sent_at is None or event.sent_at.tzinfo is not None


@given(st.binary(max_size=500))
def test_arbitrary_bytes_parse_or_raise_malformed(raw: bytes) -> None:
    _parses_or_refuses(raw)


@given(json_values)
def test_arbitrary_json_parses_or_raises_malformed(value: Any) -> None:
    _parses_or_refuses(json.dumps(value).encode())
    wrapped = {"object": "whatsapp_business_account", "entry": [value]}
    _parses_or_refuses(json.dumps(wrapped).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_notifications())
def test_mutated_real_notifications_parse_or_raise_malformed(raw: bytes) -> None:
    _parses_or_refuses(raw)


# --- 24-hour customer service window and status ordering -------------------------------------


def test_customer_service_window() -> None:
    now = datetime(2025, 2, 12, 12, 0, tzinfo=UTC)
    assert not within_customer_service_window(None, now)
    assert within_customer_service_window(now - timedelta(hours=23, minutes=59), now)
    assert not within_customer_service_window(now - timedelta(hours=24), now)
    assert not within_customer_service_window(now - timedelta(days=3), now)
    assert within_customer_service_window(now + timedelta(seconds=5), now)  # clock skew
    with pytest.raises(ValueError):
        within_customer_service_window(datetime(2025, 2, 12), now)


@pytest.mark.parametrize(
    ("current", "new", "advances"),
    [
        ("queued", "sent", True),
        ("sent", "delivered", True),
        ("sent", "read", True),  # read arrived before delivered
        ("read", "delivered", False),  # ...and the late delivered must not move it back
        ("delivered", "sent", False),
        ("sent", "sent", False),
        ("queued", "failed", True),
        ("sent", "failed", True),
        ("delivered", "failed", False),
        ("read", "failed", False),
        ("failed", "delivered", False),
        ("failed", "failed", False),
        ("received", "read", False),
        ("sent", "bogus", False),
    ],
)
def test_status_may_advance(current: str, new: str, advances: bool) -> None:
    assert status_may_advance(current, new) is advances


@given(st.sampled_from(list(DeliveryStatus)), st.sampled_from(list(DeliveryStatus)))
def test_status_never_moves_both_ways(a: DeliveryStatus, b: DeliveryStatus) -> None:
    assert not (status_may_advance(a, b) and status_may_advance(b, a))


@given(st.permutations(["sent", "delivered", "read"]))
def test_any_arrival_order_ends_at_read(order: list[str]) -> None:
    current = "queued"
    for new in order:
        if status_may_advance(current, new):
            current = new
    assert current == "read"


# --- sending ---------------------------------------------------------------------------------


def client_for(fake: FakeGraphAPI, **kwargs: Any) -> WhatsAppClient:
    return WhatsAppClient(
        fake.phone_number_id,
        fake.access_token,
        api_base_url=fake.base_url,
        api_version=fake.api_version,
        **kwargs,
    )


def outbound(**kwargs: Any) -> OutboundMessage:
    return OutboundMessage(**{"idempotency_key": "msg-1", "to_address": PATIENT, "body": "", **kwargs})


def test_send_text(fake_graph: FakeGraphAPI) -> None:
    receipt = client_for(fake_graph).send(outbound(body="Your results are ready in the portal."))
    assert receipt.provider_message_id == "wamid.FAKE00000001"
    assert receipt.status == DeliveryStatus.SENT
    [request] = fake_graph.requests_on("send")
    assert request.path == "/v21.0/106540352242922/messages"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PATIENT,
        "type": "text",
        "text": {"body": "Your results are ready in the portal."},
        "biz_opaque_callback_data": "msg-1",  # echoed in status webhooks: names the message
    }


def test_send_template_with_body_parameters(fake_graph: FakeGraphAPI) -> None:
    message = outbound(
        kind="template",
        template_name="appointment_reminder",
        template_language="en_US",
        template_params=("Sheena", "Wed 12 Feb, 3:00 pm"),
    )
    client_for(fake_graph).send(message)
    assert fake_graph.requests_on("send")[0].json()["template"] == {
        "name": "appointment_reminder",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Sheena"},
                    {"type": "text", "text": "Wed 12 Feb, 3:00 pm"},
                ],
            }
        ],
    }


def test_template_without_parameters_has_no_components() -> None:
    payload = message_payload(outbound(kind="template", template_name="hello_world", template_language="en_US"))
    assert payload["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_send_reply_buttons(fake_graph: FakeGraphAPI) -> None:
    buttons = (
        OutboundButton("confirm", "Confirm"),
        OutboundButton("reschedule", "Reschedule"),
        OutboundButton("cancel_appt", "Cancel appointment"),
    )
    client_for(fake_graph).send(outbound(kind="interactive", body="See you Wed at 3pm?", buttons=buttons))
    assert fake_graph.requests_on("send")[0].json()["interactive"] == {
        "type": "button",
        "body": {"text": "See you Wed at 3pm?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "confirm", "title": "Confirm"}},
                {"type": "reply", "reply": {"id": "reschedule", "title": "Reschedule"}},
                {"type": "reply", "reply": {"id": "cancel_appt", "title": "Cancel appointment"}},
            ]
        },
    }


@pytest.mark.parametrize(
    ("content_type", "filename", "body", "expected_type", "expected"),
    [
        ("image/jpeg", "", "Your x-ray", "image", {"caption": "Your x-ray"}),
        ("video/mp4", "", "Exercise video", "video", {"caption": "Exercise video"}),
        ("audio/mpeg", "", "", "audio", {}),
        (
            "application/pdf",
            "invoice.pdf",
            "Your invoice",
            "document",
            {"caption": "Your invoice", "filename": "invoice.pdf"},
        ),
    ],
)
def test_send_media_by_link(
    fake_graph: FakeGraphAPI,
    content_type: str,
    filename: str,
    body: str,
    expected_type: str,
    expected: dict[str, str],
) -> None:
    media = (OutboundMedia("https://files.example.org/m/abc", content_type, filename),)
    client_for(fake_graph).send(outbound(kind="media", body=body, media=media))
    payload = fake_graph.requests_on("send")[0].json()
    assert payload["type"] == expected_type
    assert payload[expected_type] == {"link": "https://files.example.org/m/abc", **expected}


def _buttons(n: int, title: str = "OK", id_length: int = 2) -> tuple[OutboundButton, ...]:
    return tuple(OutboundButton(f"{i}".rjust(id_length, "b"), title) for i in range(n))


@pytest.mark.parametrize(
    "message",
    [
        outbound(body=""),
        outbound(body="x" * 4097),
        outbound(to_address="", body="hi"),
        outbound(kind="carrier_pigeon", body="hi"),
        outbound(kind="template", template_name="reminder"),
        outbound(kind="interactive", body="Pick one", buttons=_buttons(4)),
        outbound(kind="interactive", body="Pick one", buttons=()),
        outbound(kind="interactive", body="Pick one", buttons=_buttons(1, title="x" * 21)),
        outbound(kind="interactive", body="Pick one", buttons=_buttons(1, title="")),
        outbound(kind="interactive", body="Pick one", buttons=_buttons(1, id_length=257)),
        outbound(kind="interactive", body="", buttons=_buttons(1)),
        outbound(
            kind="interactive",
            body="Pick one",
            buttons=(OutboundButton("a", "One"), OutboundButton("a", "Two")),
        ),
        outbound(kind="media", media=()),
        outbound(kind="media", media=(OutboundMedia("https://x.example/a", "audio/ogg"),) * 2),
        outbound(kind="media", body="hi", media=(OutboundMedia("https://x.example/a", "audio/ogg"),)),
    ],
)
def test_invalid_messages_fail_before_sending(fake_graph: FakeGraphAPI, message: OutboundMessage) -> None:
    with pytest.raises(ValueError):
        client_for(fake_graph).send(message)
    assert fake_graph.requests == []


def test_button_limits_are_inclusive(fake_graph: FakeGraphAPI) -> None:
    buttons = (
        OutboundButton("x" * 256, "y" * 20),
        OutboundButton("2", "Two"),
        OutboundButton("3", "Three"),
    )
    client_for(fake_graph).send(outbound(kind="interactive", body="Pick", buttons=buttons))


@pytest.mark.parametrize(
    ("code", "http_status", "error", "reason_words"),
    [
        (131047, 400, PermanentSendError, "24 hours"),
        (131026, 400, PermanentSendError, "undeliverable"),
        (190, 401, PermanentSendError, "access token"),
        (100, 400, PermanentSendError, "invalid parameter"),
        (131051, 400, PermanentSendError, "Unsupported"),
        (131009, 400, PermanentSendError, "not valid"),
        (130429, 400, RetryableSendError, "Throughput"),
        (131056, 400, RetryableSendError, "same recipient"),
        (131048, 400, RetryableSendError, "spam"),
        (80007, 400, RetryableSendError, "rate limit"),
        (131000, 500, RetryableSendError, "internal error"),
        (1, 500, RetryableSendError, "WhatsApp error 1"),
    ],
)
def test_graph_errors_map_to_retryable_or_permanent(
    fake_graph: FakeGraphAPI,
    code: int,
    http_status: int,
    error: type[SendError],
    reason_words: str,
) -> None:
    fake_graph.graph_error(code, http_status=http_status, details="Param to +16505551234 bad")
    with pytest.raises(error) as caught:
        client_for(fake_graph).send(outbound(body="hello"))
    assert caught.value.code == str(code)
    assert reason_words in caught.value.reason
    assert "16505551234" not in caught.value.reason


def test_rate_limit_honours_retry_after(fake_graph: FakeGraphAPI) -> None:
    fake_graph.graph_error(130429, http_status=429, retry_after="42")
    with pytest.raises(RetryableSendError) as caught:
        client_for(fake_graph).send(outbound(body="hello"))
    assert caught.value.retry_after == 42.0


def test_http_429_without_a_body_is_retryable(fake_graph: FakeGraphAPI) -> None:
    date = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    fake_graph.reply_next(Reply(status=429, headers={"Retry-After": date}), route="send")
    with pytest.raises(RetryableSendError) as caught:
        client_for(fake_graph).send(outbound(body="hello"))
    assert caught.value.code == "http_429"
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(fake_graph: FakeGraphAPI, status: int) -> None:
    fake_graph.reply_next(Reply(status=status, body=b"<html>oops</html>"), route="send")
    with pytest.raises(RetryableSendError) as caught:
        client_for(fake_graph).send(outbound(body="hello"))
    assert caught.value.code == f"http_{status}"
    assert caught.value.retry_after is None


def test_other_client_errors_are_permanent(fake_graph: FakeGraphAPI) -> None:
    fake_graph.reply_next(Reply(status=404, body=b"not here"), route="send")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).send(outbound(body="hello"))
    assert caught.value.code == "http_404"


def test_timeout_is_retryable(fake_graph: FakeGraphAPI) -> None:
    fake_graph.reply_next(Reply(json_body={}, delay=1.0), route="send")
    with pytest.raises(RetryableSendError) as caught:
        client_for(fake_graph, timeout=0.2).send(outbound(body="hello"))
    assert caught.value.code == "timeout"


def test_connection_refused_is_retryable() -> None:
    with FakeGraphAPI() as fake:
        base = fake.base_url  # the port is closed once the server stops
    client = WhatsAppClient("106540352242922", "t", api_base_url=base)
    with pytest.raises(RetryableSendError) as caught:
        client.send(outbound(body="hello"))
    assert caught.value.code == "connection"


@pytest.mark.parametrize("body", [{"messaging_product": "whatsapp"}, {"messages": [{}]}, []])
def test_success_without_message_id_is_not_retried(fake_graph: FakeGraphAPI, body: Any) -> None:
    fake_graph.reply_next(Reply(json_body=body), route="send")
    with pytest.raises(PermanentSendError):
        client_for(fake_graph).send(outbound(body="hello"))


def test_check_credentials_returns_display_number(fake_graph: FakeGraphAPI) -> None:
    assert client_for(fake_graph).check_credentials() == "+1 555-078-3881"
    [request] = fake_graph.requests_on("phone_number")
    assert request.path == "/v21.0/106540352242922"


def test_check_credentials_with_expired_token(fake_graph: FakeGraphAPI) -> None:
    fake_graph.graph_error(190, http_status=401, route="phone_number")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).check_credentials()
    assert caught.value.code == "190"


def test_fake_graph_rejects_requests_that_break_the_contract(fake_graph: FakeGraphAPI) -> None:
    url = f"{fake_graph.base_url}/v21.0/{fake_graph.phone_number_id}/messages"
    wrong = {"messaging_product": "whatsapp", "to": PATIENT, "type": "text", "text": {}}
    response = httpx.post(url, json=wrong, headers={"Authorization": "Bearer EAAtest-token"})
    assert response.status_code == 400
    unauthenticated = httpx.post(url, json={})
    assert unauthenticated.status_code == 400
    assert len(fake_graph.problems) == 2
    fake_graph.problems.clear()


def test_nothing_patient_identifying_is_logged(fake_graph: FakeGraphAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    parse_notification(fixture("text"))
    client_for(fake_graph).send(outbound(body="Your results are ready"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert PATIENT not in logged and "results" not in logged and "Tuesday" not in logged


# --- media -----------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2048


def test_fetch_media(fake_graph: FakeGraphAPI) -> None:
    fake_graph.add_media("1003383421387256", JPEG, "image/jpeg")
    content, content_type = client_for(fake_graph).fetch_media(
        "1003383421387256", max_bytes=10_000, allowed_types={"image/jpeg", "application/pdf"}
    )
    assert content == JPEG and content_type == "image/jpeg"
    info, download = fake_graph.requests
    assert info.path == "/v21.0/1003383421387256"
    assert download.route == "media_download"
    assert download.headers["authorization"] == "Bearer EAAtest-token"


def test_fetch_media_accepts_wildcards_and_strips_parameters(fake_graph: FakeGraphAPI) -> None:
    fake_graph.add_media("55", b"OggS", "audio/ogg; codecs=opus")
    _, content_type = client_for(fake_graph).fetch_media("55", max_bytes=100, allowed_types=["audio/*"])
    assert content_type == "audio/ogg"


def test_fetch_media_refuses_declared_size_before_downloading(fake_graph: FakeGraphAPI) -> None:
    fake_graph.add_media("56", JPEG, "image/jpeg")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).fetch_media("56", max_bytes=1000, allowed_types={"image/jpeg"})
    assert caught.value.code == "media_too_large"
    assert fake_graph.requests_on("media_download") == []


def test_fetch_media_stops_reading_past_the_limit(fake_graph: FakeGraphAPI) -> None:
    url = fake_graph.add_media("57", JPEG, "image/jpeg")
    info = {"url": url, "mime_type": "image/jpeg", "id": "57"}  # no file_size
    fake_graph.reply_next(Reply(json_body=info), route="media_info")
    big = Reply(body=JPEG, headers={"Content-Type": "image/jpeg"}, send_content_length=False)
    fake_graph.reply_next(big, route="media_download")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).fetch_media("57", max_bytes=1000, allowed_types={"image/jpeg"})
    assert caught.value.code == "media_too_large"


def test_fetch_media_refuses_types_not_allowed(fake_graph: FakeGraphAPI) -> None:
    fake_graph.add_media("58", b"MZ\x90\x00", "application/x-msdownload")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).fetch_media("58", max_bytes=100, allowed_types={"image/*"})
    assert caught.value.code == "media_type_not_allowed"
    assert fake_graph.requests_on("media_download") == []


def test_fetch_media_checks_the_served_type_too(fake_graph: FakeGraphAPI) -> None:
    fake_graph.add_media("59", b"<html>", "image/jpeg")
    fake_graph.reply_next(Reply(body=b"<html>", headers={"Content-Type": "text/html"}), route="media_download")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).fetch_media("59", max_bytes=100, allowed_types={"image/jpeg"})
    assert caught.value.code == "media_type_not_allowed"


def test_unknown_media_id_is_permanent(fake_graph: FakeGraphAPI) -> None:
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).fetch_media("404404", max_bytes=100, allowed_types={"image/*"})
    assert caught.value.code == "100"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://evil.example/steal",
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",  # not https
        "https://lookaside.fbsbx.com.evil.example/x",
        "https://evilfbcdn.net/x",
        "https://lookaside.fbsbx.com:8443/x",
        "https://attacker@lookaside.fbsbx.com/x",
        "file:///etc/passwd",
        "not a url",
    ],
)
def test_fetch_media_refuses_urls_outside_meta(fake_graph: FakeGraphAPI, url: str) -> None:
    fake_graph.add_media("60", JPEG, "image/jpeg", url=url)
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).fetch_media("60", max_bytes=10_000, allowed_types={"image/jpeg"})
    assert caught.value.code == "media_host_not_allowed"
    assert fake_graph.requests_on("media_download") == []


def test_fetch_media_refuses_a_redirect_outside_meta(fake_graph: FakeGraphAPI) -> None:
    fake_graph.add_media("61", JPEG, "image/jpeg")
    fake_graph.reply_next(Reply(status=302, headers={"Location": "http://10.0.0.1/admin"}), route="media_download")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_graph).fetch_media("61", max_bytes=10_000, allowed_types={"image/jpeg"})
    assert caught.value.code == "media_host_not_allowed"


def test_fetch_media_from_meta_cdn_hosts() -> None:
    seen: list[str] = []

    def graph(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host}{request.url.path}")
        assert request.headers["Authorization"] == "Bearer tok"
        if request.url.host == "graph.facebook.com":
            url = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=7"
            return httpx.Response(200, json={"url": url, "mime_type": "image/jpeg", "id": "7"})
        if request.url.host == "lookaside.fbsbx.com":
            cdn = "https://scontent.xx.fbcdn.net/v/t61/7.jpg"
            return httpx.Response(302, headers={"Location": cdn})
        return httpx.Response(200, content=JPEG, headers={"Content-Type": "image/jpeg"})

    http = httpx.Client(transport=httpx.MockTransport(graph))
    client = WhatsAppClient("106540352242922", "tok", http=http)
    content, _ = client.fetch_media("7", max_bytes=10_000, allowed_types={"image/jpeg"})
    assert content == JPEG
    assert seen == [
        "graph.facebook.com/v21.0/7",
        "lookaside.fbsbx.com/whatsapp_business/attachments/",
        "scontent.xx.fbcdn.net/v/t61/7.jpg",
    ]


def test_media_id_cannot_escape_the_path(fake_graph: FakeGraphAPI) -> None:
    with pytest.raises(ValueError):
        client_for(fake_graph).fetch_media("../../me", max_bytes=1, allowed_types={"image/*"})
