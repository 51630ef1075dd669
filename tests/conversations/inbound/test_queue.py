"""Webhooks accept messages into InboundEvent rows; the worker runs them through the pipeline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.conversations.inbound import pipeline as inbound
from converge.conversations.inbound.queue import (
    LEASE,
    from_payload,
    inbound_accept,
    inbound_process_due,
    to_payload,
)
from converge.conversations.models import Conversation, InboundEvent, Message
from converge.core import clock
from converge.providers.types import InboundAttachment, InboundMessage
from converge.worker_lanes import start_background_worker
from tests.helpers import signed_simulator_post

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def failing_pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A pipeline step that raises while `failures` is non-empty, as a bug in a later step would."""
    failures = [1]
    react = inbound.react

    def failing_react(conversation: Conversation, message: Message) -> None:
        if failures:
            failures.pop()
            raise RuntimeError("bug in a pipeline step")
        react(conversation, message)

    monkeypatch.setattr(inbound, "react", failing_react)
    yield failures


def post(channel, text: str, provider_id: str):  # type: ignore[no-untyped-def]
    return signed_simulator_post(Client(), channel, {"from": "+15552017788", "text": text, "id": provider_id})


def test_webhook_answers_once_accepted_and_the_worker_stores(sms_channel):
    with clock.frozen(NOW):
        response = post(sms_channel, "Can I move my appointment?", "w1")
    assert response.status_code == 200
    assert response.json() == {"accepted": 1}
    assert Message.objects.count() == 0
    event = InboundEvent.objects.get()
    assert (event.practice_id, event.channel_id) == (sms_channel.practice_id, sms_channel.pk)

    with clock.frozen(NOW + timedelta(seconds=3)):
        assert inbound_process_due() == 1
    message = Message.objects.get()
    assert message.body == "Can I move my appointment?"
    assert message.created_at == NOW  # when the practice received it, not when the worker ran
    assert message.conversation.waiting_since == NOW
    assert message.metadata["classification"]["category"] == "scheduling"
    assert not InboundEvent.objects.exists()


def test_redelivered_webhook_is_stored_once(sms_channel):
    assert post(sms_channel, "hi", "dup").json() == {"accepted": 1}
    assert post(sms_channel, "hi", "dup").json() == {"accepted": 1}
    assert inbound_process_due() == 2
    assert Message.objects.count() == 1
    assert not InboundEvent.objects.exists()


def test_messages_of_one_request_keep_their_order(sms_channel):
    payload = {"messages": [{"from": "+15552017788", "text": f"part {i}", "id": f"p{i}"} for i in range(5)]}
    assert signed_simulator_post(Client(), sms_channel, payload).json() == {"accepted": 5}
    inbound_process_due()
    bodies = list(Message.objects.order_by("created_at", "id").values_list("body", flat=True))
    assert bodies == [f"part {i}" for i in range(5)]


def test_a_failing_message_is_kept_and_retried(sms_channel, failing_pipeline, caplog):
    with clock.frozen(NOW):
        post(sms_channel, "my chest hurts", "f1")
        assert inbound_process_due() == 1
    event = InboundEvent.objects.get()
    assert event.attempts == 1
    assert event.last_error == "RuntimeError"
    assert event.next_attempt_at > NOW
    assert not Message.objects.exists()  # the failed transaction left nothing half-stored
    assert "chest" not in caplog.text  # ids only in logs, never the message

    with clock.frozen(NOW + timedelta(seconds=1)):
        assert inbound_process_due() == 0  # backing off
    with clock.frozen(event.next_attempt_at):
        assert inbound_process_due() == 1
    assert Message.objects.get(direction="in").body == "my chest hurts"
    assert not InboundEvent.objects.exists()


