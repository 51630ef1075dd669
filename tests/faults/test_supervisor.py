"""Fault: under `converge serve --workers 2`, the worker process dies (it used to stay <defunct>
with the queue growing), and the supervisor is SIGKILLed (its children used to live on,
holding the database)."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.conftest import requires_postgres, requires_redis
from tests.conversations.test_outbox_processes import spawn, wait_healthy  # noqa: F401
from tests.faults.processes import alive, children, queue_inbound, stored_inbound, wait_for, worker_children
from tests.providers.email.mailservers import free_port

pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres, requires_redis]


def test_a_dead_worker_is_restarted_and_nothing_outlives_a_killed_supervisor(sms_channel: Any, spawn: Any) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = spawn(
        "serve",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        REDIS_URL=settings.REDIS_URL,
        CONVERGE_WORKER_HEARTBEAT_SECONDS="0.5",
        LOG_LEVEL="INFO",
    )
    wait_healthy(server, base)
    wait_for("a worker process", lambda: worker_children(server.pid), timeout=30)
    [first] = worker_children(server.pid)
    wait_for("/readyz 200", lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, timeout=30)

    os.kill(first, signal.SIGKILL)
    restarted = wait_for(
        "a new worker process", lambda: [p for p in worker_children(server.pid) if p != first], timeout=30
    )
    assert "worker process stopped (killed by SIGKILL); restarting it in 1 s" in server.output()
    queue_inbound(sms_channel, 20, "restart")
    wait_for("the queued messages stored by the new worker", lambda: stored_inbound(sms_channel) == 20, timeout=60)
    print(f"\nworker SIGKILLed: a new one started {restarted:.1f} s later and drained the queue")

    family = [*children(server.pid)]
    family += [grandchild for child in family for grandchild in children(child)]
    assert len(family) >= 3  # two web processes and the worker (and multiprocessing helpers)
    os.kill(server.pid, signal.SIGKILL)
    server.popen.wait(timeout=10)
    gone = wait_for(
        f"every child of the killed supervisor gone: {[p for p in family if alive(p)]}",
        lambda: not any(alive(p) for p in family),
        timeout=30,
        poll=0.1,
    )
    print(f"supervisor SIGKILLed: its {len(family)} children gone {gone:.1f} s later")
