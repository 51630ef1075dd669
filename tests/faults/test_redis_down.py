"""Fault: Redis stops mid-burst. Redis carries only counters and fan-out, so every webhook is
still accepted and stored, and staff can still sign in (limits become per-process)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from converge.config.settings import redis_channel_layer
from converge.conversations.models import Message
from converge.core import events, throttle
from tests.helpers import PASSWORD, make_staff, signed_simulator_post
from tests.redis_server import start_redis, stop_redis
from tests.worker import run_inbound


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc, url = start_redis()
    yield proc, url
    stop_redis(proc)


@pytest.fixture
def throttle_on(own_redis: tuple[subprocess.Popen[bytes], str]) -> Iterator[subprocess.Popen[bytes]]:
    proc, url = own_redis
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    with override_settings(CACHES=caches):
        throttle._client = None
        throttle._redis_down_until = 0.0
        yield proc
    throttle._client = None
    throttle._redis_down_until = 0.0
    throttle._local_counts.clear()


def test_webhooks_and_login_survive_redis_stopping_mid_burst(
    throttle_on: subprocess.Popen[bytes], practice: Any, sms_channel: Any, capsys: Any
) -> None:
    staff = make_staff(practice)
    sent = 120
    statuses: list[int] = []
    client = Client()
    for i in range(sent):
        if i == sent // 3:
            throttle_on.kill()
            throttle_on.wait(timeout=10)
        payload = {"from": f"+1555201{i:04d}", "text": "hello", "id": f"redis-down-{i}"}
        statuses.append(signed_simulator_post(client, sms_channel, payload).status_code)
    login = Client().post("/login/", {"email": staff.user.email, "password": PASSWORD})
    accepted = sum(1 for s in statuses if s == 200)
    run_inbound()  # the worker takes the queued burst with Redis still down
    stored = Message.objects.filter(channel=sms_channel, direction="in").count()
    with capsys.disabled():
        print("\nfault               sent  accepted  stored  lost  duplicated")
        print(
            f"redis killed at 1/3 {sent:>4}  {accepted:>8}  {stored:>6}  {sent - stored:>4}  {max(0, stored - sent):>10}"
        )
    assert statuses.count(500) == 0
    assert accepted == sent
    assert stored == sent
    assert login.status_code == 302


def test_redis_outage_logs_once_and_retries_after_backoff(
    throttle_on: subprocess.Popen[bytes], caplog: Any, monkeypatch: Any
) -> None:
    throttle_on.kill()
    throttle_on.wait(timeout=10)
    with caplog.at_level("WARNING", logger="converge.core.throttle"):
        for _ in range(50):
            assert throttle.allow("fault:test", 1000)
    assert sum("Redis unavailable" in r.message for r in caplog.records) == 1
    # Per-process counting still limits while Redis is away.
    results = [throttle.allow("fault:limit", 3) for _ in range(5)]
    assert results == [True, True, True, False, False]
    calls: list[int] = []
    monkeypatch.setattr(throttle, "_allow_redis", lambda *a: calls.append(1) or True)
    throttle.allow("fault:test", 1000)
    assert calls == []  # within the back-off Redis is not asked
    monkeypatch.setattr(throttle, "_redis_down_until", time.monotonic() - 1)
    throttle.allow("fault:test", 1000)
    assert calls == [1]


def test_events_while_redis_is_down_are_dropped_with_one_log_line_and_never_block_the_write(
    own_redis: tuple[subprocess.Popen[bytes], str], settings: Any, caplog: Any, monkeypatch: Any
) -> None:
    """A worker process publishes on its publisher thread, where nobody awaits the send: the
    failure is logged there, once per back-off, and the caller returns at once."""
    proc, url = own_redis
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(url, prefix="redis-down-events")}
    monkeypatch.setattr(events, "_failure_logged_at", None)
    events.publish_now(["practice.1"], {"type": "message.received", "message_id": 1})  # while it is up
    proc.kill()
    proc.wait(timeout=10)

    with caplog.at_level("WARNING", logger="converge.core.events"):
        started = time.monotonic()
        for i in range(20):
            events.publish_now(["practice.1"], {"type": "message.received", "message_id": i})
        assert time.monotonic() - started < 1
        deadline = time.monotonic() + 10
        while not any("event publish failed, dropped" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no log line for the dropped events"
            time.sleep(0.05)
        time.sleep(0.5)  # the other 19 fail too, inside the back-off
    dropped = [r for r in caplog.records if "event publish failed, dropped" in r.getMessage()]
    assert len(dropped) == 1
    assert "type=message.received: ConnectionError" in dropped[0].getMessage()
