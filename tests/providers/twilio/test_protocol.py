"""Twilio SMS/MMS protocol: signatures, webhook parsing, keywords, segments, sending, media."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge.providers.twilio.protocol import (
    TwilioClient,
    candidate_urls,
    classify_keyword,
    compute_signature,
    parse_inbound,
    parse_status,
    sms_segments,
    validate_signature,
)
from converge.providers.types import (
    DeliveryStatus,
    MalformedPayload,
    OutboundMedia,
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SignatureError,
)
from tests.providers.fakes import FakeTwilioAPI, Reply

FIXTURES = Path(__file__).parent / "fixtures"
PATIENT = "+14155550123"
SERVICE = "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"

# twilio-python tests/unit/test_request_validator.py
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def fixture(name: str) -> dict[str, list[str]]:
    return parse_qs((FIXTURES / f"{name}.txt").read_text().strip(), keep_blank_values=True)


class MultiValueDict(dict[str, list[str]]):
    """Mimics Django's QueryDict: indexing gives the last value, getlist gives them all."""

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key)[-1]

    def getlist(self, key: str) -> list[str]:
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        return super().__iter__()


# --- signatures ------------------------------------------------------------------------------


def test_public_signature_vector() -> None:
    assert compute_signature(URL, PARAMS, TOKEN) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    validate_signature(URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TOKEN)


