from __future__ import annotations

from datetime import timedelta

import pytest

from converge.connectors import registry
from converge.connectors.models import Provider
from converge.connectors.simulate import simulator_outbox
from converge.conversations.inbound.pipeline import message_status_apply
from converge.conversations.models import Message
from converge.conversations.outbox import backoff_delay, outbox_claim, outbox_dispatch_batch
from converge.conversations.services import ServiceError, message_queue, message_retry
from converge.core import clock
from converge.patients.services import contact_point_update
from converge.providers.types import (
    DeliveryStatus,
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
    RetryableSendError,
    StatusUpdate,
)
from tests.helpers import receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(sms_channel):
    return receive(sms_channel, "+15552017788", "hi").message.conversation


def queue(conversation, channel, staff=None, body="Thanks, we will call you today."):
    return message_queue(conversation=conversation, channel=channel, body=body, sender=staff)


def test_reply_goes_through_the_outbox_to_the_simulator(conversation, sms_channel, staff):
    message = queue(conversation, sms_channel, staff)
    assert message.status == DeliveryStatus.QUEUED
    conversation.refresh_from_db()
    assert conversation.waiting_since is None  # a staff reply answers the patient
    assert outbox_dispatch_batch() == 1
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT
    assert message.provider_message_id == f"sim-{message.idempotency_key}"
    assert message.attempts == 1
    assert [line["body"] for line in simulator_outbox(sms_channel.key)] == ["Thanks, we will call you today."]
    assert outbox_dispatch_batch() == 0


def test_empty_or_oversized_reply_is_refused(conversation, sms_channel, staff):
    with pytest.raises(ServiceError, match="empty"):
        queue(conversation, sms_channel, staff, body="   ")
    with pytest.raises(ServiceError, match="4096"):
        queue(conversation, sms_channel, staff, body="x" * 5000)
    assert not Message.objects.filter(direction="out").exists()


def test_channel_without_address_is_refused(conversation, whatsapp_channel, staff):
    with pytest.raises(ServiceError, match="no whatsapp address"):
        queue(conversation, whatsapp_channel, staff)


def test_other_practices_channel_is_refused(conversation, other_practice, staff):
    from converge.connectors.services import simulator_channel_create

    foreign = simulator_channel_create(practice=other_practice, kind="sms")
    with pytest.raises(ServiceError):
        queue(conversation, foreign, staff)


def test_opted_out_contact_gets_nothing(conversation, sms_channel, staff):
    message = queue(conversation, sms_channel, staff)
    contact_point_update(contact=message.contact_point, actor=None, opted_out=True)
    outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.FAILED
    assert message.failure_reason == "opted out"
    assert simulator_outbox(sms_channel.key) == []
    with pytest.raises(ServiceError, match="opted out"):
        queue(conversation, sms_channel, staff)


class FlakySender:
    calls: list[str] = []
    script: list[Exception | None] = []

    def __init__(self, channel):
        pass

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        FlakySender.calls.append(message.idempotency_key)
        outcome = FlakySender.script.pop(0) if FlakySender.script else None
        if outcome is not None:
            raise outcome
        return ProviderReceipt(provider_message_id=f"P-{len(FlakySender.calls)}")


@pytest.fixture
def flaky_channel(practice, conversation):
    from converge.connectors.models import Channel
    from converge.patients.models import ContactPoint

    registry.register_sender("test-flaky", FlakySender)
    FlakySender.calls, FlakySender.script = [], []
    channel = Channel.objects.create(practice=practice, kind="sms", provider="test-flaky", name="Flaky")
    assert ContactPoint.objects.filter(patient=conversation.patient, kind="sms").exists()
    yield channel
    registry._senders.pop("test-flaky", None)


def test_retryable_error_backs_off_then_sends(conversation, flaky_channel, staff):
    FlakySender.script = [RetryableSendError("rate limited", code="429", retry_after=30)]
    message = queue(conversation, flaky_channel, staff)
    outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.QUEUED
    assert message.failure_reason == "rate limited"
    wait = (message.next_attempt_at - clock.now()).total_seconds()
    assert 29 <= wait <= 3600  # Retry-After is honoured as a floor
    assert outbox_dispatch_batch() == 0  # not due yet
    with clock.frozen(message.next_attempt_at + timedelta(seconds=1)):
        assert outbox_dispatch_batch() == 1
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT
    assert message.attempts == 2
    assert message.failure_reason == ""
    assert len(set(FlakySender.calls)) == 1  # the same idempotency key both times


def test_permanent_error_fails_with_reason(conversation, flaky_channel, staff):
    FlakySender.script = [PermanentSendError("number not on WhatsApp", code="131026")]
    message = queue(conversation, flaky_channel, staff)
    outbox_dispatch_batch()
    message.refresh_from_db()
    assert (message.status, message.failure_code, message.failure_reason) == (
        "failed",
        "131026",
        "number not on WhatsApp",
    )


