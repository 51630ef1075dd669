"""Faults against Converge as a clinic runs it: `converge serve --workers 2` (web processes and a
worker, the production inbound mode: webhooks queue, the worker stores), real signed webhooks over
HTTP, and a Redis of the test's own. Each test counts sent / accepted / stored / lost / duplicated
and checks that /readyz names the fault with 503 and answers 200 again after recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.db import connection
from django.db.models import Count

from converge.conversations.models import Direction, Message
from converge.providers.simulator.connector import SIGNATURE_HEADER, sign
from tests.conftest import requires_postgres
from tests.conversations.test_outbox_processes import spawn, wait_healthy  # noqa: F401
from tests.faults.processes import wait_for, worker_children
from tests.providers.email.mailservers import free_port
from tests.redis_server import start_redis, stop_redis

pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres]

BEAT = "0.5"  # worker heartbeat seconds: a stopped worker is known dead after 1.5 s
SERVED_APP = "converge-fault-served"


@dataclass
class Served:
    base: str
    proc: Any
    channel: Any

    def post(self, client: httpx.Client, n: int, prefix: str) -> int:
        body = json.dumps({"from": f"+1555400{n:04d}", "text": f"hello {n}", "id": f"{prefix}-{n}"}).encode()
        signature = sign(self.channel.credentials()["webhook_secret"], body)
        try:
            response = client.post(
                f"{self.base}/webhooks/simulator/{self.channel.key}",
                content=body,
                headers={SIGNATURE_HEADER: signature, "content-type": "application/json"},
                timeout=30,
            )
        except httpx.TransportError:
            return 0
        return response.status_code

    def readyz(self) -> tuple[int, list[str]]:
        try:
            response = httpx.get(f"{self.base}/readyz", timeout=5)
        except httpx.TransportError:
            return 0, ["no answer"]
        return response.status_code, response.json().get("reasons", [])


@pytest.fixture
def own_redis_port() -> Iterator[int]:
    proc, url = start_redis()
    yield int(url.rsplit(":", 1)[1].split("/")[0])
    stop_redis(proc)


@pytest.fixture
def served(sms_channel: Any, spawn: Callable[..., Any], own_redis_port: int) -> Served:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = spawn(
        "serve",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        REDIS_URL=f"redis://127.0.0.1:{own_redis_port}/0",
        CONVERGE_WORKER_HEARTBEAT_SECONDS=BEAT,
        LOG_LEVEL="INFO",
        PGAPPNAME=SERVED_APP,  # libpq names the server's connections, so a cut reaches only them
    )
    wait_healthy(proc, base)
    server = Served(base=base, proc=proc, channel=sms_channel)
    wait_for("/readyz 200 at start", lambda: server.readyz()[0] == 200, timeout=30)
    return server


def _stored(channel: Any) -> int:
    return Message.objects.filter(channel=channel, direction=Direction.INBOUND).count()


def _duplicated(channel: Any) -> int:
    rows = (
        Message.objects.filter(channel=channel, direction=Direction.INBOUND)
        .values("provider_message_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    return sum(row["n"] - 1 for row in rows)


def _report(fault: str, sent: int, accepted: int, stored: int, duplicated: int, capsys: Any) -> None:
    with capsys.disabled():
        print(f"\n{'fault':<46} sent accepted stored lost duplicated")
        print(f"{fault:<46} {sent:>4} {accepted:>8} {stored:>6} {accepted - stored:>4} {duplicated:>10}")


def test_every_delivery_posted_twice_at_once_is_stored_once(served: Served, capsys: Any) -> None:
    sent = 300
    with httpx.Client() as client, ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda n: served.post(client, n // 2, "twice"), range(sent * 2)))
    wait_for("all stored by the worker", lambda: _stored(served.channel) >= sent, timeout=120)
    time.sleep(1.0)  # a duplicate would be stored by now
    stored, duplicated = _stored(served.channel), _duplicated(served.channel)
    _report("each webhook posted twice concurrently", sent, sent, stored, duplicated, capsys)
    assert statuses.count(200) == sent * 2
    assert (stored, duplicated) == (sent, 0)


def test_redis_stopped_mid_burst_refuses_nothing_and_readyz_names_it(
    served: Served, own_redis_port: int, capsys: Any
) -> None:
    sent = 300
    statuses: list[int] = []
    with httpx.Client() as client:
        for n in range(sent):
            if n == sent // 3:
                subprocess.run(["redis-cli", "-p", str(own_redis_port), "shutdown", "nosave"], check=False)
            statuses.append(served.post(client, n, "redis"))
    code, reasons = served.readyz()
    assert code == 503 and "redis unreachable" in reasons
    wait_for("all stored with Redis down", lambda: _stored(served.channel) == sent, timeout=120)

    restarted, _ = start_redis(own_redis_port)
    try:
        wait_for("/readyz 200 after Redis is back", lambda: served.readyz()[0] == 200, timeout=30)
        with httpx.Client() as client:
            after = [served.post(client, sent + n, "redis") for n in range(20)]
        wait_for("stored after recovery", lambda: _stored(served.channel) == sent + 20, timeout=60)
    finally:
        stop_redis(restarted)
    _report(
        "redis stopped at 1/3 of the burst",
        sent + 20,
        (statuses + after).count(200),
        _stored(served.channel),
        _duplicated(served.channel),
        capsys,
    )
    assert statuses.count(200) == sent and after.count(200) == 20
    assert _duplicated(served.channel) == 0


def test_a_stalled_worker_shows_on_readyz_and_nothing_waits_forever(served: Served, capsys: Any) -> None:
    """SIGSTOP, not SIGKILL: the supervisor restarts a dead worker, but a hung one (a stuck call, a
    frozen VM) is alive to it. /readyz must say so while webhooks keep being accepted."""
    [worker] = wait_for_value(lambda: worker_children(served.proc.pid), timeout=30)
    os.kill(worker, signal.SIGSTOP)
    try:
        with httpx.Client() as client:
            statuses = [served.post(client, n, "stalled") for n in range(50)]
        wait_for(
            "/readyz 503 naming the missing heartbeat",
            lambda: any("no worker heartbeat" in r for r in served.readyz()[1]),
            timeout=30,
        )
        assert served.readyz()[0] == 503
    finally:
        os.kill(worker, signal.SIGCONT)
    wait_for("stored once the worker runs again", lambda: _stored(served.channel) == 50, timeout=60)
    wait_for("/readyz 200 again", lambda: served.readyz()[0] == 200, timeout=30)
    _report(
        "worker stalled (SIGSTOP) during 50 webhooks",
        50,
        statuses.count(200),
        _stored(served.channel),
        _duplicated(served.channel),
        capsys,
    )
    assert statuses.count(200) == 50 and _duplicated(served.channel) == 0


def test_database_connections_cut_three_times_lose_nothing_acknowledged(served: Served, capsys: Any) -> None:
    sent = 300
    database = connection.settings_dict["NAME"]
    statuses: list[int] = []
    cut = 0
    with httpx.Client() as client:
        for n in range(sent):
            if n in (60, 150, 240):
                with connection.cursor() as cursor:
                    # Only the served processes' connections: this test process's pool (and the
                    # next tests that reuse it) must not lose theirs.
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND application_name = %s",
                        [database, SERVED_APP],
                    )
                    cut += cursor.rowcount
            statuses.append(served.post(client, n, "dbcut"))
    accepted_ids = {f"dbcut-{n}" for n, status in enumerate(statuses) if status == 200}
    wait_for("every accepted webhook stored", lambda: _stored_ids(served.channel) >= accepted_ids, timeout=120)
    time.sleep(1.0)
    stored = _stored_ids(served.channel)
    refused = [s for s in statuses if s != 200]
    _report(
        "db backends terminated 3 times mid-burst",
        sent,
        len(accepted_ids),
        len(stored & accepted_ids),
        _duplicated(served.channel),
        capsys,
    )
    assert cut >= 3  # the served processes' connections really were terminated, each time
    assert set(refused) <= {500, 503, 0}, refused  # a refused delivery is retried by the provider
    assert not stored - {f"dbcut-{n}" for n in range(sent)}
    assert _duplicated(served.channel) == 0
    wait_for("/readyz 200 after the cuts", lambda: served.readyz()[0] == 200, timeout=30)


def _stored_ids(channel: Any) -> set[str]:
    return set(
        Message.objects.filter(channel=channel, direction=Direction.INBOUND).values_list(
            "provider_message_id", flat=True
        )
    )


def wait_for_value(get: Callable[[], list[int]], timeout: float) -> list[int]:
    found: list[int] = []

    def ready() -> bool:
        found[:] = get()
        return bool(found)

    wait_for("a value", ready, timeout=timeout)
    return found