@pytest.mark.parametrize(
    "params",
    [
        {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234"]},
        MultiValueDict(Sid=["CA123"], SidAccount=["AC123"], Digits=["5678", "1234"]),
    ],
)
def test_repeated_names_sign_their_values_sorted(params: Any) -> None:
    assert compute_signature(URL, params, TOKEN) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # signed without port
        (
            URL.replace(".com", ".com:1234").replace("https", "http"),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",  # signed with port 1234
        ),
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443
        (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # signed with :80
        (URL.replace(".com", ".com:443"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # proxy added :443
    ],
)
def test_signature_accepted_with_and_without_port(url: str, signature: str) -> None:
    validate_signature(url, PARAMS, signature, TOKEN)


def test_candidate_urls() -> None:
    assert candidate_urls("https://a.example/p?q=1") == [
        "https://a.example/p?q=1",
        "https://a.example:443/p?q=1",
    ]
    assert candidate_urls("http://a.example:80/p") == ["http://a.example:80/p", "http://a.example/p"]
    assert candidate_urls("https://u:pw@a.example:8443/p") == [
        "https://u:pw@a.example:8443/p",
        "https://u:pw@a.example/p",
    ]
    assert candidate_urls("https://[::1]:8443/p") == ["https://[::1]:8443/p", "https://[::1]/p"]


def test_json_body_signature_vector() -> None:
    assert hashlib.sha256(JSON_BODY).hexdigest() == JSON_BODY_HASH
    url = f"{URL}&bodySHA256={JSON_BODY_HASH}"
    validate_signature(url, {}, "a9nBmqA0ju/hNViExpshrM61xv4=", TOKEN, raw_body=JSON_BODY)
    with pytest.raises(SignatureError, match="bodySHA256"):
        validate_signature(url, {}, "a9nBmqA0ju/hNViExpshrM61xv4=", TOKEN, raw_body=b"{}")
    with pytest.raises(SignatureError):
        validate_signature(url, {}, "a9nBmqA0ju/hNViExpshrM61xv4=", TOKEN)


@pytest.mark.parametrize(
    ("url", "params", "signature", "token"),
    [
        (URL, PARAMS, None, TOKEN),
        (URL, PARAMS, "", TOKEN),
        (URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "other-token"),
        (URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", ""),
        (URL, {**PARAMS, "Digits": "1235"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TOKEN),
        (URL.replace("foo=1", "foo=2"), PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TOKEN),
        (URL.replace("https", "http"), PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TOKEN),
        (URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=é", TOKEN),
    ],
)
def test_bad_signatures_are_refused(url: str, params: dict[str, str], signature: str | None, token: str) -> None:
    with pytest.raises(SignatureError):
        validate_signature(url, params, signature, token)


PUBLIC_URL = "https://clinic.example.com/webhooks/twilio/sms/5f0c2a"


@pytest.mark.parametrize("name", ["inbound_sms", "inbound_mms", "inbound_messaging_service", "status_delivered"])
def test_real_shaped_webhooks_validate_behind_a_proxy(name: str) -> None:
    params = fixture(name)
    signature = compute_signature(PUBLIC_URL, params, "a0b1c2d3e4f5")
    validate_signature(PUBLIC_URL, params, signature, "a0b1c2d3e4f5")
    # The proxy forwarded to an internal port, and the view rebuilt the URL with :443.
    validate_signature(PUBLIC_URL.replace(".com", ".com:443"), params, signature, "a0b1c2d3e4f5")
    with pytest.raises(SignatureError):  # a URL rebuilt from the internal Host header
        validate_signature("http://10.0.0.5:8000/webhooks/twilio/sms/5f0c2a", params, signature, "a0b1c2d3e4f5")


def test_messaging_service_sid_is_part_of_the_signature() -> None:
    params = fixture("inbound_messaging_service")
    signature = compute_signature(PUBLIC_URL, params, "a0b1c2d3e4f5")
    without = {k: v for k, v in params.items() if k != "MessagingServiceSid"}
    with pytest.raises(SignatureError):
        validate_signature(PUBLIC_URL, without, signature, "a0b1c2d3e4f5")


form_params = st.dictionaries(
    st.text(min_size=1, max_size=15),
    st.text(max_size=30) | st.lists(st.text(max_size=10), min_size=1, max_size=3),
    max_size=8,
)


@given(
    path=st.text(alphabet="abcdefghij/-_", max_size=20),
    params=form_params,
    token=st.text(min_size=1, max_size=32),
)
def test_signature_round_trip(path: str, params: dict[str, Any], token: str) -> None:
    url = f"https://clinic.example.com/{path}?x=1"
    signature = compute_signature(url, params, token)
    validate_signature(url, params, signature, token)
    with pytest.raises(SignatureError):
        validate_signature(url, {**params, "\x00extra": "1"}, signature, token)


# --- inbound ---------------------------------------------------------------------------------


def test_inbound_sms() -> None:
    message = parse_inbound(fixture("inbound_sms"))
    assert message.provider_message_id == "SM000000000000000000000000000000a1"
    assert message.sender_address == PATIENT
    assert message.body == "Hi, is the clinic open Saturday?"
    assert message.kind == "text"
    assert message.attachments == ()
    assert message.metadata["to"] == "+14155550100"
    assert message.metadata["account_sid"].startswith("AC")
    assert "keyword" not in message.metadata


def test_inbound_mms_has_attachments_with_urls() -> None:
    message = parse_inbound(fixture("inbound_mms"))
    assert message.kind == "image"
    assert [(a.content_type, str(a.url).rsplit("/", 1)[1]) for a in message.attachments] == [
        ("image/jpeg", "ME00000000000000000000000000000001"),
        ("image/png", "ME00000000000000000000000000000002"),
    ]
    assert all(str(a.url).startswith("https://api.twilio.com/") for a in message.attachments)


def test_inbound_through_a_messaging_service() -> None:
    message = parse_inbound(fixture("inbound_messaging_service"))
    assert message.metadata["messaging_service_sid"] == SERVICE
    assert message.body == "2"


def test_inbound_stop_is_flagged() -> None:
    message = parse_inbound(fixture("inbound_stop"))
    assert message.metadata["keyword"] == "stop"
    assert message.metadata["opt_out_type"] == "STOP"


def test_sms_sid_is_accepted_when_message_sid_is_absent() -> None:
    message = parse_inbound({"SmsSid": "SM1", "From": PATIENT, "Body": "hi"})
    assert message.provider_message_id == "SM1"


def test_query_dict_style_params_are_accepted() -> None:
    params = MultiValueDict({k: v for k, v in fixture("inbound_sms").items()})
    assert parse_inbound(params).body == "Hi, is the clinic open Saturday?"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"From": PATIENT, "Body": "hi"}, "MessageSid"),
        ({"MessageSid": "SM1", "Body": "hi"}, "From"),
        ({"MessageSid": "SM1", "From": PATIENT, "NumMedia": "two"}, "NumMedia"),
        ({"MessageSid": "SM1", "From": PATIENT, "NumMedia": "11"}, "NumMedia"),
        ({"MessageSid": "SM1", "From": PATIENT, "NumMedia": "-1"}, "NumMedia"),
        ({"MessageSid": "SM1", "From": PATIENT, "NumMedia": "1"}, "MediaUrl0"),
        ({"MessageSid": "SM1", "From": 5}, "From"),
        ({"MessageSid": ["SM1", 2], "From": PATIENT}, "MessageSid"),
    ],
)
def test_malformed_inbound_is_refused(params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MalformedPayload, match=fragment):
        parse_inbound(params)


any_params = st.dictionaries(
    st.sampled_from(
        [
            "MessageSid",
            "SmsSid",
            "From",
            "Body",
            "NumMedia",
            "MediaUrl0",
            "MediaContentType0",
            "MediaUrl1",
            "MessageStatus",
            "SmsStatus",
            "ErrorCode",
            "ErrorMessage",
        ]
    )
    | st.text(max_size=10),
    st.text(max_size=12)
    | st.sampled_from(["0", "1", "2", "10", "delivered", "failed", "21610"])
    | st.lists(st.text(max_size=5), max_size=3)
    | st.integers()
    | st.none(),
    max_size=8,
)


@given(any_params)
def test_arbitrary_params_parse_or_raise_malformed(params: dict[str, Any]) -> None:
    for parse in (parse_inbound, parse_status):
        with contextlib.suppress(MalformedPayload):
            parse(params)


# --- status callbacks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "code", "opted_out"),
    [
        ("status_sent", DeliveryStatus.SENT, "", False),
        ("status_delivered", DeliveryStatus.DELIVERED, "", False),
        ("status_read", DeliveryStatus.READ, "", False),
        ("status_undelivered", DeliveryStatus.FAILED, "30007", False),
        ("status_failed_opted_out", DeliveryStatus.FAILED, "21610", True),
    ],
)
def test_status_callbacks(name: str, status: DeliveryStatus, code: str, opted_out: bool) -> None:
    update = parse_status(fixture(name))
    assert update.provider_message_id == "SM000000000000000000000000000000b1"
    assert update.status == status
    assert update.error_code == code
    assert update.recipient_opted_out is opted_out
    assert bool(update.error_reason) is (status == DeliveryStatus.FAILED)