def test_rows_of_a_worker_that_died_are_taken_up_after_the_lease(sms_channel):
    from converge.conversations.inbound.queue import _claim

    with clock.frozen(NOW):
        post(sms_channel, "hello", "l1")
        assert [e.pk for e in _claim(10)]  # claimed, then the worker "dies"
        assert _claim(10) == []  # nobody else takes a leased row
    with clock.frozen(NOW + LEASE + timedelta(seconds=1)):
        assert inbound_process_due() == 1
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_in_process_worker_starts_at_once_when_woken(sms_channel):
    thread, stop = start_background_worker()
    try:
        time.sleep(0.2)  # let it reach its idle wait
        post(sms_channel, "hello", "wake1")
        deadline = time.monotonic() + 10
        while not Message.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Message.objects.count() == 1
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_stop_interrupts_an_idle_worker():
    stop = threading.Event()
    from converge.core.worker import _idle

    timer = threading.Timer(0.1, stop.set)
    timer.start()
    started = time.monotonic()
    _idle(stop, 30)
    assert time.monotonic() - started < 5


# NUL and lone surrogates are replaced on purpose (test_text_postgresql_cannot_store_is_replaced),
# so the exact round trips leave them out; test_any_text_is_accepted_on_both_databases has them.
_chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
_text = st.text(_chars, max_size=50)
_attachment = st.builds(
    InboundAttachment,
    content_type=_text,
    filename=_text,
    size=st.none() | st.integers(min_value=0, max_value=2**31),
    content=st.none() | st.binary(max_size=64),
    provider_media_id=st.none() | _text,
    url=st.none() | _text,
    sha256=st.none() | _text,
)
_messages = st.builds(
    InboundMessage,
    provider_message_id=_text,
    sender_address=_text,
    body=st.text(_chars, max_size=300),
    sent_at=st.none() | st.datetimes(timezones=st.just(UTC)),
    sender_name=_text,
    kind=_text,
    attachments=st.lists(_attachment, max_size=3).map(tuple),
    reply_to_provider_id=st.none() | _text,
    metadata=st.dictionaries(_text, st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _text, max_size=4),
)


@given(message=_messages)
@settings(max_examples=200, deadline=None)
def test_payload_round_trips(message):
    assert from_payload(to_payload(message)) == message


def test_text_postgresql_cannot_store_is_replaced(sms_channel):
    """NUL, and a lone surrogate that JSON can escape ("\\udb36"), cannot be stored by PostgreSQL
    (a 500 and a provider retrying for ever); neither is a character a patient typed."""
    raw = b'{"from": "+15552017788", "text": "a\\u0000b \\udb36c", "id": "odd1"}'
    assert signed_simulator_post(Client(), sms_channel, raw).json() == {"accepted": 1}
    inbound_process_due()
    assert Message.objects.get().body == "ab \ufffdc"


@given(text=st.text(st.characters(), max_size=40), name=st.text(st.characters(), max_size=20))  # NUL, surrogates too
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_is_accepted_on_both_databases(sms_channel, text, name):
    message = InboundMessage(provider_message_id="any", sender_address="+15552017788", body=text, sender_name=name)
    (event,) = inbound_accept(channel=sms_channel, messages=[message])
    stored = from_payload(InboundEvent.objects.get(pk=event.pk).payload)
    assert "\x00" not in stored.body and len(stored.body) <= len(text)
    InboundEvent.objects.filter(pk=event.pk).delete()


@given(message=_messages)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_payload_round_trips_through_the_database(sms_channel, message):
    """What PostgreSQL's jsonb and SQLite's JSON give back is what was accepted."""
    (event,) = inbound_accept(channel=sms_channel, messages=[message])
    stored = InboundEvent.objects.get(pk=event.pk)
    assert from_payload(stored.payload) == message
    InboundEvent.objects.filter(pk=event.pk).delete()


def test_channel_changes_reach_webhooks_at_once_in_this_process(sms_channel):
    assert post(sms_channel, "hi", "c1").status_code == 200
    sms_channel.enabled = False
    sms_channel.save(update_fields=["enabled"])
    assert post(sms_channel, "hi", "c2").status_code == 404


def test_channel_changes_made_elsewhere_reach_webhooks_within_the_ttl(sms_channel, monkeypatch):
    from converge.core import localcache

    assert post(sms_channel, "hi", "t1").status_code == 200
    type(sms_channel).objects.filter(pk=sms_channel.pk).update(enabled=False)  # another process: no signal here
    assert post(sms_channel, "hi", "t2").status_code == 200
    later = time.monotonic() + localcache.TTL_SECONDS + 0.1
    monkeypatch.setattr(localcache.time, "monotonic", lambda: later)
    assert post(sms_channel, "hi", "t3").status_code == 404
