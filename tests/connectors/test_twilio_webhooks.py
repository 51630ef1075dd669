"""Twilio SMS/MMS end to end: the real webhook views (X-Twilio-Signature over the public URL,
Messaging Service payloads, MMS, status callbacks, duplicates, hostile bodies) and the real outbox
sending to a local Twilio API that checks the documented request shapes."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.connectors.registry import channel_config
from converge.connectors.webhooks import public_url, webhook_request
from converge.conversations.models import Direction, Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import message_queue
from converge.core import clock
from converge.patients.models import ContactPoint
from converge.providers import http as provider_http
from converge.providers.twilio.connector import TWILIO
from converge.providers.types import DeliveryStatus, SignatureError
from tests.connectors.channels import (
    AUTH_TOKEN,
    TWILIO_NUMBER,
    sms_channel,
    twilio_fixture,
    twilio_post,
    twilio_signature,
)
from tests.providers.fakes import Reply
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db

PUBLIC = "https://inbox.sunrise-clinic.example"
PATIENT = "+14155550123"  # From in the fixtures


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def channel(practice):
    return sms_channel(practice)


def inbound_count() -> int:
    """Patient messages in the inbox once the worker has taken what the webhooks queued."""
    run_inbound()
    return Message.objects.filter(direction=Direction.INBOUND).count()


# --- signatures ----------------------------------------------------------------------------


def test_twilio_public_vector_through_the_public_url_check(practice, settings):
    """twilio-python tests/unit/test_request_validator.py, run through the view's URL + check."""
    settings.PUBLIC_BASE_URL = "https://mycompany.com"
    channel = sms_channel(practice)
    channel.set_credentials({**channel.credentials(), "auth_token": "12345"})
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    request = RequestFactory().post(
        "/myapp.php?foo=1&bar=2",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
        HTTP_HOST="127.0.0.1:8000",  # what a proxy might pass on; must not matter
    )
    assert public_url(request) == "https://mycompany.com/myapp.php?foo=1&bar=2"
    TWILIO.verify(channel_config(channel), webhook_request(request, with_form=True))  # raises if refused
    tampered = RequestFactory().post(
        "/myapp.php?foo=1&bar=3",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
    )
    with pytest.raises(SignatureError):
        TWILIO.verify(channel_config(channel), webhook_request(tampered, with_form=True))


def test_signature_is_checked_against_the_public_url_not_the_host_header(client, channel):
    params = twilio_fixture("inbound_sms")
    # Twilio signed the public https URL; a TLS-terminating proxy handed it on over plain http
    # to an internal address and port.
    response = twilio_post(client, channel, params, HTTP_HOST="127.0.0.1:8001")
    assert response.status_code == 200
    assert inbound_count() == 1


def test_a_signature_over_the_host_header_url_is_refused(client, channel):
    params = twilio_fixture("inbound_sms")
    forged = twilio_post(client, channel, params, signed_url=f"http://testserver/webhooks/twilio/{channel.key}")
    assert forged.status_code == 403
    assert inbound_count() == 0


@pytest.mark.parametrize("port", [":443", ""])
def test_accepted_with_and_without_the_default_port(client, channel, settings, port):
    params = twilio_fixture("inbound_sms")
    settings.PUBLIC_BASE_URL = PUBLIC + ("" if port else ":443")
    signed = f"{PUBLIC}{port}/webhooks/twilio/{channel.key}"
    assert twilio_post(client, channel, params, signed_url=signed).status_code == 200


def test_query_string_is_part_of_the_signed_url(client, channel):
    params = twilio_fixture("inbound_sms")
    path = f"/webhooks/twilio/{channel.key}?source=pool-2"
    signature = twilio_signature(PUBLIC + path, params)
    response = client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("signature", "status"),
    [(None, 401), ("", 401), ("bm9wZQ==", 403)],
)
def test_unsigned_or_missigned_requests_are_refused(client, channel, signature, status):
    for is_status in (False, True):
        response = twilio_post(client, channel, twilio_fixture("inbound_sms"), signature=signature, status=is_status)
        assert response.status_code == status
    assert inbound_count() == 0