def test_provider_opt_out_error_marks_contact(conversation, flaky_channel, staff):
    FlakySender.script = [PermanentSendError("recipient opted out", code="21610", recipient_opted_out=True)]
    message = queue(conversation, flaky_channel, staff)
    outbox_dispatch_batch()
    message.contact_point.refresh_from_db()
    assert message.contact_point.opted_out


def test_gives_up_after_max_attempts(conversation, flaky_channel, staff, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    FlakySender.script = [RetryableSendError("timeout")] * 5
    message = queue(conversation, flaky_channel, staff)
    now = clock.now()
    for step in range(3):
        with clock.frozen(now + timedelta(hours=2 * (step + 1))):
            outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.FAILED
    assert "gave up after 3 attempts" in message.failure_reason
    assert len(FlakySender.calls) == 3


def test_connector_crash_is_retried_not_fatal(conversation, flaky_channel, staff):
    FlakySender.script = [ZeroDivisionError()]
    message = queue(conversation, flaky_channel, staff)
    outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.QUEUED
    assert "internal error" in message.failure_reason


def test_expired_lease_is_claimed_again(conversation, sms_channel, staff, settings):
    message = queue(conversation, sms_channel, staff)
    ids, token = outbox_claim(limit=10)  # a worker claims, then dies without sending
    assert ids == [message.pk]
    assert outbox_claim(limit=10)[0] == []  # held while the lease lasts
    with clock.frozen(clock.now() + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)):
        assert outbox_dispatch_batch() == 1
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT
    assert message.attempts == 2
    assert len(simulator_outbox(sms_channel.key)) == 1


def test_stale_worker_cannot_overwrite_after_lease_lost(conversation, sms_channel, staff):
    from converge.conversations.outbox import _record_failure

    message = queue(conversation, sms_channel, staff)
    _ids, stale_token = outbox_claim(limit=10)
    Message.objects.filter(pk=message.pk).update(lease_token="someone-else")
    _record_failure(message, stale_token, code="x", reason="late", permanent=True)
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENDING


def test_retry_action_requeues_failed_message(conversation, flaky_channel, staff):
    FlakySender.script = [PermanentSendError("boom")]
    message = queue(conversation, flaky_channel, staff)
    outbox_dispatch_batch()
    message.refresh_from_db()
    message_retry(message=message, actor=staff)
    outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT


def test_backoff_grows_and_is_capped():
    delays = [backoff_delay(n) for n in range(1, 20)]
    assert all(0 < d <= 3600 for d in delays)
    assert backoff_delay(1) <= 5 < backoff_delay(5)


class TestStatusCallbacks:
    def _sent(self, conversation, channel, staff):
        message = queue(conversation, channel, staff)
        outbox_dispatch_batch()
        message.refresh_from_db()
        return message

    def test_statuses_never_move_backwards(self, conversation, sms_channel, staff):
        message = self._sent(conversation, sms_channel, staff)
        apply = lambda status: message_status_apply(  # noqa: E731
            channel=sms_channel, update=StatusUpdate(provider_message_id=message.provider_message_id, status=status)
        )
        apply(DeliveryStatus.READ)
        apply(DeliveryStatus.DELIVERED)
        apply(DeliveryStatus.FAILED)
        message.refresh_from_db()
        assert message.status == DeliveryStatus.READ
        assert message.read_at is not None

    def test_failure_reason_is_recorded(self, conversation, sms_channel, staff):
        message = self._sent(conversation, sms_channel, staff)
        message_status_apply(
            channel=sms_channel,
            update=StatusUpdate(
                provider_message_id=message.provider_message_id,
                status=DeliveryStatus.FAILED,
                error_code="30003",
                error_reason="Unreachable destination handset",
            ),
        )
        message.refresh_from_db()
        assert (message.status, message.failure_code) == ("failed", "30003")
        assert message.failure_reason == "Unreachable destination handset"

    def test_unknown_message_is_ignored(self, sms_channel):
        assert (
            message_status_apply(
                channel=sms_channel, update=StatusUpdate(provider_message_id="nope", status=DeliveryStatus.READ)
            )
            is None
        )


def test_simulator_reserved_number_fails_permanently(practice, sms_channel, staff):
    conversation = receive(sms_channel, "+15550001234", "hi").message.conversation
    message = queue(conversation, sms_channel, staff)
    outbox_dispatch_batch()
    message.refresh_from_db()
    assert message.status == "failed"
    assert "not reachable" in message.failure_reason
    assert sms_channel.provider == Provider.SIMULATOR
