"""What the worker runs and what /readyz and /metrics watch of it, listed here and nowhere else:
its lanes, the rows its lanes claim, its periodic jobs, and the figures of its queues.

converge.core has the machinery (core.worker lanes and wake-up, core.heartbeat, core.jobs,
core.health, core.metrics) and knows no app; this module gives it the apps' functions. The CLI
(`converge serve`, `converge worker`) starts the worker from here, and config.urls hands
READINESS and DATABASE_GAUGES to the /readyz and /metrics views."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from types import ModuleType

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from converge.accounts import jobs as accounts_jobs
from converge.audit import jobs as audit_jobs
from converge.connectors import email_ingest, webchat_availability
from converge.connectors import jobs as connectors_jobs
from converge.conversations import jobs as conversations_jobs
from converge.conversations import queue_figures, worker_claims
from converge.conversations.inbound.queue import inbound_process_due
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core import jobs, metrics, worker
from converge.core.health import QueueCheck, QueueReading, age_seconds
from converge.core.heartbeat import Claims
from converge.core.jobs import PeriodicJob
from converge.core.worker import Lane
from converge.privacy import jobs as privacy_jobs
from converge.reminders import jobs as reminders_jobs
from converge.reminders.queue_figures import reminders_due
from converge.routing import jobs as routing_jobs
from converge.teamchat import jobs as teamchat_jobs


def _inbound_step(worker_id: str, stop: threading.Event) -> int:
    return inbound_process_due(worker_id=worker_id, stop=stop)


def _outbox_step(worker_id: str, stop: threading.Event) -> int:
    return outbox_dispatch_batch(worker_id=worker_id, stop=stop)


def _warm_triage() -> None:
    """Train (or load) the triage classifier at start: lazily, the first patient message after a
    start waited seconds for it. Imported here, not above: the web process never needs it."""
    from converge.routing.classifier import get_classifier

    get_classifier()


LANES = (
    Lane("inbound", _inbound_step, warm=_warm_triage),
    Lane("outbox", _outbox_step),
)

CLAIMS = (
    Claims("inbound", worker_claims.inbound_release_dead, worker_claims.inbound_release_own),
    Claims("outbox", worker_claims.outbox_release_dead, worker_claims.outbox_release_own),
)

# Each names its jobs with @periodic (core.jobs); a job elsewhere is not run.
JOB_MODULES: tuple[ModuleType, ...] = (
    audit_jobs,
    conversations_jobs,
    reminders_jobs,
    privacy_jobs,
    routing_jobs,
    email_ingest,
    webchat_availability,
    connectors_jobs,
    accounts_jobs,
    teamchat_jobs,
)


def periodic_jobs() -> dict[str, PeriodicJob]:
    modules = {module.__name__ for module in JOB_MODULES}
    return {name: job for name, job in jobs.registered_jobs().items() if job.func.__module__ in modules}


def run_worker(stop: threading.Event, *, idle_seconds: float = 0.5) -> None:
    worker.run_worker(stop, lanes=LANES, claims=CLAIMS, jobs=periodic_jobs(), idle_seconds=idle_seconds)


def start_background_worker() -> tuple[threading.Thread, threading.Event]:
    return worker.start_background_worker(lanes=LANES, claims=CLAIMS, jobs=periodic_jobs())


def run_due_jobs(stop: threading.Event | None = None) -> int:
    """Every due job, here and now, one after the other (tests, one-off runs)."""
    return jobs.run_due_jobs(periodic_jobs(), stop)


def _inbound_readiness(now: datetime) -> QueueReading:
    queue = queue_figures.inbound_queue()
    oldest = age_seconds(now, queue.oldest_received_at)
    behind = ""
    if oldest is not None and oldest > settings.READYZ_INBOUND_MAX_AGE_SECONDS:
        behind = f"oldest queued inbound message waiting {oldest:.0f} s"
    return QueueReading({"queued": queue.queued, "oldest_seconds": oldest}, behind)


def _outbox_readiness(now: datetime) -> QueueReading:
    lag = age_seconds(now, queue_figures.outbox(now).oldest_due_at)
    behind = f"outbox behind by {lag:.0f} s" if lag is not None and lag > settings.READYZ_OUTBOX_MAX_LAG_SECONDS else ""
    return QueueReading({"lag_seconds": lag or 0.0}, behind)


READINESS = (QueueCheck("inbound", _inbound_readiness), QueueCheck("outbox", _outbox_readiness))


def _age(now: datetime, moment: datetime | None) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment is not None else 0.0


def _inbound_gauges(now: datetime) -> Iterator[GaugeMetricFamily]:
    queue = queue_figures.inbound_queue()
    yield GaugeMetricFamily(
        "converge_inbound_queue_depth", "Accepted patient messages not yet stored", value=queue.queued
    )
    yield GaugeMetricFamily(
        "converge_inbound_queue_oldest_age_seconds",
        "Age of the oldest accepted patient message not yet stored (0: none)",
        value=_age(now, queue.oldest_received_at),
    )


def _outbox_gauges(now: datetime) -> Iterator[GaugeMetricFamily]:
    outbox = queue_figures.outbox(now)
    depth = GaugeMetricFamily("converge_outbox_depth", "Outbound messages waiting or being sent", labels=["state"])
    depth.add_metric(["queued"], outbox.waiting)
    depth.add_metric(["sending"], outbox.sending)
    yield depth
    yield GaugeMetricFamily(
        "converge_outbox_lag_seconds",
        "How long the most overdue outbound message has been due (0: none due)",
        value=_age(now, outbox.oldest_due_at),
    )


def _reminder_gauges(now: datetime) -> Iterator[GaugeMetricFamily]:
    due = reminders_due(now)
    yield GaugeMetricFamily("converge_reminders_due", "Appointment reminders due and not yet dispatched", value=due.due)
    yield GaugeMetricFamily(
        "converge_reminder_dispatch_lag_seconds",
        "How long the most overdue reminder has been due (0: none due)",
        value=_age(now, due.oldest_due_at),
    )


DATABASE_GAUGES = metrics.database_registry([_inbound_gauges, _outbox_gauges, _reminder_gauges])
