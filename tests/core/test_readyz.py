"""/readyz: 200 when the installation can do its work, 503 naming what stops it; counts and
ages only (it is public, like /healthz)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client

from converge.conversations.models import InboundEvent, Message
from converge.core import clock, health, heartbeat
from tests.conversations.test_outbox_processes import patient_message, queue_bulk
from tests.faults.processes import queue_inbound

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def expect_worker(settings: Any) -> Iterator[None]:
    settings.WORKER_EXPECTED = True
    settings.REDIS_URL = ""
    health._redis_client = None
    yield
    health._redis_client = None


def readyz() -> tuple[int, dict[str, Any]]:
    response = Client().get("/readyz")
    return response.status_code, json.loads(response.content)


def test_ready_with_a_live_worker_and_nothing_behind() -> None:
    heartbeat.beat("host:1:abc")
    status, body = readyz()
    assert status == 200, body
    assert body["ready"] is True and body["reasons"] == []
    checks = body["checks"]
    assert checks["database"] == "ok"
    assert checks["migrations"] == {"unapplied": 0}
    assert checks["workers"] == {"alive": 1, "expected": True}
    assert checks["inbound"] == {"queued": 0, "oldest_seconds": None}
    assert checks["outbox"] == {"lag_seconds": 0.0}
    assert checks["redis"] == "not configured"


def test_no_fresh_heartbeat_is_not_ready_and_a_new_beat_makes_it_ready() -> None:
    heartbeat.beat("host:1:abc")
    with clock.frozen(clock.now() + heartbeat.stale_after() + timedelta(seconds=5)):
        status, body = readyz()
        assert status == 503
        assert body["reasons"] == ["no worker heartbeat in the last 15 s"]
        assert body["checks"]["workers"]["alive"] == 0
        assert body["checks"]["workers"]["last_beat_seconds"] >= 20
        heartbeat.beat("host:2:def")
        assert readyz()[0] == 200


def test_no_worker_expected_means_none_needed(settings: Any) -> None:
    settings.WORKER_EXPECTED = False
    assert readyz()[0] == 200


def test_an_old_queued_inbound_message_is_not_ready_and_says_only_its_age(sms_channel: Any) -> None:
    heartbeat.beat("host:1:abc")
    queue_inbound(sms_channel, 3, "old")
    InboundEvent.objects.update(received_at=clock.now() - timedelta(seconds=200))
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["reasons"] == ["oldest queued inbound message waiting 200 s"]
    assert body["checks"]["inbound"]["queued"] == 3
    assert b"+1555300" not in response.content and b"hello" not in response.content
    InboundEvent.objects.all().delete()
    assert readyz()[0] == 200


def test_outbox_lag_is_not_ready(sms_channel: Any) -> None:
    heartbeat.beat("host:1:abc")
    inbound = patient_message(sms_channel)
    [message] = queue_bulk(inbound, 1)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=clock.now() - timedelta(seconds=400))
    status, body = readyz()
    assert status == 503
    assert body["reasons"] == ["outbox behind by 400 s"]
    Message.objects.filter(pk=message.pk).update(next_attempt_at=clock.now() + timedelta(seconds=60))
    assert readyz()[0] == 200  # scheduled later: not behind


def test_unapplied_migrations_are_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db.migrations.executor import MigrationExecutor

    heartbeat.beat("host:1:abc")
    monkeypatch.setattr(health, "_migrations_ok_at", 0.0)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("m", False), ("n", False)])
    status, body = readyz()
    assert status == 503
    assert body["reasons"] == ["2 migrations not applied"]


def test_database_unreachable_is_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    class Down:
        def cursor(self) -> Any:
            raise OperationalError("connection refused")

        def close(self) -> None:
            pass

    monkeypatch.setattr(health, "connection", Down())
    status, body = readyz()
    assert status == 503
    assert body["reasons"] == ["database unreachable"]
    assert body["checks"] == {"database": "unreachable", "redis": "not configured"}


def test_redis_configured_but_unreachable_is_not_ready(settings: Any) -> None:
    heartbeat.beat("host:1:abc")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    status, body = readyz()
    assert status == 503
    assert body["reasons"] == ["redis unreachable"]
    assert body["checks"]["redis"] == "unreachable"
