"""The worker's machinery: lanes that never wait for each other, their wake-up, the heartbeat
and the stop. Which lanes, claims and jobs a worker runs is not core's to know: converge.worker_lanes
lists them and calls `run_worker` — in-process (`converge serve`, `demo`) or as `converge worker`.

Each lane is a thread with its own database connection, woken at once by `wake_worker` in this
process, else polling; the jobs lane (core.jobs.JobsLane) runs each due job in a thread of its
own. An urgent patient message is therefore never queued behind a stalled IMAP poll, a media
download or ten thousand reminders. On SQLite the lanes' writes queue on the busy timeout
(IMMEDIATE transactions, converge.config.env.sqlite_config), and a step that still fails is
retried by its lane, its rows kept.

A worker records a heartbeat (core.heartbeat) from its own thread, so a dead worker's claims are
released by the others within seconds. Stopping (SIGTERM, or `stop` set) finishes the row in
hand in each lane, waits for running jobs while there is time, hands the rest of its claims back
and removes its heartbeat — within WORKER_STOP_SECONDS."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.db import close_old_connections, connection

from converge.core.heartbeat import Claims, Heartbeat, release_own_claims
from converge.core.jobs import JobsLane, PeriodicJob

log = logging.getLogger(__name__)

# How long a stopping worker gives its lanes and running jobs before handing back what is left;
# `converge worker` exits at 10 s whatever happens (cli.WORKER_STOP_SECONDS).
STOP_GRACE_SECONDS = 6.0


@dataclass(frozen=True)
class Lane:
    """One lane: `step(worker_id, stop)` claims a batch and handles it, returning how many rows it
    did (0: nothing due, so the lane waits); `warm`, if any, runs once before its first step, in a
    thread of its own (_warmed)."""

    name: str
    step: Callable[[str, threading.Event], int]
    warm: Callable[[], None] | None = None


# Set when this process stores work for the worker, so an in-process worker's lanes start at
# once instead of at their next poll. Separate worker processes poll. One event per lane name:
# the lane that wakes first does not swallow the other's wake-up.
_wakes: dict[str, threading.Event] = {}
_wakes_lock = threading.Lock()


def _wake_event(lane: str) -> threading.Event:
    with _wakes_lock:
        return _wakes.setdefault(lane, threading.Event())


def wake_worker() -> None:
    with _wakes_lock:
        events = list(_wakes.values())
    for event in events:
        event.set()


def run_worker(
    stop: threading.Event,
    *,
    lanes: Sequence[Lane],
    claims: Sequence[Claims],
    jobs: Mapping[str, PeriodicJob],
    idle_seconds: float = 0.5,
) -> None:
    heartbeat = _register(stop, claims, ",".join([*(lane.name for lane in lanes), "jobs"]))
    if heartbeat is None:
        return
    worker_id = heartbeat.worker_id
    connection.close()  # this thread only waits now; its connection goes back to the pool
    jobs_lane = JobsLane(worker_id, stop, jobs)
    threads = [_start(lane.name, _lane, lane, worker_id, stop, idle_seconds) for lane in lanes]
    threads.append(_start("jobs", jobs_lane.run))
    log.info("worker started")
    try:
        while not stop.wait(0.5):  # a timed wait: the main thread still takes SIGTERM at once
            pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        busy = [thread.name for thread in threads if thread.is_alive()] + jobs_lane.wait_running(deadline)
        if busy:
            log.warning("worker stopping with work still running: %s", ", ".join(busy))
    finally:
        try:
            released = release_own_claims(worker_id, claims)
            if any(released.values()):
                log.info("worker released claims at stop: %s", _counts(released))
            heartbeat.stop()
        except Exception as exc:  # the database is away: the others release them once the beat is stale
            log.error("worker could not release its claims at stop: %s", type(exc).__name__)
        connection.close()
    log.info("worker stopped")


def _counts(released: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in released.items())


def _start(name: str, target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=f"converge-{name}", daemon=True)
    thread.start()
    return thread


def _lane(lane: Lane, worker_id: str, stop: threading.Event, idle_seconds: float) -> None:
    """Do a step (a claimed batch) until there is nothing due, then wait for a wake-up or the
    next poll. A failed step (the database away or locked) keeps its rows for the retry."""
    wake = _wake_event(lane.name)
    try:
        if not _warmed(lane, stop):
            return
        while not stop.is_set():
            close_old_connections()
            wake.clear()
            try:
                done = lane.step(worker_id, stop)
            except Exception:
                log.exception("worker %s lane step failed", lane.name)
                connection.close()
                done = 0
            if done == 0:
                _idle(stop, idle_seconds, wake)
    finally:
        connection.close()


def _warmed(lane: Lane, stop: threading.Event) -> bool:
    """Run the lane's warm-up (if any) and wait for it, unless the worker stops first (False). It
    runs in a thread of its own: a model load cannot be interrupted and holds no claims, so a stop
    during it does not wait for it (it kept `converge worker` seconds past a SIGTERM)."""
    if lane.warm is None:
        return True
    warm = lane.warm
    done = threading.Event()

    def run() -> None:
        try:
            warm()
        except Exception:  # the lane's step tries again, and says why there
            log.exception("worker %s lane could not warm up", lane.name)
        finally:
            connection.close()
            done.set()

    _start(f"{lane.name}-warm", run)
    while not done.wait(0.1):
        if stop.is_set():
            return False
    return True


def _register(stop: threading.Event, claims: Sequence[Claims], lanes: str) -> Heartbeat | None:
    """The first heartbeat, before anything is claimed; retried while the database is away."""
    heartbeat = Heartbeat(claims=claims, lanes=lanes)
    failing = False
    while not stop.is_set():
        try:
            heartbeat.start()
            return heartbeat
        except Exception as exc:
            if not failing:
                log.error("worker cannot record its heartbeat yet (%s); retrying", type(exc).__name__)
            failing = True
            close_old_connections()
            stop.wait(1.0)
    return None


def _idle(stop: threading.Event, seconds: float, wake: threading.Event | None = None) -> None:
    """Wait until the next poll, new work in this process, or stop, whichever comes first."""
    wake = wake or threading.Event()
    deadline = time.monotonic() + seconds
    while not stop.is_set() and not wake.is_set() and (left := deadline - time.monotonic()) > 0:
        wake.wait(min(left, 0.1))


def start_background_worker(
    *, lanes: Sequence[Lane], claims: Sequence[Claims], jobs: Mapping[str, PeriodicJob]
) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(stop,),
        kwargs={"lanes": lanes, "claims": claims, "jobs": jobs},
        name="converge-worker",
        daemon=True,
    )
    thread.start()
    return thread, stop
