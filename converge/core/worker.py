"""The worker loop: inbound messages accepted by webhooks, outbox dispatch and periodic jobs,
in-process or as `converge worker`.

A worker records a heartbeat (core.heartbeat) from its own thread, so a dead worker's claims are
released by the others within seconds. Stopping (SIGTERM, or `stop` set) finishes the row in
hand, hands the rest of its claims back and removes its heartbeat."""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections

from converge.conversations.inbound_queue import inbound_process_due
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core.heartbeat import Heartbeat, release_own_claims
from converge.core.jobs import run_due_jobs

log = logging.getLogger(__name__)

# Set when this process stores work for the worker, so an in-process worker starts at once
# instead of at its next poll. Separate worker processes poll.
_wake = threading.Event()


def wake_worker() -> None:
    _wake.set()


def run_worker(stop: threading.Event, *, idle_seconds: float = 0.5) -> None:
    heartbeat = _register(stop)
    if heartbeat is None:
        return
    worker_id = heartbeat.worker_id
    log.info("worker started")
    try:
        while not stop.is_set():
            close_old_connections()
            _wake.clear()
            try:
                done = inbound_process_due(worker_id=worker_id, stop=stop)
                if not stop.is_set():
                    done += outbox_dispatch_batch(worker_id=worker_id, stop=stop)
                if not stop.is_set():
                    run_due_jobs(stop)
            except Exception:
                log.exception("worker iteration failed")
                done = 0
            if done == 0:
                _idle(stop, idle_seconds)
    finally:
        try:
            inbound, outbox = release_own_claims(worker_id)
            if inbound or outbox:
                log.info("worker released %s inbound and %s outbound claims at stop", inbound, outbox)
            heartbeat.stop()
        except Exception as exc:  # the database is away: the others release them once the beat is stale
            log.error("worker could not release its claims at stop: %s", type(exc).__name__)
        close_old_connections()
    log.info("worker stopped")


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


def _idle(stop: threading.Event, seconds: float) -> None:
    """Wait until the next poll, new work in this process, or stop, whichever comes first."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and not _wake.is_set() and (left := deadline - time.monotonic()) > 0:
        _wake.wait(min(left, 0.1))


def start_background_worker() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(stop,), name="converge-worker", daemon=True)
    thread.start()
    return thread, stop
