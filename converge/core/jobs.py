"""Periodic jobs: a registry that later capabilities add to, run by the worker loop.

Each job's next run time is a database row claimed with SKIP LOCKED, so with several workers a
job runs once per interval, not once per worker.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction

from converge.core import clock
from converge.core.models import PeriodicJobState

log = logging.getLogger(__name__)

JOB_MODULES = (
    "converge.audit.jobs",
    "converge.conversations.jobs",
    "converge.reminders.jobs",
    "converge.privacy.jobs",
    "converge.routing.jobs",
    "converge.connectors.email_ingest",
    "converge.connectors.webchat_availability",
    "converge.connectors.jobs",
)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    func: Callable[[], object]


_registry: dict[str, PeriodicJob] = {}


def periodic(name: str, *, every: timedelta) -> Callable[[Callable[[], object]], Callable[[], object]]:
    def register(func: Callable[[], object]) -> Callable[[], object]:
        _registry[name] = PeriodicJob(name=name, every=every, func=func)
        return func

    return register


def registered_jobs() -> dict[str, PeriodicJob]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return dict(_registry)


def run_due_jobs(stop: threading.Event | None = None) -> int:
    ran = 0
    for job in registered_jobs().values():
        if stop is not None and stop.is_set():  # stopping: the jobs not started run next time
            break
        if _claim(job):
            try:
                job.func()
            except Exception as exc:
                log.exception("periodic job failed name=%s", job.name)
                PeriodicJobState.objects.filter(name=job.name).update(last_error=type(exc).__name__)
            ran += 1
    return ran


def _claim(job: PeriodicJob) -> bool:
    now = clock.now()
    with contextlib.suppress(IntegrityError):
        PeriodicJobState.objects.get_or_create(name=job.name, defaults={"next_run_at": now})
    with transaction.atomic():
        state = (
            PeriodicJobState.objects.select_for_update(skip_locked=True)
            .filter(name=job.name, next_run_at__lte=now)
            .first()
        )
        if state is None:
            return False
        state.next_run_at = now + job.every
        state.last_run_at = now
        state.last_error = ""
        state.save(update_fields=["next_run_at", "last_run_at", "last_error"])
    return True
