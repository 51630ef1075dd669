"""Per-channel send-rate limits shared by every worker: a burst is throttled (kept queued with a
short next_attempt_at) instead of rejected, and two workers together stay within the limit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from converge.connectors.models import Channel, ChannelRateState, Provider
from converge.connectors.ratelimit import PACING, burst, max_per_second
from converge.conversations.models import Direction, Message
from converge.conversations.outbox import outbox_claim, outbox_dispatch_batch
from converge.conversations.services import message_queue
from converge.core import clock
from converge.providers.types import DeliveryStatus
from tests.connectors.channels import sms_channel, wa_channel
from tests.helpers import receive
from tests.providers.fakes import FakeTwilioAPI

PATIENT = "+14155550123"


def outbound():
    return Message.objects.filter(direction=Direction.OUTBOUND)


def queue_many(channel: Channel, count: int) -> list[Message]:
    conversation = receive(channel, PATIENT, "Hello").message.conversation
    return [
        message_queue(conversation=conversation, channel=channel, body=f"Reminder {i}", sender=None, is_automatic=True)
        for i in range(count)
    ]


# --- defaults --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kw", "rate"),
    [
        ({"from_number": "+14155550100"}, 1.0),  # long code
        ({"from_number": "+18885550100"}, 3.0),  # toll-free
        ({"from_number": "+18335550100"}, 3.0),
        ({"from_number": "55501"}, 100.0),  # short code
        ({"messaging_service_sid": "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0"}, 10.0),
        ({"from_number": "+14155550100", "max_per_second": 25}, 25.0),  # configured
    ],
)
def test_twilio_defaults_follow_published_per_sender_limits(practice, kw, rate):
    channel = sms_channel(practice, **kw)
    assert max_per_second(channel) == rate
    assert burst(channel, rate) == max(1.0, rate / 4)


@pytest.mark.django_db
def test_whatsapp_and_simulator_defaults(practice, sms_channel):
    assert max_per_second(wa_channel(practice)) == 80.0
    assert max_per_second(sms_channel) is None  # the simulator has no provider limit
    sms_channel.settings["max_per_second"] = 2
    assert max_per_second(sms_channel) == 2.0


# --- throttling, deterministically -----------------------------------------------------------


class RecordingSender:
    sent: list[str] = []

    def __init__(self, channel):
        pass

    def send(self, message):
        from converge.providers.types import ProviderReceipt

        RecordingSender.sent.append(message.body)
        return ProviderReceipt(provider_message_id=f"R-{len(RecordingSender.sent)}")


@pytest.fixture
def limited(practice):
    """A channel limited to 1 message a second, with a sender that records instead of sending."""
    from converge.connectors import registry

    registry.register_sender("test-recording", RecordingSender)
    RecordingSender.sent = []
    channel = Channel.objects.create(
        practice=practice, kind="sms", provider="test-recording", name="Limited", settings={"max_per_second": 1}
    )
    yield channel
    registry._senders.pop("test-recording", None)


@pytest.mark.django_db
def test_a_burst_is_throttled_not_rejected(limited):
    start = clock.now().replace(microsecond=0)
    with clock.frozen(start):
        messages = queue_many(limited, 5)
        assert outbox_dispatch_batch() == 1  # one token in the bucket
    assert RecordingSender.sent == ["Reminder 0"]
    waiting = list(outbound().filter(status=DeliveryStatus.QUEUED).order_by("next_attempt_at", "id"))
    assert [m.pk for m in waiting] == [m.pk for m in messages[1:]]  # still in order
    assert all(m.attempts == 0 and not m.failure_reason for m in waiting)  # not claimed, not failed
    delays = [(m.next_attempt_at - start).total_seconds() for m in waiting]
    assert delays == pytest.approx([n / PACING for n in (1, 2, 3, 4)])  # 1 % under the limit
    with clock.frozen(start + timedelta(seconds=0.5)):
        assert outbox_dispatch_batch() == 0  # nothing due, nothing claimed
    for delay in delays:
        with clock.frozen(start + timedelta(seconds=delay)):
            assert outbox_dispatch_batch() == 1
    assert RecordingSender.sent == [f"Reminder {i}" for i in range(5)]
    assert not outbound().exclude(status=DeliveryStatus.SENT).exists()


@pytest.mark.django_db
def test_tokens_refill_up_to_the_burst_only(limited):
    limited.settings = {"max_per_second": 2, "burst": 3}
    limited.save(update_fields=["settings"])
    start = clock.now()
    with clock.frozen(start):
        queue_many(limited, 10)
        assert outbox_dispatch_batch() == 3  # a bucket starts full
    with clock.frozen(start + timedelta(minutes=10)):  # a long idle spell banks no more than the burst
        Message.objects.filter(status=DeliveryStatus.QUEUED).update(next_attempt_at=clock.now())
        assert outbox_dispatch_batch() == 3
    state = ChannelRateState.objects.get(channel=limited)
    assert 0 <= state.tokens < 1


@pytest.mark.django_db
def test_a_default_bucket_holds_a_quarter_second_not_a_second(limited):
    limited.settings = {"max_per_second": 8}  # default burst: a quarter second, 2 tokens
    limited.save(update_fields=["settings"])
    start = clock.now()
    with clock.frozen(start):
        queue_many(limited, 10)
        assert outbox_dispatch_batch() == 2
    with clock.frozen(start + timedelta(minutes=1)):
        Message.objects.filter(status=DeliveryStatus.QUEUED).update(next_attempt_at=clock.now())
        assert outbox_dispatch_batch() == 2  # caught up after a pause, never a second's worth


@pytest.mark.django_db
def test_the_claim_holds_only_what_it_can_send(limited, sms_channel):
    start = clock.now()
    with clock.frozen(start):
        queue_many(limited, 4)
        other = receive(sms_channel, "+15552017788", "hi").message.conversation
        free = message_queue(conversation=other, channel=sms_channel, body="unlimited", sender=None)
        ids, _token = outbox_claim(limit=50)
    assert free.pk in ids
    assert len(ids) == 2  # the unlimited channel's message and one token's worth
    assert outbound().filter(status=DeliveryStatus.SENDING).count() == 2


# --- two workers, one limit ------------------------------------------------------------------


def _sliding_max(times: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _report(label: str, times: list[float], rate: float) -> tuple[int, float]:
    times = sorted(times)
    span = times[-1] - times[0]
    achieved = (len(times) - 1) / span if span else float("inf")
    peak = _sliding_max(times)
    print(f"\n{label}: {len(times)} sends over {span:.2f}s = {achieved:.2f}/s (limit {rate}/s); max in any 1s: {peak}")
    return peak, achieved


@pytest.mark.django_db(transaction=True)
def test_two_worker_threads_share_one_limit(practice, fake_twilio):
    rate, total = 5.0, 20
    channel = sms_channel(practice, fake_twilio, max_per_second=rate, burst=1)
    queue_many(channel, total)
    stop = time.monotonic() + 30

    def worker() -> None:
        try:
            while time.monotonic() < stop and outbound().filter(status=DeliveryStatus.SENT).count() < total:
                if outbox_dispatch_batch() == 0:
                    time.sleep(0.01)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sends = fake_twilio.requests_on("send")
    assert outbound().filter(status=DeliveryStatus.SENT).count() == total
    assert len(sends) == total  # none sent twice
    peak, achieved = _report("two threads", [r.at for r in sends], rate)
    assert peak <= rate + 1  # one second's refill plus the one-token burst
    assert achieved <= rate * 1.05
    assert achieved >= rate * 0.6  # throttled, not starved


CONVERGE = Path(sys.executable).with_name("converge")


def _worker_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="converge.config.settings", REDIS_URL="", LOG_LEVEL="WARNING")
    if db["ENGINE"].endswith("postgresql"):
        auth = quote(db["USER"] or "") + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
        port = f":{db['PORT']}" if db["PORT"] else ""
        env["DATABASE_URL"] = f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{Path(db['NAME']).resolve()}"
    env["CONVERGE_DATA_DIR"] = str(settings.DATA_DIR)
    return env


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_one_limit(practice, tmp_path):
    rate, total = 4.0, 16
    with FakeTwilioAPI() as fake:
        channel = sms_channel(practice, fake, max_per_second=rate, burst=1)
        queue_many(channel, total)
        procs = []
        try:
            for n in range(2):
                log = open(tmp_path / f"worker{n}.log", "wb")  # noqa: SIM115 -- closed below
                procs.append(
                    (
                        subprocess.Popen(
                            [str(CONVERGE), "worker", "--idle", "0.02"],
                            env=_worker_env(),
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            cwd=str(tmp_path),
                        ),
                        log,
                    )
                )
            deadline = time.monotonic() + 60
            while outbound().filter(status=DeliveryStatus.SENT).count() < total:
                for proc, _log in procs:
                    assert proc.poll() is None, (tmp_path / "worker0.log").read_text()
                assert time.monotonic() < deadline, "workers did not send everything in time"
                time.sleep(0.1)
        finally:
            for proc, log in procs:
                proc.terminate()
                proc.wait(timeout=15)
                log.close()
        fake.assert_no_problems()
        sends = fake.requests_on("send")
    assert len(sends) == total
    assert len({r.form()["Body"][0] for r in sends}) == total
    peak, achieved = _report("two processes", [r.at for r in sends], rate)
    assert peak <= rate + 1
    assert achieved <= rate * 1.05


@pytest.mark.django_db
def test_a_real_provider_channel_is_limited_by_default(practice):
    channel = sms_channel(practice)
    assert channel.provider == Provider.TWILIO
    start = clock.now()
    with clock.frozen(start):
        queue_many(channel, 3)
        ids, _ = outbox_claim(limit=10)
    assert len(ids) == 1  # a Twilio long code: one a second