def test_wrong_auth_token_is_refused(client, channel):
    response = twilio_post(client, channel, twilio_fixture("inbound_sms"), token="another-accounts-token")
    assert response.status_code == 403
    assert inbound_count() == 0


def test_a_changed_parameter_breaks_the_signature(client, channel):
    params = twilio_fixture("inbound_sms")
    signature = twilio_signature(f"{PUBLIC}/webhooks/twilio/{channel.key}", params)
    params["Body"] = "Injected text"
    assert twilio_post(client, channel, params, signature=signature).status_code == 403
    assert inbound_count() == 0


# --- inbound -------------------------------------------------------------------------------


def test_inbound_sms_is_stored_and_answered_with_empty_twiml(client, channel):
    response = twilio_post(client, channel, twilio_fixture("inbound_sms"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response/>")
    run_inbound()
    message = Message.objects.get(direction=Direction.INBOUND)
    assert (message.body, message.kind, message.provider_message_id) == (
        "Hi, is the clinic open Saturday?",
        "text",
        "SM000000000000000000000000000000a1",
    )
    assert (message.contact_point.kind, message.contact_point.address) == ("sms", PATIENT)
    assert message.channel_id == channel.pk


def test_messaging_service_payloads_are_accepted(client, practice):
    # Chatwoot's regression: numbers in a Messaging Service pool got 403 and messages were lost.
    channel = sms_channel(practice, messaging_service_sid="MG9f8e7d6c5b4a39281706f5e4d3c2b1a0")
    response = twilio_post(client, channel, twilio_fixture("inbound_messaging_service"))
    assert response.status_code == 200
    run_inbound()
    message = Message.objects.get()
    assert message.body == "2"
    assert message.metadata["messaging_service_sid"] == "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def test_mms_creates_pending_attachments(client, channel):
    response = twilio_post(client, channel, twilio_fixture("inbound_mms"))
    assert response.status_code == 200
    run_inbound()
    message = Message.objects.get()
    assert (message.kind, message.body) == ("image", "Here is my insurance card")
    attachments = list(message.attachments.order_by("id"))
    assert [a.content_type for a in attachments] == ["image/jpeg", "image/png"]
    assert all(a.state == "pending" and a.source_url.startswith("https://api.twilio.com/") for a in attachments)


def test_duplicate_deliveries_are_stored_once(client, channel):
    params = twilio_fixture("inbound_sms")
    assert twilio_post(client, channel, params).status_code == 200
    assert twilio_post(client, channel, params).status_code == 200
    assert inbound_count() == 1


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"From": PATIENT, "Body": "no message sid"},
        {"MessageSid": "SM1", "Body": "no sender"},
        {"MessageSid": "SM1", "From": "not-a-number", "Body": "x"},
        {"MessageSid": "SM1", "From": PATIENT, "NumMedia": "2", "MediaUrl0": "https://api.twilio.com/x"},
        {"MessageSid": "SM1", "From": PATIENT, "NumMedia": "-1"},
        {"MessageSid": "SM1", "From": PATIENT, "NumMedia": "99"},
        {"MessageSid": "SM" + "1" * 300, "From": PATIENT},
    ],
)
def test_malformed_inbound_is_400_and_stores_nothing(client, channel, params):
    assert twilio_post(client, channel, params).status_code == 400
    assert inbound_count() == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "AccountSid"])
        | st.text(max_size=8),
        st.text(max_size=40),
        max_size=8,
    )
)
def test_hypothesis_signed_forms_are_stored_or_refused_never_crash(client, channel, params):
    before = inbound_count()
    response = twilio_post(client, channel, params)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert inbound_count() == before


# --- status callbacks ----------------------------------------------------------------------


def _outbound(client, channel, provider_id="SM000000000000000000000000000000b1") -> Message:
    twilio_post(client, channel, twilio_fixture("inbound_sms"))
    run_inbound()
    conversation = Message.objects.get(direction=Direction.INBOUND).conversation
    message = message_queue(conversation=conversation, channel=channel, body="Yes, 9 to 12.", sender=None)
    Message.objects.filter(pk=message.pk).update(status=DeliveryStatus.SENT, provider_message_id=provider_id)
    message.refresh_from_db()
    return message