def test_status_reasons_are_readable() -> None:
    assert "spam" in parse_status(fixture("status_undelivered")).error_reason
    assert "STOP" in parse_status(fixture("status_failed_opted_out")).error_reason


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("accepted", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.SENDING),
        ("undelivered", DeliveryStatus.FAILED),
        ("canceled", DeliveryStatus.FAILED),
        ("DELIVERED", DeliveryStatus.DELIVERED),
    ],
)
def test_status_values(raw: str, status: DeliveryStatus) -> None:
    assert parse_status({"MessageSid": "SM1", "MessageStatus": raw}).status == status


def test_unknown_error_code_keeps_twilio_text_without_numbers() -> None:
    update = parse_status(
        {
            "MessageSid": "SM1",
            "MessageStatus": "failed",
            "ErrorCode": "39999",
            "ErrorMessage": "Cannot reach +1 415 555 0123 today",
        }
    )
    assert update.error_reason == "Twilio error 39999: Cannot reach [number] today"


@pytest.mark.parametrize(
    "params",
    [
        {"MessageStatus": "delivered"},
        {"MessageSid": "SM1"},
        {"MessageSid": "SM1", "MessageStatus": "teleported"},
    ],
)
def test_malformed_status_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(MalformedPayload):
        parse_status(params)


# --- keywords and segments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        *[(w, "stop") for w in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")],
        *[(w, "stop") for w in ("REVOKE", "OPTOUT", "stop", "Stop.", "  stop!! ", "ＳＴＯＰ")],
        *[(w, "start") for w in ("START", "yes", "Unstop", "Yes!")],
        *[(w, "help") for w in ("HELP", "info", "Help?")],
        *[(w, None) for w in ("", "   ", "1", "C", "stop please", "please stop", "STOP STOP")],
        *[(w, None) for w in ("cancelled", "opt out", "yes please", "!stop", "helpful")],
    ],
)
def test_classify_keyword(body: str, keyword: str | None) -> None:
    assert classify_keyword(body) == keyword


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),  # in the GSM-7 basic table
        ("€" * 80, 1),  # extension characters count double
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),
        ("a" * 152 + "€" + "a" * 10, 2),  # the escape is not split across segments
        ("a" * 152 + "€" + "a" * 152, 3),
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("😀" * 35, 1),  # surrogate pairs: two units each
        ("😀" * 36, 2),
        ("a" + "😀" * 35, 2),
        ("Your appointment is confirmed ✅", 1),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


