"""Threading helpers and compose_email, including the round trip through parse_email."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from converge.providers.email import (
    OutgoingAttachment,
    compose_email,
    conversation_from_message_ids,
    make_message_id,
    make_reply_address,
    make_reply_token,
    message_id_for,
    normalize_text,
    parse_email,
    reply_token_from_addresses,
)
from converge.providers.types import OutboundMedia, OutboundMessage

CONV = "7d0f3c2e-5b8a-4c1d-9e6f-2a4b6c8d0e1f"


def test_make_message_id() -> None:
    assert make_message_id(CONV, 42, "clinic.example") == f"<conv-{CONV}.42@clinic.example>"
    assert make_message_id(CONV.upper(), 7, "Clinic.Example") == f"<conv-{CONV}.7@clinic.example>"
    for bad in (
        lambda: make_message_id("not-a-uuid", 1, "clinic.example"),
        lambda: make_message_id(CONV, -1, "clinic.example"),
        lambda: make_message_id(CONV, 1, "bad domain"),
        lambda: make_message_id(CONV, 1, "x>@y"),
    ):
        with pytest.raises(ValueError):
            bad()


def test_conversation_from_message_ids() -> None:
    ours = make_message_id(CONV, 42, "clinic.example")
    assert conversation_from_message_ids([ours]) == CONV
    assert conversation_from_message_ids(["<x@gmail.com>", None or "", ours]) == CONV
    # A whole References header value, with folding whitespace.
    assert conversation_from_message_ids([f"<a@b>\r\n {ours} <c@d>"]) == CONV
    # Brackets dropped by a client, and upper-cased ids.
    assert conversation_from_message_ids([ours.strip("<>").upper()]) == CONV
    assert conversation_from_message_ids(["<a@b>", "<conv-nope.1@clinic.example>"]) is None
    assert conversation_from_message_ids([]) is None
    assert conversation_from_message_ids([ours], domain="clinic.example") == CONV
    assert conversation_from_message_ids([ours], domain="other.example") is None


def test_reply_address_round_trip() -> None:
    token = make_reply_token()
    assert token.isalnum() and token == token.lower() and len(token) == 24
    address = make_reply_address("frontdesk@clinic.example", token)
    assert address == f"frontdesk+{token}@clinic.example"
    assert reply_token_from_addresses([address], "frontdesk@clinic.example") == token
    # Display names, other recipients and case changes on the way.
    recipients = ["Someone <a@b.example>", f"Clinic <{address.upper()}>"]
    assert reply_token_from_addresses(recipients, "FrontDesk@Clinic.Example") == token
    assert reply_token_from_addresses(["frontdesk@clinic.example"], "frontdesk@clinic.example") is None
    assert reply_token_from_addresses([f"other+{token}@clinic.example"], "frontdesk@clinic.example") is None
    assert reply_token_from_addresses([f"frontdesk+{token}@evil.example"], "frontdesk@clinic.example") is None
    assert reply_token_from_addresses(["frontdesk+a b@clinic.example"], "frontdesk@clinic.example") is None


def test_reply_address_with_plus_in_channel_address() -> None:
    address = make_reply_address("clinic+inbox@example.com", "abc123")
    assert address == "clinic+inbox+abc123@example.com"
    assert reply_token_from_addresses([address], "clinic+inbox@example.com") == "abc123"


@pytest.mark.parametrize("token", ["", "UPPER", "a+b", "a@b", "x" * 65, "-lead"])
def test_reply_token_validation(token: str) -> None:
    with pytest.raises(ValueError):
        make_reply_address("frontdesk@clinic.example", token)


def _message(**metadata: object) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="msg-42-attempt",
        to_address="Maria.Lopez@gmail.com",
        body="Hello María,\n\nYour appointment is <b>Tuesday</b> at 3 & 4 pm.\n",
        metadata=dict(metadata),
    )


def test_compose_headers() -> None:
    now = datetime(2025, 1, 6, 9, 2, 17, tzinfo=UTC)
    msg = compose_email(
        _message(
            subject="Your appointment on Tuesday",
            conversation_uuid=CONV,
            message_pk=42,
            in_reply_to="<CAJx8Q@mail.gmail.com>",
            references=["<first@clinic.example>"],
            reply_token="a1b2c3",
            automatic=True,
        ),
        from_address="frontdesk@clinic.example",
        from_name="Sunrise Family Clinic",
        domain="clinic.example",
        now=now,
    )
    assert msg["Message-ID"] == f"<conv-{CONV}.42@clinic.example>"
    assert msg["From"] == "Sunrise Family Clinic <frontdesk@clinic.example>"
    assert msg["To"] == "Maria.Lopez@gmail.com"
    assert msg["Subject"] == "Your appointment on Tuesday"
    assert msg["In-Reply-To"] == "<CAJx8Q@mail.gmail.com>"
    assert msg["References"] == "<first@clinic.example> <CAJx8Q@mail.gmail.com>"
    assert msg["Reply-To"] == "frontdesk+a1b2c3@clinic.example"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"] == "Mon, 06 Jan 2025 09:02:17 +0000"
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "&lt;b&gt;Tuesday&lt;/b&gt;" in content and "3 &amp; 4 pm" in content
    assert "<b>" not in content


def test_compose_message_id_is_stable_without_metadata() -> None:
    first = message_id_for(_message(), "clinic.example")
    assert first == message_id_for(_message(), "clinic.example")
    assert first.endswith("@clinic.example>")
    msg = compose_email(_message(), from_address="f@clinic.example", from_name="", domain="clinic.example")
    assert msg["Message-ID"] == first
    assert msg["Subject"] == "Message"
    assert msg["Auto-Submitted"] is None and msg["Reply-To"] is None


def test_compose_rejects_bad_input() -> None:
    bad_to = OutboundMessage(idempotency_key="k", to_address="not an address", body="x")
    with pytest.raises(ValueError):
        compose_email(bad_to, from_address="f@clinic.example", from_name="", domain="clinic.example")
    media = OutboundMessage(
        idempotency_key="k",
        to_address="a@example.com",
        body="x",
        media=(OutboundMedia(url="https://x/y.pdf", content_type="application/pdf"),),
    )
    with pytest.raises(ValueError, match="attachments"):
        compose_email(media, from_address="f@clinic.example", from_name="", domain="clinic.example")


def test_compose_subject_injection_is_neutralised() -> None:
    msg = compose_email(
        _message(subject="Hi\r\nBcc: victim@example.com"),
        from_address="f@clinic.example",
        from_name="Clinic\nBcc: x@y",
        domain="clinic.example",
    )
    raw = msg.as_bytes()
    assert b"\nBcc:" not in raw
    parsed = parse_email(raw)
    assert parsed.subject == "Hi Bcc: victim@example.com"


def test_compose_round_trip_through_parse() -> None:
    msg = compose_email(
        _message(subject="Re: Your appointment", in_reply_to="<p@gmail.com>", reply_token="tok1"),
        from_address="frontdesk@clinic.example",
        from_name="Clínica Sol",
        domain="clinic.example",
        attachments=[OutgoingAttachment("instructions.pdf", "application/pdf", b"%PDF-1.4 x")],
    )
    parsed = parse_email(msg.as_bytes())
    assert parsed.from_address == "frontdesk@clinic.example"
    assert parsed.from_name == "Clínica Sol"
    assert parsed.to_addresses == ("maria.lopez@gmail.com",)
    assert parsed.reply_to_addresses == ("frontdesk+tok1@clinic.example",)
    assert parsed.message_id == msg["Message-ID"]
    assert parsed.in_reply_to == "<p@gmail.com>"
    assert parsed.normalized_subject == "Your appointment"
    assert parsed.text == "Hello María,\n\nYour appointment is <b>Tuesday</b> at 3 & 4 pm."
    assert parsed.display_text == parsed.text
    assert [a.filename for a in parsed.attachments] == ["instructions.pdf"]
    assert not parsed.is_auto_reply


@pytest.mark.parametrize("odd", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x00", "\x9f"])
def test_compose_round_trip_odd_characters(odd: str) -> None:
    message = OutboundMessage(idempotency_key="k", to_address="p@example.com", body=f"a{odd}b")
    msg = compose_email(message, from_address="f@clinic.example", from_name="C", domain="clinic.example")
    assert parse_email(msg.as_bytes()).text == normalize_text(f"a{odd}b")


@settings(max_examples=150, deadline=None)
@given(
    body=st.text(st.characters(blacklist_categories=["Cs"]), max_size=400),
    subject=st.text(max_size=120),
)
# Found by hypothesis in CI: the folder dropped the space between two encoded words.
@example(body="", subject="00000000 000000\xa0\xa0\xa0\xa0\xa0\xa0\U00010000\U00010000\U00010000\U00010000 \xa1")
def test_compose_parse_round_trip_property(body: str, subject: str) -> None:
    message = OutboundMessage(idempotency_key="k", to_address="p@example.com", body=body, metadata={"subject": subject})
    msg = compose_email(message, from_address="f@clinic.example", from_name="C", domain="clinic.example")
    parsed = parse_email(msg.as_bytes())
    assert parsed.text == normalize_text(body)
    expected = str(msg["Subject"]) if subject.strip() else "Message from C"
    # Header folding and RFC 2047 encoded words may change runs of whitespace, nothing else.
    assert " ".join(parsed.subject.split()) == " ".join(expected.split())