def test_status_callbacks_move_forward_only(client, channel):
    message = _outbound(client, channel)
    for name in ("status_delivered", "status_sent", "status_read"):
        response = twilio_post(client, channel, twilio_fixture(name), status=True)
        assert response.status_code == 204
    message.refresh_from_db()
    assert message.status == DeliveryStatus.READ
    assert message.delivered_at and message.read_at


def test_undelivered_callback_records_code_and_reason(client, channel):
    message = _outbound(client, channel)
    twilio_post(client, channel, twilio_fixture("status_undelivered"), status=True)
    message.refresh_from_db()
    assert (message.status, message.failure_code) == (DeliveryStatus.FAILED, "30007")
    assert "spam" in message.failure_reason


def test_opted_out_callback_marks_the_contact(client, channel):
    message = _outbound(client, channel)
    twilio_post(client, channel, twilio_fixture("status_failed_opted_out"), status=True)
    message.refresh_from_db()
    assert message.failure_code == "21610"
    assert ContactPoint.objects.get(pk=message.contact_point_id).opted_out


def test_malformed_status_callback_is_400(client, channel):
    params = twilio_fixture("status_sent", MessageStatus="exploded", SmsStatus="exploded")
    assert twilio_post(client, channel, params, status=True).status_code == 400


def test_unknown_channel_is_404(client, channel):
    assert client.post("/webhooks/twilio/nope", data={}).status_code == 404
    assert client.post("/webhooks/twilio/nope/status", data={}).status_code == 404


# --- sending through the outbox to the Twilio API ------------------------------------------


@pytest.fixture
def live(practice, fake_twilio, client):
    channel = sms_channel(practice, fake_twilio)
    twilio_post(client, channel, twilio_fixture("inbound_sms"), token=fake_twilio.auth_token)
    run_inbound()
    conversation = Message.objects.get(direction=Direction.INBOUND).conversation
    return channel, conversation


def _send(conversation, channel, body="Yes, Saturday 9 to 12.", **kw) -> Message:
    message = message_queue(conversation=conversation, channel=channel, body=body, sender=None, **kw)
    outbox_dispatch_batch()
    message.refresh_from_db()
    return message


def test_reply_is_posted_to_messages_json_with_a_status_callback(live, fake_twilio):
    channel, conversation = live
    message = _send(conversation, channel)
    assert message.status == DeliveryStatus.SENT
    assert message.provider_message_id.startswith("SM")
    assert message.segments == 1
    [request] = fake_twilio.requests_on("send")
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.form() == {
        "To": [PATIENT],
        "From": [TWILIO_NUMBER],
        "Body": ["Yes, Saturday 9 to 12."],
        # Our reference rides in the callback URL: it names the message if the answer is lost.
        "StatusCallback": [f"{PUBLIC}/webhooks/twilio/{channel.key}/status?ref={message.idempotency_key}"],
    }


def test_long_messages_record_their_segment_count(live, fake_twilio):
    channel, conversation = live
    message = _send(conversation, channel, "Please bring your insurance card and a photo ID. " * 8)
    assert message.segments == 3


def test_messaging_service_sends_without_from(practice, fake_twilio, client):
    channel = sms_channel(practice, fake_twilio, messaging_service_sid="MG9f8e7d6c5b4a39281706f5e4d3c2b1a0")
    twilio_post(client, channel, twilio_fixture("inbound_messaging_service"), token=fake_twilio.auth_token)
    run_inbound()
    conversation = Message.objects.get().conversation
    assert _send(conversation, channel).status == DeliveryStatus.SENT
    form = fake_twilio.requests_on("send")[0].form()
    assert form["MessagingServiceSid"] == ["MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"]
    assert "From" not in form


def test_mms_sends_media_urls(live, fake_twilio):
    channel, conversation = live
    media = [{"url": "https://files.example.org/directions.png", "content_type": "image/png"}]
    assert _send(conversation, channel, "Directions", kind="media", metadata={"media": media}).status == "sent"
    assert fake_twilio.requests_on("send")[0].form()["MediaUrl"] == ["https://files.example.org/directions.png"]


