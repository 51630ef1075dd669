"""The worker loop: outbox dispatch and periodic jobs, in-process or as `converge worker`."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections

from converge.conversations.outbox import outbox_dispatch_batch
from converge.core.jobs import run_due_jobs

log = logging.getLogger(__name__)


def run_worker(stop: threading.Event, *, idle_seconds: float = 0.5) -> None:
    log.info("worker started")
    while not stop.is_set():
        close_old_connections()
        try:
            sent = outbox_dispatch_batch()
            run_due_jobs()
        except Exception:
            log.exception("worker iteration failed")
            sent = 0
        if sent == 0:
            stop.wait(idle_seconds)
    close_old_connections()
    log.info("worker stopped")


def start_background_worker() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(stop,), name="converge-worker", daemon=True)
    thread.start()
    return thread, stop
