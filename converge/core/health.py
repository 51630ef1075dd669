"""/readyz: can this installation do its work right now?

/healthz says the web process answers (liveness). /readyz also checks what the work needs: the
database reachable, its migrations applied, a worker alive (heartbeat), the inbound queue and the
outbox not falling behind, Redis reachable when configured. 200 when all hold, 503 naming what
does not. Public like /healthz, so it carries counts and ages only: no names, ids or addresses.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Min
from django.http import HttpRequest, JsonResponse
from django.urls import path

from converge.core import clock

# Once every migration is applied, that stays true for this process's code; re-checked now and
# then in case the database was swapped (a restore).
_MIGRATIONS_RECHECK_SECONDS = 60.0
_migrations_ok_at = 0.0
_lock = threading.Lock()
_redis_client: Any = None


def readiness() -> tuple[bool, dict[str, Any]]:
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
            _check_database(checks, reasons)
        except Exception:
            reasons.append("database check failed")
            connection.close()
    checks["redis"] = _check_redis(reasons)
    return not reasons, {"ready": not reasons, "reasons": reasons, "checks": checks}


def _check_database(checks: dict[str, Any], reasons: list[str]) -> None:
    from converge.connectors.types import DeliveryStatus
    from converge.conversations.models import InboundEvent, Message
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
        workers["last_beat_seconds"] = _age(now, last)
        stale = int(stale_after().total_seconds())
        reasons.append(f"no worker heartbeat in the last {stale} s")
    checks["workers"] = workers

    inbound = InboundEvent.objects.aggregate(oldest=Min("received_at"))
    queued = InboundEvent.objects.count()
    oldest = _age(now, inbound["oldest"])
    checks["inbound"] = {"queued": queued, "oldest_seconds": oldest}
    if oldest is not None and oldest > settings.READYZ_INBOUND_MAX_AGE_SECONDS:
        reasons.append(f"oldest queued inbound message waiting {oldest:.0f} s")

    due = Message.objects.filter(
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING], next_attempt_at__lte=now
    ).aggregate(oldest=Min("next_attempt_at"))
    lag = _age(now, due["oldest"])
    checks["outbox"] = {"lag_seconds": lag or 0.0}
    if lag is not None and lag > settings.READYZ_OUTBOX_MAX_LAG_SECONDS:
        reasons.append(f"outbox behind by {lag:.0f} s")


def _age(now: Any, then: Any) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


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


def readyz(request: HttpRequest) -> JsonResponse:
    ready, body = readiness()
    return JsonResponse(body, status=200 if ready else 503)


urlpatterns = [path("readyz", readyz)]
