"""Worker heartbeats: who is alive, and releasing the claims of workers that are not.

Every worker (the in-process one of `converge serve`, or `converge worker`) has a WorkerHeartbeat
row that a thread of its own refreshes every WORKER_HEARTBEAT_SECONDS, whatever the worker loop is
busy with (a slow send, a long job). A row not refreshed for 3 beats means the worker is dead
(killed, machine gone): on each beat, every live worker releases the rows whose `leased_by` /
`running_by` names no live worker (the Claims the worker was given: inbound rows, outbox
messages; and the periodic jobs), so they are taken up again within seconds instead of after
their whole lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from converge.core import clock
from converge.core.models import PeriodicJobState, WorkerHeartbeat

log = logging.getLogger(__name__)

# Dead workers' rows are kept this long (for /readyz's "last seen"), then deleted.
KEEP_DEAD = timedelta(hours=1)


@dataclass(frozen=True)
class Claims:
    """Rows of one kind that a worker claims by writing its id in them (`leased_by`): how to make
    them due again. `release_dead(live, now)` releases those held by no worker in `live` (a
    query of live worker ids); `release_own(worker_id, now)` those one stopping worker holds.
    Both return how many rows they released."""

    name: str
    release_dead: Callable[[QuerySet[Any], datetime], int]
    release_own: Callable[[str, datetime], int]


def _jobs_release_dead(live: QuerySet[Any], now: datetime) -> int:
    return PeriodicJobState.objects.exclude(running_by="").exclude(running_by__in=live).update(running_by="")


def _jobs_release_own(worker_id: str, now: datetime) -> int:
    # A job cut short by the stop runs again at the next tick of any worker.
    return PeriodicJobState.objects.filter(running_by=worker_id).update(running_by="", next_run_at=now)


# Every worker runs the jobs lane (core.jobs): its claims are released with the others'.
JOB_CLAIMS = Claims("jobs", _jobs_release_dead, _jobs_release_own)


def beat_interval() -> float:
    return float(settings.WORKER_HEARTBEAT_SECONDS)


def stale_after() -> timedelta:
    return timedelta(seconds=3 * beat_interval())


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def live_workers() -> QuerySet[WorkerHeartbeat]:
    return WorkerHeartbeat.objects.filter(beat_at__gte=clock.now() - stale_after())


def beat(worker_id: str, *, lanes: str = "", started_at: datetime | None = None) -> bool:
    """Refresh this worker's row; False when it was missing (first beat, or declared dead)."""
    now = clock.now()
    if WorkerHeartbeat.objects.filter(worker_id=worker_id).update(beat_at=now):
        return True
    WorkerHeartbeat.objects.create(worker_id=worker_id, started_at=started_at or now, beat_at=now, lanes=lanes)
    return False


def release_dead_claims(claims: Sequence[Claims]) -> dict[str, int]:
    """Make the rows claimed by workers with no fresh heartbeat due again now; how many of each
    kind (`claims`, then the jobs) were released. Rows a live worker holds are left alone."""
    now = clock.now()
    live = live_workers().values("worker_id")
    released = {kind.name: kind.release_dead(live, now) for kind in [*claims, JOB_CLAIMS]}
    if any(released.values()):
        counts = ", ".join(f"{count} {name}" for name, count in released.items())
        log.warning("released claims of dead workers: %s", counts)
    WorkerHeartbeat.objects.filter(beat_at__lt=now - KEEP_DEAD).delete()
    return released


def release_own_claims(worker_id: str, claims: Sequence[Claims]) -> dict[str, int]:
    """At a worker's exit: whatever it still holds is due again now (nothing was done with it)."""
    now = clock.now()
    return {kind.name: kind.release_own(worker_id, now) for kind in [*claims, JOB_CLAIMS]}


class Heartbeat:
    """The heartbeat thread of one worker. `start` registers it before the worker claims anything."""

    def __init__(self, worker_id: str | None = None, *, claims: Sequence[Claims] = (), lanes: str = "") -> None:
        self.worker_id = worker_id or new_worker_id()
        self.claims = claims
        self.lanes = lanes
        self.started_at = clock.now()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        beat(self.worker_id, lanes=self.lanes, started_at=self.started_at)
        self._thread = threading.Thread(target=self._run, name="converge-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failing = False
        try:
            while not self._stop.wait(beat_interval()):
                try:
                    if not beat(self.worker_id, lanes=self.lanes, started_at=self.started_at):
                        log.warning("worker heartbeat row was missing (declared dead?); registered again")
                    release_dead_claims(self.claims)
                    if failing:
                        log.warning("worker heartbeat recorded again")
                    failing = False
                except Exception as exc:  # the database is away: keep trying, say so once
                    if not failing:
                        log.error("worker heartbeat failed: %s", type(exc).__name__)
                    failing = True
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop beating and remove this worker's row (it is not dead, it is gone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