@given(st.text(max_size=400), st.text(max_size=50))
def test_sms_segments_is_positive_and_monotonic(text: str, more: str) -> None:
    assert sms_segments(text) >= 1
    assert sms_segments(text + more) >= sms_segments(text)


# --- sending ---------------------------------------------------------------------------------


def client_for(fake: FakeTwilioAPI, **kwargs: Any) -> TwilioClient:
    options: dict[str, Any] = {"from_number": "+14155550100", **kwargs}
    return TwilioClient(fake.account_sid, fake.auth_token, api_base_url=fake.base_url, **options)


def outbound(**kwargs: Any) -> OutboundMessage:
    return OutboundMessage(**{"idempotency_key": "msg-1", "to_address": PATIENT, "body": "", **kwargs})


def test_send_sms_from_a_number(fake_twilio: FakeTwilioAPI) -> None:
    receipt = client_for(fake_twilio).send(
        outbound(body="Reply 1 to confirm, 2 to reschedule"),
        status_callback="https://clinic.example.com/webhooks/twilio/status/5f0c2a",
    )
    assert receipt.provider_message_id == "SM00000000000000000000000000000001"
    assert receipt.status == DeliveryStatus.SENT
    assert receipt.segments == 1
    [request] = fake_twilio.requests_on("send")
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.form() == {
        "To": [PATIENT],
        "From": ["+14155550100"],
        "Body": ["Reply 1 to confirm, 2 to reschedule"],
        "StatusCallback": ["https://clinic.example.com/webhooks/twilio/status/5f0c2a"],
    }


def test_send_through_a_messaging_service_with_media(fake_twilio: FakeTwilioAPI) -> None:
    media = (
        OutboundMedia("https://files.example.org/a.jpg", "image/jpeg"),
        OutboundMedia("https://files.example.org/b.png", "image/png"),
    )
    client = client_for(fake_twilio, from_number=None, messaging_service_sid=SERVICE)
    client.send(outbound(kind="media", body="Your forms", media=media))
    assert fake_twilio.requests_on("send")[0].form() == {
        "To": [PATIENT],
        "MessagingServiceSid": [SERVICE],
        "Body": ["Your forms"],
        "MediaUrl": ["https://files.example.org/a.jpg", "https://files.example.org/b.png"],
    }


def test_segments_fall_back_to_our_count(fake_twilio: FakeTwilioAPI) -> None:
    body = {"sid": "SM1", "status": "accepted", "num_segments": "0"}
    fake_twilio.reply_next(Reply(status=201, json_body=body), route="send")
    receipt = client_for(fake_twilio).send(outbound(body="x" * 200))
    assert receipt.segments == 2


@pytest.mark.parametrize(
    "message",
    [
        outbound(body=""),
        outbound(body="x" * 1601),
        outbound(to_address="", body="hi"),
        outbound(media=(OutboundMedia("https://x.example/a", "image/jpeg"),) * 11),
    ],
)
def test_invalid_messages_fail_before_sending(fake_twilio: FakeTwilioAPI, message: OutboundMessage) -> None:
    with pytest.raises(ValueError):
        client_for(fake_twilio).send(message)
    assert fake_twilio.requests == []


def test_client_needs_a_sender() -> None:
    with pytest.raises(ValueError):
        TwilioClient("AC123", "token")
    with pytest.raises(ValueError):
        TwilioClient("AC123/../x", "token", from_number="+1")


