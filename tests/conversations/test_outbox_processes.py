"""The outbox with real `converge worker` processes: no message lost, none sent twice.

Workers run as subprocesses against the test database (committed data, hence
`transactional_db`) and the test data dir (same encryption key and simulator "provider").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from converge.connectors.simulate import simulator_outbox
from converge.conversations.models import Direction, Message
from converge.providers.types import DeliveryStatus
from tests.conftest import requires_postgres
from tests.helpers import receive

pytestmark = pytest.mark.django_db(transaction=True)

CONVERGE = Path(sys.executable).with_name("converge")


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a `converge` subprocess sharing this test's database and data dir."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "converge.config.settings"
    if db["ENGINE"].endswith("postgresql"):
        auth = quote(db["USER"] or "")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"])
        host = db["HOST"] or "127.0.0.1"
        port = f":{db['PORT']}" if db["PORT"] else ""
        env["DATABASE_URL"] = f"postgresql://{auth}@{host}{port}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{Path(db['NAME']).resolve()}"
    env["CONVERGE_DATA_DIR"] = str(settings.DATA_DIR)
    env["REDIS_URL"] = ""
    env["LOG_LEVEL"] = "WARNING"
    env.update(extra)
    return env


class Proc:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.popen, self.log = name, popen, log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.popen.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not print {text!r} within {timeout}s:\n{self.output()}")
            time.sleep(0.05)


def wait_healthy(server: Proc, base_url: str, timeout: float = 60) -> None:
    """Until a `converge serve` subprocess answers /healthz; fails with its output if it exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if server.popen.poll() is not None:
            pytest.fail(f"{server.name} exited with {server.popen.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{server.name} not healthy within {timeout}s:\n{server.output()}")
        time.sleep(0.1)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start `converge <args>` subprocesses; every one is killed at teardown, whatever happens."""
    procs: list[Proc] = []

    def start(name: str, *args: str, **env: str) -> Proc:
        log = tmp_path / f"{name}.log"
        handle = open(log, "wb")  # noqa: SIM115 -- the child owns it; closed at teardown
        popen = subprocess.Popen(
            [str(CONVERGE), *args],
            env=subprocess_env(**env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=str(tmp_path),
            # Its own process group: `serve --workers` forks web and worker children, and a
            # SIGKILL to the supervisor alone would leave them holding the test database.
            start_new_session=True,
        )
        handle.close()
        proc = Proc(name, popen, log)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)


def patient_message(channel: Any) -> Message:
    """A patient's message, giving a conversation and contact point to reply to. Routing may have
    queued an automatic reply to it (after hours, safety); these tests count only their own rows."""
    message = receive(channel, "+15552017788", "Thanks, see you Tuesday").message
    outbound().delete()
    return message


def queue_bulk(received_message: Message, count: int) -> list[Message]:
    """`count` due outbound messages in the outbox, inserted in one transaction. Due by the real
    clock, which is the workers' clock (not `converge.core.clock`, which a test may have moved)."""
    now = timezone.now()
    rows = [
        Message(
            practice_id=received_message.practice_id,
            conversation_id=received_message.conversation_id,
            patient_id=received_message.patient_id,
            channel_id=received_message.channel_id,
            contact_point_id=received_message.contact_point_id,
            direction=Direction.OUTBOUND,
            body=f"outbound {i}",
            status=DeliveryStatus.QUEUED,
            next_attempt_at=now,
            created_at=now,
        )
        for i in range(count)
    ]
    with transaction.atomic():
        return Message.objects.bulk_create(rows, batch_size=500)


def outbound() -> Any:
    return Message.objects.filter(direction=Direction.OUTBOUND)


def outbox_ids(channel_key: str) -> list[str]:
    return [line["id"] for line in simulator_outbox(channel_key)]


def wait_all_sent(total: int, procs: list[Proc], timeout: float, on_poll: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while outbound().filter(status=DeliveryStatus.SENT).count() < total:
        for proc in procs:
            if proc.popen.poll() is not None:
                pytest.fail(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.output()}")
        if time.monotonic() > deadline:
            counts = dict(outbound().values_list("status").annotate(n=Count("id")))
            logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in procs)
            pytest.fail(f"not all {total} messages sent within {timeout}s: {counts}\n{logs}")
        if on_poll is not None:
            on_poll()
        time.sleep(0.02)


def assert_each_sent_exactly_once(messages: list[Message], channel_key: str) -> None:
    expected = {f"sim-{m.idempotency_key}" for m in messages}
    ids = outbox_ids(channel_key)
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    missing = sorted(expected - set(ids))
    assert not twice, f"the simulator received {len(twice)} messages more than once: {twice}"
    assert not missing, f"{len(missing)} messages never reached the simulator: {missing}"
    assert set(ids) == expected
    statuses = set(outbound().values_list("status", flat=True))
    assert statuses == {DeliveryStatus.SENT}
    for pk, provider_id, key in outbound().values_list("pk", "provider_message_id", "idempotency_key"):
        assert provider_id == f"sim-{key}", pk


