"""The worker loop: inbound messages accepted by webhooks, outbox dispatch and periodic jobs,
in-process or as `converge worker`."""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections

from converge.conversations.inbound_queue import inbound_process_due
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core.jobs import run_due_jobs

log = logging.getLogger(__name__)

# Set when this process stores work for the worker, so an in-process worker starts at once
# instead of at its next poll. Separate worker processes poll.
_wake = threading.Event()


def wake_worker() -> None:
    _wake.set()


def run_worker(stop: threading.Event, *, idle_seconds: float = 0.5) -> None:
    log.info("worker started")
    while not stop.is_set():
        close_old_connections()
        _wake.clear()
        try:
            done = inbound_process_due()
            done += outbox_dispatch_batch()
            run_due_jobs()
        except Exception:
            log.exception("worker iteration failed")
            done = 0
        if done == 0:
            _idle(stop, idle_seconds)
    close_old_connections()
    log.info("worker stopped")


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