@pytest.mark.parametrize(
    ("code", "http_status", "reason_part"),
    [
        (21211, 400, "not valid"),
        (21614, 400, "not a mobile number"),
        (20003, 401, "credentials"),
        (21408, 400, "not enabled"),
    ],
)
def test_permanent_errors_fail_with_a_readable_reason(live, fake_twilio, code, http_status, reason_part):
    channel, conversation = live
    fake_twilio.twilio_error(code, http_status=http_status)
    message = _send(conversation, channel)
    assert (message.status, message.failure_code) == (DeliveryStatus.FAILED, str(code))
    assert reason_part in message.failure_reason


def test_21610_fails_the_message_and_opts_the_contact_out(live, fake_twilio):
    channel, conversation = live
    fake_twilio.twilio_error(21610, message="Attempt to send to unsubscribed recipient")
    message = _send(conversation, channel)
    assert (message.status, message.failure_code) == (DeliveryStatus.FAILED, "21610")
    assert ContactPoint.objects.get(pk=message.contact_point_id).opted_out
    # Nothing more goes to the number: the next message is refused before it is queued.
    from converge.conversations.services import ServiceError

    with pytest.raises(ServiceError, match="opted out"):
        message_queue(conversation=conversation, channel=channel, body="Hello?", sender=None)


@pytest.mark.parametrize(
    ("code", "http_status", "retry_after"),
    [(20429, 429, "12"), (None, 429, None), (None, 500, None), (None, 503, "4"), (30001, 400, None)],
)
def test_rate_limits_and_server_errors_are_retried(live, fake_twilio, code, http_status, retry_after):
    channel, conversation = live
    if code is None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        fake_twilio.reply_next(Reply(status=http_status, body=b"", headers=headers), route="send")
    else:
        fake_twilio.twilio_error(code, http_status=http_status, retry_after=retry_after)
    message = _send(conversation, channel)
    assert message.status == DeliveryStatus.QUEUED
    assert message.failure_reason
    wait = (message.next_attempt_at - clock.now()).total_seconds()
    assert wait >= (float(retry_after) - 1 if retry_after else 1)
    with clock.frozen(message.next_attempt_at + timedelta(seconds=2)):
        outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT
    assert len(fake_twilio.requests_on("send")) == 2


def test_a_timeout_after_the_request_is_held_not_retried(live, fake_twilio, monkeypatch):
    channel, conversation = live
    monkeypatch.setattr(provider_http, "TIMEOUT_SECONDS", 0.3)
    fake_twilio.reply_next(Reply(delay=1.0, status=201, json_body={"sid": "SMlate"}), route="send")
    message = _send(conversation, channel)
    # Twilio may have accepted it: held for its status callback, not sent again.
    assert (message.status, message.failure_code) == (DeliveryStatus.SENDING, "unconfirmed")
    outbox_dispatch_batch()
    assert len(fake_twilio.requests_on("send")) == 1


def test_an_immediately_failed_send_is_permanent(live, fake_twilio):
    channel, conversation = live
    body = {"sid": "SM" + "f" * 32, "status": "failed", "error_code": 30006, "error_message": "Landline"}
    fake_twilio.reply_next(Reply(status=201, json_body=body), route="send")
    message = _send(conversation, channel)
    assert (message.status, message.failure_code) == (DeliveryStatus.FAILED, "30006")
    assert "landline" in message.failure_reason


def test_stored_auth_token_is_encrypted(channel):
    assert AUTH_TOKEN not in channel.credentials_encrypted
    assert channel.credentials()["auth_token"] == AUTH_TOKEN


def test_nothing_patient_identifying_is_logged(client, channel, caplog):
    caplog.set_level("DEBUG")
    twilio_post(client, channel, twilio_fixture("inbound_sms"))
    twilio_post(client, channel, twilio_fixture("inbound_stop"))
    twilio_post(client, channel, twilio_fixture("inbound_sms", Body="Forged"), signature="bm9wZQ==")
    twilio_post(client, channel, {"MessageSid": "SM1", "From": "4155550123x", "Body": "my insurance"})
    run_inbound()
    logged = caplog.text
    for secret in ("4155550123", "clinic open", "Forged", "insurance", AUTH_TOKEN):
        assert secret not in logged
