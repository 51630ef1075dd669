"""The worker: inbound messages accepted by webhooks, outbox dispatch and periodic jobs, in
lanes that never wait for each other — in-process (`converge serve`, `demo`) or as
`converge worker`.

Each lane is a thread with its own database connection: inbound (woken at once by
`wake_worker` in this process, else polling), outbox (the same), and jobs (core.jobs.JobsLane,
each due job in a thread of its own). An urgent patient message is therefore never queued behind
a stalled IMAP poll, a media download or ten thousand reminders. On SQLite the lanes' writes
queue on the busy timeout (IMMEDIATE transactions, converge.config.env.sqlite_config), and a
step that still fails is retried by its lane, its rows kept.

A worker records a heartbeat (core.heartbeat) from its own thread, so a dead worker's claims are
released by the others within seconds. Stopping (SIGTERM, or `stop` set) finishes the row in
hand in each lane, waits for running jobs while there is time, hands the rest of its claims back
and removes its heartbeat — within WORKER_STOP_SECONDS."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connection

from converge.conversations.inbound_queue import inbound_process_due
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core.heartbeat import Heartbeat, release_own_claims
from converge.core.jobs import JobsLane

log = logging.getLogger(__name__)

# How long a stopping worker gives its lanes and running jobs before handing back what is left;
# `converge worker` exits at 10 s whatever happens (cli.WORKER_STOP_SECONDS).
STOP_GRACE_SECONDS = 6.0

# Set when this process stores work for the worker, so an in-process worker's lanes start at
# once instead of at their next poll. Separate worker processes poll. One event per lane: the
# lane that wakes first does not swallow the other's wake-up.
_wake_inbound = threading.Event()
_wake_outbox = threading.Event()


def wake_worker() -> None:
    _wake_inbound.set()
    _wake_outbox.set()


def run_worker(stop: threading.Event, *, idle_seconds: float = 0.5) -> None:
    heartbeat = _register(stop)
    if heartbeat is None:
        return
    worker_id = heartbeat.worker_id
    connection.close()  # this thread only waits now; its connection goes back to the pool
    jobs = JobsLane(worker_id, stop)
    lanes = [
        _start(
            "inbound",
            _lane,
            "inbound",
            lambda: inbound_process_due(worker_id=worker_id, stop=stop),
            _wake_inbound,
            stop,
            idle_seconds,
            _warm_triage,
        ),
        _start(
            "outbox",
            _lane,
            "outbox",
            lambda: outbox_dispatch_batch(worker_id=worker_id, stop=stop),
            _wake_outbox,
            stop,
            idle_seconds,
        ),
        _start("jobs", jobs.run),
    ]
    log.info("worker started")
    try:
        while not stop.wait(0.5):  # a timed wait: the main thread still takes SIGTERM at once
            pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for lane in lanes:
            lane.join(timeout=max(0.0, deadline - time.monotonic()))
        if busy := [lane.name for lane in lanes if lane.is_alive()] + jobs.wait_running(deadline):
            log.warning("worker stopping with work still running: %s", ", ".join(busy))
    finally:
        try:
            inbound, outbox = release_own_claims(worker_id)
            if inbound or outbox:
                log.info("worker released %s inbound and %s outbound claims at stop", inbound, outbox)
            heartbeat.stop()
        except Exception as exc:  # the database is away: the others release them once the beat is stale
            log.error("worker could not release its claims at stop: %s", type(exc).__name__)
        connection.close()
    log.info("worker stopped")


def _start(name: str, target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=f"converge-{name}", daemon=True)
    thread.start()
    return thread


def _lane(
    name: str,
    step: Callable[[], int],
    wake: threading.Event,
    stop: threading.Event,
    idle_seconds: float,
    warm: Callable[[], None] | None = None,
) -> None:
    """One lane: do a step (a claimed batch) until there is nothing due, then wait for a wake-up
    or the next poll. A failed step (the database away or locked) keeps its rows for the retry."""
    try:
        if warm is not None:
            warm()
        while not stop.is_set():
            close_old_connections()
            wake.clear()
            try:
                done = step()
            except Exception:
                log.exception("worker %s lane step failed", name)
                connection.close()
                done = 0
            if done == 0:
                _idle(stop, idle_seconds, wake)
    finally:
        connection.close()


def _warm_triage() -> None:
    """Train (or load) the triage classifier now: lazily, the first patient message after a
    start waited seconds for it."""
    try:
        from converge.routing.classifier import get_classifier

        get_classifier()
    except Exception:  # the pipeline tries again on the first message, and says why there
        log.exception("worker could not load the triage classifier at start")


def _register(stop: threading.Event) -> Heartbeat | None:
    """The first heartbeat, before anything is claimed; retried while the database is away."""
    heartbeat = Heartbeat()
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
    wake = wake or _wake_inbound
    deadline = time.monotonic() + seconds
    while not stop.is_set() and not wake.is_set() and (left := deadline - time.monotonic()) > 0:
        wake.wait(min(left, 0.1))


def start_background_worker() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(stop,), name="converge-worker", daemon=True)
    thread.start()
    return thread, stop
