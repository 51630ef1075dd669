"""/readyz: can this installation do its work right now?

/healthz says the web process answers (liveness). /readyz also checks what the work needs: the
database reachable, its migrations applied, a worker alive (heartbeat), the queues the worker
works through not falling behind (the QueueChecks converge.worker_lanes gives: inbound queue,
outbox), Redis reachable when configured. 200 when all hold, 503 naming what does not. Public like
/healthz, so it carries counts and ages only: no names, ids or addresses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from converge.core import clock

# Once every migration is applied, that stays true for this process's code; re-checked now and
# then in case the database was swapped (a restore).
_MIGRATIONS_RECHECK_SECONDS = 60.0
_migrations_ok_at = 0.0
_lock = threading.Lock()
_redis_client: Any = None


@dataclass(frozen=True)
class QueueReading:
    figures: dict[str, Any]  # counts and ages only: /readyz is public
    behind: str = ""  # why this queue makes the installation not ready; "" while it keeps up


@dataclass(frozen=True)
class QueueCheck:
    name: str
    read: Callable[[datetime], QueueReading]  # given now


def age_seconds(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def readiness(queues: Sequence[QueueCheck]) -> tuple[bool, dict[str, Any]]:
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unreachable"
        reasons.append("database unreachable")
        connection.close()
    if checks["database"] == "ok":
        try:
            _check_database(checks, reasons, queues)
        except Exception:
            reasons.append("database check failed")
            connection.close()
    checks["redis"] = _check_redis(reasons)
    return not reasons, {"ready": not reasons, "reasons": reasons, "checks": checks}


def _check_database(checks: dict[str, Any], reasons: list[str], queues: Sequence[QueueCheck]) -> None:
    from converge.core.heartbeat import live_workers, stale_after
    from converge.core.models import WorkerHeartbeat

    unapplied = _unapplied_migrations()
    checks["migrations"] = {"unapplied": unapplied}
    if unapplied:
        reasons.append(f"{unapplied} migrations not applied")

    now = clock.now()
    alive = live_workers().count()
    workers: dict[str, Any] = {"alive": alive, "expected": bool(settings.WORKER_EXPECTED)}
    if settings.WORKER_EXPECTED and not alive:
        last = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
        workers["last_beat_seconds"] = age_seconds(now, last)
        stale = int(stale_after().total_seconds())
        reasons.append(f"no worker heartbeat in the last {stale} s")
    checks["workers"] = workers

    for queue in queues:
        reading = queue.read(now)
        checks[queue.name] = reading.figures
        if reading.behind:
            reasons.append(reading.behind)


def _unapplied_migrations() -> int:
    global _migrations_ok_at
    if time.monotonic() - _migrations_ok_at < _MIGRATIONS_RECHECK_SECONDS and _migrations_ok_at:
        return 0
    from django.db.migrations.executor import MigrationExecutor

    with _lock:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        _migrations_ok_at = time.monotonic()
    return len(plan)


def _check_redis(reasons: list[str]) -> str:
    global _redis_client
    if not settings.REDIS_URL:
        return "not configured"
    try:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        _redis_client.ping()
        return "ok"
    except Exception:
        reasons.append("redis unreachable")
        return "unreachable"


def readyz(request: HttpRequest, queues: Sequence[QueueCheck]) -> JsonResponse:
    """The view; config.urls passes the queues to check."""
    ready, body = readiness(queues)
    return JsonResponse(body, status=200 if ready else 503)
