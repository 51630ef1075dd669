"""Periodic jobs: `@periodic` names a job, the worker's jobs lane runs them. Which jobs a worker
runs is the list of job modules in converge.worker_lanes, not whatever happens to be imported.

Each job's state is a PeriodicJobState row. The jobs lane reads every row in one query per tick
and starts each due job in a thread of its own (as many at once as the connection pool leaves
room for), so a job that runs long (a stalled IMAP server,
a big reminder dispatch) never holds up the next run of the others. A job is claimed with one
conditional UPDATE — the `next_run_at` this worker read, and nobody running it — so with several
workers it runs once per interval and never twice at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from converge.core import clock
from converge.core.models import PeriodicJobState

log = logging.getLogger(__name__)

# Connections a worker's other threads hold (heartbeat, inbound, outbox, the jobs lane's tick):
# running jobs may use what is left of a connection pool, so a stalled job never makes the
# inbound lane wait for a connection.
OTHER_CONNECTIONS = 4
MAX_RUNNING_JOBS = 8
FULL_TICK_SECONDS = 0.25

# The longest the jobs lane sleeps between ticks: a job made due by another process (or a row
# released from a dead worker) starts at most this late.
MAX_TICK_SECONDS = 1.0


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    func: Callable[[], object]


_registry: dict[str, PeriodicJob] = {}
_current = threading.local()


def periodic(name: str, *, every: timedelta) -> Callable[[Callable[[], object]], Callable[[], object]]:
    def register(func: Callable[[], object]) -> Callable[[], object]:
        _registry[name] = PeriodicJob(name=name, every=every, func=func)
        return func

    return register


def registered_jobs() -> dict[str, PeriodicJob]:
    """Every job `@periodic` has named so far, in the modules imported until now."""
    return dict(_registry)


def stopping() -> bool:
    """True inside a job whose worker is stopping: a job that loops (batch after batch) ends
    after the batch in hand, and the rest waits for the next run."""
    stop: threading.Event | None = getattr(_current, "stop", None)
    return stop is not None and stop.is_set()


# SQLite's busy handler polls for the write lock every 100 ms at most: a job that commits batch
# after batch pauses this long between them, or it takes the lock again before any webhook can.
SQLITE_BATCH_PAUSE_SECONDS = 0.12


def next_batch() -> bool:
    """For a job that loops batch after batch: False when its worker is stopping (the rest waits
    for the next run); on SQLite, first a pause that lets the other writers in."""
    if stopping():
        return False
    if connection.vendor == "sqlite":
        time.sleep(SQLITE_BATCH_PAUSE_SECONDS)
    return True


def max_running_jobs(database: dict[str, Any] | None = None) -> int:
    options = (database or settings.DATABASES["default"]).get("OPTIONS") or {}
    pool = options.get("pool") if isinstance(options, dict) else None
    if isinstance(pool, dict) and "max_size" in pool:
        return max(1, min(MAX_RUNNING_JOBS, int(pool["max_size"]) - OTHER_CONNECTIONS))
    return MAX_RUNNING_JOBS


def job_states(names: list[str]) -> dict[str, PeriodicJobState]:
    """Every job's row in one query; rows missing (a job added since) are created due now."""
    states = {state.name: state for state in PeriodicJobState.objects.filter(name__in=names)}
    if missing := [name for name in names if name not in states]:
        PeriodicJobState.objects.bulk_create(
            [PeriodicJobState(name=name, next_run_at=clock.now()) for name in missing], ignore_conflicts=True
        )
        states.update({state.name: state for state in PeriodicJobState.objects.filter(name__in=missing)})
    return states


def claim(job: PeriodicJob, state: PeriodicJobState, worker_id: str, now: datetime) -> bool:
    """Take a due job: only one worker's UPDATE matches the next_run_at they all read."""
    if state.running_by or state.next_run_at > now:
        return False
    return bool(
        PeriodicJobState.objects.filter(pk=state.pk, next_run_at=state.next_run_at, running_by="").update(
            next_run_at=now + job.every, last_run_at=now, last_error="", running_by=worker_id
        )
    )


def run_claimed(job: PeriodicJob, worker_id: str, stop: threading.Event | None = None) -> None:
    """Run a job this worker claimed, record its error if it fails, and let it go."""
    _current.stop = stop
    error = ""
    try:
        job.func()
    except Exception as exc:
        log.exception("periodic job failed name=%s", job.name)
        error = type(exc).__name__
    finally:
        _current.stop = None
    PeriodicJobState.objects.filter(name=job.name, running_by=worker_id).update(running_by="", last_error=error)


def run_due_jobs(
    jobs: Mapping[str, PeriodicJob], stop: threading.Event | None = None, *, worker_id: str = "inline"
) -> int:
    """Run every due job of `jobs` here, one after the other (tests, one-off runs); returns how many ran."""
    states = job_states(list(jobs))
    ran = 0
    for name, job in jobs.items():
        if stop is not None and stop.is_set():  # stopping: the jobs not started run next time
            break
        if claim(job, states[name], worker_id, clock.now()):
            run_claimed(job, worker_id, stop)
            ran += 1
    return ran


class JobsLane:
    """The worker's jobs lane: one query per tick, each due job in a thread of its own. A job
    still running from its last run is not started again (here, or by another worker)."""

    def __init__(self, worker_id: str, stop: threading.Event, jobs: Mapping[str, PeriodicJob]) -> None:
        self.worker_id = worker_id
        self.stop = stop
        self.jobs = dict(jobs)
        self.running: dict[str, threading.Thread] = {}
        self.max_running = max_running_jobs()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                close_old_connections()
                try:
                    wait = self.tick()
                except Exception:
                    log.exception("worker jobs lane tick failed")
                    connection.close()
                    wait = MAX_TICK_SECONDS
                self.stop.wait(wait)
        finally:
            connection.close()

    def tick(self) -> float:
        """Start the due jobs; returns the seconds until the next one is due (capped)."""
        self.running = {name: thread for name, thread in self.running.items() if thread.is_alive()}
        states = job_states(list(self.jobs))
        now = clock.now()
        for name, state in states.items():
            if state.running_by == self.worker_id and name not in self.running:
                # Its thread ended without letting go (the database was away then).
                PeriodicJobState.objects.filter(pk=state.pk, running_by=self.worker_id).update(running_by="")
                state.running_by = ""
        for name, job in self.jobs.items():
            if self.stop.is_set():
                break
            if len(self.running) >= self.max_running:  # the rest wait for a thread to end
                return FULL_TICK_SECONDS
            if name not in self.running and claim(job, states[name], self.worker_id, now):
                thread = threading.Thread(target=self._run_job, args=(job,), name=f"converge-job-{name}", daemon=True)
                self.running[name] = thread
                thread.start()
        upcoming = [s.next_run_at for n, s in states.items() if n not in self.running and not s.running_by]
        if not upcoming:
            return MAX_TICK_SECONDS
        return max(0.05, min(MAX_TICK_SECONDS, (min(upcoming) - now).total_seconds()))

    def _run_job(self, job: PeriodicJob) -> None:
        try:
            close_old_connections()
            run_claimed(job, self.worker_id, self.stop)
        except Exception:  # the database went away while recording: the heartbeat releases it
            log.exception("periodic job could not be recorded name=%s", job.name)
        finally:
            connection.close()

    def wait_running(self, deadline: float) -> list[str]:
        """At stop: wait for the running jobs until `deadline` (monotonic); the names still running."""
        for thread in list(self.running.values()):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return [name for name, thread in self.running.items() if thread.is_alive()]