@pytest.mark.parametrize(
    ("code", "http_status", "error", "words", "opted_out"),
    [
        (21610, 400, PermanentSendError, "opted out", True),
        (21211, 400, PermanentSendError, "not valid", False),
        (21614, 400, PermanentSendError, "not a mobile number", False),
        (21408, 400, PermanentSendError, "region", False),
        (20003, 401, PermanentSendError, "credentials", False),
        (12345, 400, PermanentSendError, "Twilio error 12345", False),
        (20429, 429, RetryableSendError, "Too many requests", False),
        (21611, 400, RetryableSendError, "queued", False),
        (20500, 500, RetryableSendError, "Twilio error 20500", False),
    ],
)
def test_twilio_errors_map_to_retryable_or_permanent(
    fake_twilio: FakeTwilioAPI,
    code: int,
    http_status: int,
    error: type[SendError],
    words: str,
    opted_out: bool,
) -> None:
    fake_twilio.twilio_error(code, http_status=http_status, message=f"The 'To' number {PATIENT}")
    with pytest.raises(error) as caught:
        client_for(fake_twilio).send(outbound(body="hello"))
    assert caught.value.code == str(code)
    assert words in caught.value.reason
    assert PATIENT not in caught.value.reason
    assert getattr(caught.value, "recipient_opted_out", False) is opted_out


def test_429_honours_retry_after(fake_twilio: FakeTwilioAPI) -> None:
    fake_twilio.twilio_error(20429, http_status=429, retry_after="7")
    with pytest.raises(RetryableSendError) as caught:
        client_for(fake_twilio).send(outbound(body="hello"))
    assert caught.value.retry_after == 7.0


def test_server_error_without_json_is_retryable(fake_twilio: FakeTwilioAPI) -> None:
    fake_twilio.reply_next(Reply(status=503, body=b"Service Unavailable"), route="send")
    with pytest.raises(RetryableSendError) as caught:
        client_for(fake_twilio).send(outbound(body="hello"))
    assert caught.value.code == "http_503"


def test_timeout_is_retryable(fake_twilio: FakeTwilioAPI) -> None:
    fake_twilio.reply_next(Reply(status=201, json_body={"sid": "SM1"}, delay=1.0), route="send")
    with pytest.raises(RetryableSendError) as caught:
        client_for(fake_twilio, timeout=0.2).send(outbound(body="hello"))
    assert caught.value.code == "timeout"


def test_created_but_failed_is_permanent(fake_twilio: FakeTwilioAPI) -> None:
    body = {"sid": "SM1", "status": "failed", "error_code": 21610, "error_message": "opted out"}
    fake_twilio.reply_next(Reply(status=201, json_body=body), route="send")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_twilio).send(outbound(body="hello"))
    assert caught.value.recipient_opted_out


def test_created_without_sid_is_not_retried(fake_twilio: FakeTwilioAPI) -> None:
    fake_twilio.reply_next(Reply(status=201, json_body={"status": "queued"}), route="send")
    with pytest.raises(PermanentSendError):
        client_for(fake_twilio).send(outbound(body="hello"))


def test_check_credentials(fake_twilio: FakeTwilioAPI) -> None:
    assert client_for(fake_twilio).check_credentials() == "Main Street Clinic"
    [request] = fake_twilio.requests_on("account")
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}.json"


def test_check_credentials_with_a_wrong_token(fake_twilio: FakeTwilioAPI) -> None:
    fake_twilio.twilio_error(20003, http_status=401, route="account")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_twilio).check_credentials()
    assert caught.value.code == "20003"


def test_fake_twilio_rejects_requests_that_break_the_contract(fake_twilio: FakeTwilioAPI) -> None:
    url = f"{fake_twilio.base_url}{fake_twilio.account_path}/Messages.json"
    auth = (fake_twilio.account_sid, fake_twilio.auth_token)
    both = {"To": PATIENT, "From": "+1", "MessagingServiceSid": SERVICE, "Body": "x"}
    assert httpx.post(url, data=both, auth=auth).status_code == 400
    assert httpx.post(url, data={"To": PATIENT, "From": "+1", "Body": "x"}).status_code == 400
    assert len(fake_twilio.problems) == 2
    fake_twilio.problems.clear()