@requires_postgres
def test_two_worker_processes_share_2000_messages_without_double_claims(sms_channel, spawn):
    inbound = patient_message(sms_channel)
    # 1 ms of provider latency per send keeps each claimed batch in flight long enough to see
    # both workers holding a batch at the same time.
    worker_env = {"CONVERGE_SIMULATOR_DELAY_MS": "1", "CONVERGE_OUTBOX_BATCH_SIZE": "50"}
    workers = [spawn(f"worker-{i}", "worker", "--idle", "0.1", **worker_env) for i in (1, 2)]
    for worker in workers:
        worker.wait_for_output("worker running")

    messages = queue_bulk(inbound, 2000)
    most_batches_in_flight = 0

    def observe() -> None:
        nonlocal most_batches_in_flight
        tokens = set(outbound().filter(status=DeliveryStatus.SENDING).values_list("lease_token", flat=True))
        most_batches_in_flight = max(most_batches_in_flight, len(tokens))

    wait_all_sent(2000, workers, timeout=120, on_poll=observe)

    assert_each_sent_exactly_once(messages, sms_channel.key)
    # A row claimed by both workers would have been claimed twice: attempts counts claims.
    assert set(outbound().values_list("attempts", flat=True)) == {1}
    for worker in workers:
        assert worker.popen.poll() is None, worker.output()
        assert "lease lost" not in worker.output()
        assert "Traceback" not in worker.output(), worker.output()[-4000:]
    # Each worker holds at most one batch at a time, so two batches in flight at once means both
    # workers were claiming and sending.
    assert most_batches_in_flight == 2


def test_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(sms_channel, spawn):
    inbound = patient_message(sms_channel)
    total = 30
    messages = queue_bulk(inbound, total)
    # Slow sends (the simulator has accepted the message and sleeps before answering) and a short
    # lease, so the dead worker's claims expire quickly.
    env = {
        "CONVERGE_SIMULATOR_DELAY_MS": "50",
        "CONVERGE_OUTBOX_LEASE_SECONDS": "5",
        "CONVERGE_OUTBOX_BATCH_SIZE": "5",
    }
    first = spawn("worker-1", "worker", "--idle", "0.1", **env)

    # Freeze the worker (SIGSTOP) to look at a stable state, and SIGKILL it only at a moment that
    # is the worst case: its batch is half done and the provider has accepted a message that the
    # database still shows as `sending`.
    deadline = time.monotonic() + 30
    while True:
        if first.popen.poll() is not None:
            pytest.fail(f"worker-1 exited early:\n{first.output()}")
        if time.monotonic() > deadline:
            counts = dict(outbound().values_list("status").annotate(n=Count("id")))
            lines = len(outbox_ids(sms_channel.key))
            pytest.fail(f"worker-1 never reached a mid-batch state ({lines} sent, {counts}):\n{first.output()}")
        if len(outbox_ids(sms_channel.key)) >= 8:
            os.kill(first.pid, signal.SIGSTOP)
            in_flight = {
                m.pk: f"sim-{m.idempotency_key}" for m in outbound().filter(status=DeliveryStatus.SENDING, attempts=1)
            }
            accepted = set(outbox_ids(sms_channel.key))
            accepted_not_recorded = {pk for pk, sim_id in in_flight.items() if sim_id in accepted}
            if accepted_not_recorded:
                first.popen.kill()
                first.popen.wait(timeout=10)
                break
            os.kill(first.pid, signal.SIGCONT)
        time.sleep(0.005)

    sent_before = outbound().filter(status=DeliveryStatus.SENT).count()
    assert 0 < sent_before < total
    still_claimed = set(outbound().filter(status=DeliveryStatus.SENDING).values_list("pk", flat=True))
    assert still_claimed == set(in_flight)
    assert accepted_not_recorded <= still_claimed

    second = spawn("worker-2", "worker", "--idle", "0.1", **env)
    wait_all_sent(total, [second], timeout=45)

    assert_each_sent_exactly_once(messages, sms_channel.key)
    attempts = dict(outbound().values_list("pk", "attempts"))
    # The dead worker's claims were taken over once their lease expired; nothing else was retried.
    assert {pk for pk, n in attempts.items() if n == 2} == still_claimed
    assert {n for pk, n in attempts.items() if pk not in still_claimed} == {1}
    assert "Traceback" not in second.output(), second.output()[-4000:]
