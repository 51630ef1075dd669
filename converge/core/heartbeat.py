"""Worker heartbeats: who is alive, and releasing the claims of workers that are not.

Every worker (the in-process one of `converge serve`, or `converge worker`) has a WorkerHeartbeat
row that a thread of its own refreshes every WORKER_HEARTBEAT_SECONDS, whatever the worker loop is
busy with (a slow send, a long job). A row not refreshed for 3 beats means the worker is dead
(killed, machine gone): on each beat, every live worker releases the inbound rows, outbox
messages and periodic jobs whose `leased_by` / `running_by` names no live worker, so they are
taken up again within seconds instead of after their whole lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from converge.core import clock
from converge.core.models import PeriodicJobState, WorkerHeartbeat

log = logging.getLogger(__name__)

LANES = "inbound,outbox,jobs"
# Dead workers' rows are kept this long (for /readyz's "last seen"), then deleted.
KEEP_DEAD = timedelta(hours=1)


def beat_interval() -> float:
    return float(settings.WORKER_HEARTBEAT_SECONDS)


def stale_after() -> timedelta:
    return timedelta(seconds=3 * beat_interval())


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def live_workers() -> QuerySet[WorkerHeartbeat]:
    return WorkerHeartbeat.objects.filter(beat_at__gte=clock.now() - stale_after())


def beat(worker_id: str, *, lanes: str = LANES, started_at: datetime | None = None) -> bool:
    """Refresh this worker's row; False when it was missing (first beat, or declared dead)."""
    now = clock.now()
    if WorkerHeartbeat.objects.filter(worker_id=worker_id).update(beat_at=now):
        return True
    WorkerHeartbeat.objects.create(worker_id=worker_id, started_at=started_at or now, beat_at=now, lanes=lanes)
    return False


def release_dead_claims() -> tuple[int, int]:
    """Make the rows claimed by workers with no fresh heartbeat due again now. Returns (inbound
    rows, outbox messages) released. Rows a live worker holds are left alone."""
    from converge.connectors.types import DeliveryStatus
    from converge.conversations.models import InboundEvent, Message

    now = clock.now()
    live = live_workers().values("worker_id")
    inbound = (
        InboundEvent.objects.exclude(leased_by="").exclude(leased_by__in=live).update(next_attempt_at=now, leased_by="")
    )
    # Expiring the lease is all a claim needs to be taken again (outbox_claim); status, token and
    # attempts stay as the dead worker left them.
    outbox = (
        Message.objects.filter(status=DeliveryStatus.SENDING, lease_expires_at__gt=now)
        .exclude(leased_by="")
        .exclude(leased_by__in=live)
        .update(lease_expires_at=now, leased_by="")
    )
    jobs = PeriodicJobState.objects.exclude(running_by="").exclude(running_by__in=live).update(running_by="")
    if inbound or outbox or jobs:
        log.warning("released claims of dead workers: %s inbound, %s outbound, %s jobs", inbound, outbox, jobs)
    WorkerHeartbeat.objects.filter(beat_at__lt=now - KEEP_DEAD).delete()
    return inbound, outbox


def release_own_claims(worker_id: str) -> tuple[int, int]:
    """At a worker's exit: whatever it still holds is due again now (nothing was done with it)."""
    from django.db.models import F

    from converge.connectors.types import DeliveryStatus
    from converge.conversations.models import InboundEvent, Message

    now = clock.now()
    inbound = InboundEvent.objects.filter(leased_by=worker_id).update(next_attempt_at=now, leased_by="")
    outbox = Message.objects.filter(leased_by=worker_id, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.QUEUED,
        lease_token="",
        lease_expires_at=None,
        leased_by="",
        attempts=F("attempts") - 1,  # claimed, never tried
    )
    # A job cut short by the stop runs again at the next tick of any worker.
    PeriodicJobState.objects.filter(running_by=worker_id).update(running_by="", next_run_at=now)
    return inbound, outbox


class Heartbeat:
    """The heartbeat thread of one worker. `start` registers it before the worker claims anything."""

    def __init__(self, worker_id: str | None = None, *, lanes: str = LANES) -> None:
        self.worker_id = worker_id or new_worker_id()
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
                    release_dead_claims()
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
