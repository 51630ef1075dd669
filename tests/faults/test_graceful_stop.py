"""Fault: SIGTERM to a worker mid-drain (a deploy, `systemctl stop`). It finishes the row in hand,
hands the rest of its claims back at once (lease cleared) and exits within 10 s; the next worker
takes up everything: nothing lost, nothing done twice."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from converge.conversations.models import InboundEvent
from converge.core import clock
from converge.core.models import WorkerHeartbeat
from converge.providers.types import DeliveryStatus
from tests.conversations.test_outbox_processes import (  # noqa: F401
    assert_each_sent_exactly_once,
    outbound,
    outbox_ids,
    patient_message,
    queue_bulk,
    spawn,
    wait_all_sent,
)
from tests.faults.processes import claimed_by_pid, queue_inbound, stored_inbound, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

STOP_WITHIN = 10.0


def sigterm_and_wait(proc: Any) -> float:
    proc.popen.send_signal(signal.SIGTERM)
    start = time.monotonic()
    try:
        code = proc.popen.wait(timeout=30)
    except Exception:
        pytest.fail(f"{proc.name} did not exit after SIGTERM:\n{proc.output()}")
    took = time.monotonic() - start
    assert code == 0, proc.output()
    return took


def test_sigterm_mid_send_batch_finishes_the_send_in_hand_and_hands_back_the_rest(sms_channel: Any, spawn: Any) -> None:
    inbound = patient_message(sms_channel)
    total = 40
    messages = queue_bulk(inbound, total)
    env = {"CONVERGE_SIMULATOR_DELAY_MS": "200", "CONVERGE_OUTBOX_BATCH_SIZE": "20"}
    first = spawn("worker-1", "worker", "--idle", "0.1", **env)
    wait_for("3 sends", lambda: len(outbox_ids(sms_channel.key)) >= 3, timeout=60)

    took = sigterm_and_wait(first)
    sent = set(outbound().filter(status=DeliveryStatus.SENT).values_list("pk", flat=True))
    queued = set(outbound().filter(status=DeliveryStatus.QUEUED).values_list("pk", flat=True))
    print(f"\nSIGTERM mid-batch: exited in {took:.1f} s, {len(sent)} sent, {len(queued)} handed back")
    assert took < STOP_WITHIN
    assert len(sent) + len(queued) == total  # nothing left `sending`, nothing lost
    assert not outbound().filter(status=DeliveryStatus.SENDING).exists()
    assert not outbound().exclude(leased_by="").exists()
    assert not outbound().filter(pk__in=queued).exclude(lease_token="").exists()
    assert set(outbound().filter(pk__in=queued).values_list("attempts", flat=True)) == {0}
    # What the provider accepted is exactly what is recorded as sent: the send in hand finished.
    assert len(outbox_ids(sms_channel.key)) == len(sent)
    assert not WorkerHeartbeat.objects.exists()

    second = spawn("worker-2", "worker", "--idle", "0.1", CONVERGE_SIMULATOR_DELAY_MS="1")
    wait_all_sent(total, [second], timeout=60)
    assert_each_sent_exactly_once(messages, sms_channel.key)


def test_sigterm_mid_inbound_drain_releases_its_claims_and_loses_nothing(sms_channel: Any, spawn: Any) -> None:
    total = 300
    first = spawn("worker-1", "worker", "--idle", "0.1", CONVERGE_INBOUND_BATCH_SIZE="100")
    first.wait_for_output("worker running")
    queue_inbound(sms_channel, total, "term")
    wait_for("a claimed batch half done", lambda: claimed_by_pid(first.pid) and stored_inbound(sms_channel), 60, 0.005)

    took = sigterm_and_wait(first)
    stored = stored_inbound(sms_channel)
    left = InboundEvent.objects.count()
    print(f"\nSIGTERM mid-drain: exited in {took:.1f} s, {stored} stored, {left} handed back")
    assert took < STOP_WITHIN
    assert stored + left == total
    assert not InboundEvent.objects.exclude(leased_by="").exists()
    assert not InboundEvent.objects.filter(next_attempt_at__gt=clock.now()).exists()  # due again now
    assert not WorkerHeartbeat.objects.exists()

    second = spawn("worker-2", "worker", "--idle", "0.1")
    wait_for(f"all {total} stored", lambda: stored_inbound(sms_channel) == total, timeout=180, poll=0.1)
    from converge.conversations.models import Message

    ids = list(Message.objects.filter(channel=sms_channel).values_list("provider_message_id", flat=True))
    assert sorted(ids) == sorted(f"term-{i}" for i in range(total))
    assert "Traceback" not in first.output() + second.output()