def test_nothing_patient_identifying_is_logged(fake_twilio: FakeTwilioAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    parse_inbound(fixture("inbound_sms"))
    client_for(fake_twilio).send(outbound(body="Your results are ready"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert PATIENT not in logged and "results" not in logged and "Saturday" not in logged


# --- media -----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024


def test_fetch_media_follows_the_redirect_without_credentials(fake_twilio: FakeTwilioAPI) -> None:
    url = fake_twilio.add_media(PNG, "image/png")
    content, content_type = client_for(fake_twilio).fetch_media(
        url, max_bytes=10_000, allowed_types={"image/png", "image/jpeg"}
    )
    assert (content, content_type) == (PNG, "image/png")
    assert [r.route for r in fake_twilio.requests] == ["media", "cdn"]
    assert fake_twilio.requests[0].headers["authorization"].startswith("Basic ")


def test_fetch_media_size_limit(fake_twilio: FakeTwilioAPI) -> None:
    url = fake_twilio.add_media(PNG, "image/png")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_twilio).fetch_media(url, max_bytes=100, allowed_types={"image/png"})
    assert caught.value.code == "media_too_large"


def test_fetch_media_size_limit_without_content_length(fake_twilio: FakeTwilioAPI) -> None:
    url = fake_twilio.add_media(PNG, "image/png")
    reply = Reply(body=PNG, headers={"Content-Type": "image/png"}, send_content_length=False)
    fake_twilio.reply_next(reply, route="cdn")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_twilio).fetch_media(url, max_bytes=100, allowed_types={"image/png"})
    assert caught.value.code == "media_too_large"


def test_fetch_media_type_not_allowed(fake_twilio: FakeTwilioAPI) -> None:
    url = fake_twilio.add_media(b"BEGIN:VCARD", "text/vcard")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_twilio).fetch_media(url, max_bytes=100, allowed_types={"image/*"})
    assert caught.value.code == "media_type_not_allowed"


def test_fetch_media_not_found(fake_twilio: FakeTwilioAPI) -> None:
    url = f"{fake_twilio.base_url}{fake_twilio.account_path}/Messages/MM1/Media/ME404"
    with pytest.raises(PermanentSendError):
        client_for(fake_twilio).fetch_media(url, max_bytes=100, allowed_types={"image/*"})


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "https://mms.twiliocdn.com/AC1/abc",  # only reachable through Twilio's redirect
        "https://api.twilio.com.evil.example/x",
        "https://user@api.twilio.com/x",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_fetch_media_refuses_urls_outside_twilio(fake_twilio: FakeTwilioAPI, url: str) -> None:
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_twilio).fetch_media(url, max_bytes=100, allowed_types={"image/*"})
    assert caught.value.code == "media_host_not_allowed"
    assert fake_twilio.requests == []


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://mms.twiliocdn.com/AC1/abc",
        "https://evil.example/x",
        "https://s3-external-1.amazonaws.com/someone-elses-bucket/x",
    ],
)
def test_fetch_media_refuses_redirects_outside_twilio(fake_twilio: FakeTwilioAPI, location: str) -> None:
    url = fake_twilio.add_media(PNG, "image/png")
    fake_twilio.reply_next(Reply(status=307, headers={"Location": location}), route="media")
    with pytest.raises(PermanentSendError) as caught:
        client_for(fake_twilio).fetch_media(url, max_bytes=10_000, allowed_types={"image/*"})
    assert caught.value.code == "media_host_not_allowed"


@pytest.mark.parametrize(
    "location",
    [
        "https://mms.twiliocdn.com/AC1f2e/3b7a9c?Expires=1739330000&Signature=abc",
        "https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1f2e/3b7a9c",
    ],
)
def test_fetch_media_from_twilio_hosts(location: str) -> None:
    seen: list[tuple[str, bool]] = []

    def twilio(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, "Authorization" in request.headers))
        if request.url.host == "api.twilio.com":
            return httpx.Response(307, headers={"Location": location})
        return httpx.Response(200, content=PNG, headers={"Content-Type": "image/png"})

    http = httpx.Client(transport=httpx.MockTransport(twilio))
    client = TwilioClient("AC1f2e", "token", from_number="+14155550100", http=http)
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1f2e/Messages/MM1/Media/ME1"
    content, _ = client.fetch_media(url, max_bytes=10_000, allowed_types={"image/png"})
    assert content == PNG
    assert seen == [("api.twilio.com", True), (httpx.URL(location).host, False)]
