"""Fault: a worker dies holding claimed rows. Its heartbeat stops, and the first live worker to
beat after it went stale releases its claims: they are taken up in seconds, not after the
2-minute lease. A live worker's claims are never released, however long its batch runs."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from converge.conversations.inbound.queue import LEASE, _claim, inbound_process_due
from converge.conversations.models import InboundEvent, Message
from converge.conversations.outbox import outbox_claim
from converge.core import clock, heartbeat
from converge.core.models import WorkerHeartbeat
from converge.worker_lanes import CLAIMS
from tests.conversations.test_outbox_processes import patient_message, queue_bulk, spawn  # noqa: F401
from tests.faults.processes import claimed_by_pid, queue_inbound, stored_inbound, wait_for

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
NONE = {"inbound": 0, "outbox": 0, "jobs": 0}


@pytest.mark.django_db
def test_a_dead_workers_claims_are_released_at_the_next_beat_and_a_live_ones_are_not(sms_channel: Any) -> None:
    inbound = patient_message(sms_channel)
    with clock.frozen(NOW):
        queue_inbound(sms_channel, 2, "hb")
        outbound = queue_bulk(inbound, 2)
        Message.objects.filter(pk__in=[m.pk for m in outbound]).update(next_attempt_at=NOW)
        heartbeat.beat("host:1:dead")
        heartbeat.beat("host:2:live")
        [dead_in] = _claim(1, worker_id="host:1:dead")
        [live_in] = _claim(1, worker_id="host:2:live")
        dead_out, _ = outbox_claim(limit=1, worker_id="host:1:dead")
        live_out, _ = outbox_claim(limit=1, worker_id="host:2:live")
        assert heartbeat.release_dead_claims(CLAIMS) == NONE  # both beat just now

    # 3 beats later the dead worker is silent; the live one beat again.
    later = NOW + heartbeat.stale_after() + timedelta(seconds=1)
    assert later < NOW + LEASE
    with clock.frozen(later):
        heartbeat.beat("host:2:live")
        assert heartbeat.release_dead_claims(CLAIMS) == {"inbound": 1, "outbox": 1, "jobs": 0}
        assert heartbeat.release_dead_claims(CLAIMS) == NONE
        assert [e.pk for e in _claim(10, worker_id="host:3:new")] == [dead_in.pk]
    with clock.frozen(later + timedelta(seconds=1)):
        assert outbox_claim(limit=10, worker_id="host:3:new")[0] == dead_out
    live_row = InboundEvent.objects.get(pk=live_in.pk)
    assert live_row.leased_by == "host:2:live" and live_row.next_attempt_at == NOW + LEASE
    assert Message.objects.get(pk=live_out[0]).leased_by == "host:2:live"
    assert Message.objects.get(pk=dead_out[0]).attempts == 2  # claimed again, once


@pytest.mark.django_db(transaction=True)
def test_a_live_workers_heartbeat_outlasts_a_long_batch(sms_channel: Any, settings: Any) -> None:
    """The heartbeat is a thread of its own: a worker stuck in a slow send stays alive."""
    settings.WORKER_HEARTBEAT_SECONDS = 0.1
    queue_inbound(sms_channel, 3, "long")
    beating = heartbeat.Heartbeat(claims=CLAIMS)
    beating.start()
    try:
        claimed = [e.pk for e in _claim(10, worker_id=beating.worker_id)]
        assert len(claimed) == 3
        since = timezone.now()
        # The main loop does nothing for well over 3 beats (a batch of slow sends) ...
        wait_for(
            "six beats",
            lambda: WorkerHeartbeat.objects.filter(
                worker_id=beating.worker_id, beat_at__gt=since + timedelta(seconds=0.6)
            ).exists(),
            timeout=30,
        )
        # ... and its rows stay its own.
        assert heartbeat.release_dead_claims(CLAIMS) == NONE
        assert set(InboundEvent.objects.filter(leased_by=beating.worker_id).values_list("pk", flat=True)) == set(
            claimed
        )
    finally:
        beating.stop()
    # Gone without handing its rows back (run_worker would have): nothing alive holds them now.
    assert heartbeat.release_dead_claims(CLAIMS) == {"inbound": 3, "outbox": 0, "jobs": 0}
    assert inbound_process_due(worker_id="host:9:next") == 3
    assert stored_inbound(sms_channel) == 3


@pytest.mark.django_db(transaction=True)
def test_worker_sigkilled_mid_batch_its_claims_are_taken_up_in_seconds(sms_channel: Any, spawn: Any) -> None:
    total = 400
    env = {"CONVERGE_WORKER_HEARTBEAT_SECONDS": "0.5", "CONVERGE_INBOUND_BATCH_SIZE": "25"}
    first = spawn("worker-1", "worker", "--idle", "0.1", **env)
    first.wait_for_output("worker running")
    queue_inbound(sms_channel, total, "kill")

    # SIGKILL it the moment it holds a claimed batch.
    deadline = time.monotonic() + 60
    while not (held := claimed_by_pid(first.pid)):
        if first.popen.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"worker-1 never held a claim:\n{first.output()}")
        time.sleep(0.002)
    os.kill(first.pid, signal.SIGKILL)
    first.popen.wait(timeout=10)
    killed_at = time.monotonic()
    still_held = claimed_by_pid(first.pid)
    assert still_held, f"the killed worker's claims were expected to outlive it (it held {len(held)})"

    second = spawn("worker-2", "worker", "--idle", "0.1", **env)
    # Released far sooner than the 2-minute lease: 3 beats of 0.5 s after the last one, plus
    # worker-2's start-up; then the rows are stored like any others.
    wait_for("the dead worker's claims released", lambda: not claimed_by_pid(first.pid), timeout=60, poll=0.05)
    took = time.monotonic() - killed_at
    wait_for(f"all {total} stored by worker-2", lambda: stored_inbound(sms_channel) == total, timeout=180, poll=0.1)
    print(f"\nworker SIGKILLed holding {len(still_held)} claims: released {took:.1f} s later")
    assert took < LEASE.total_seconds() / 4, f"took {took:.1f} s: released by the lease, not the heartbeat"
    assert not InboundEvent.objects.exists()
    assert "released claims of dead workers" in second.output()
    assert "Traceback" not in second.output(), second.output()[-4000:]
    # Nothing lost, nothing stored twice (each provider id once).
    ids = list(Message.objects.filter(channel=sms_channel).values_list("provider_message_id", flat=True))
    assert sorted(ids) == sorted(f"kill-{i}" for i in range(total))
