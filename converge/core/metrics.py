"""`/metrics` in the Prometheus text format, behind a bearer token (CONVERGE_METRICS_TOKEN; unset,
the page does not exist).

Two kinds of figures:
- Counted by the process that saw the event (webhooks, 429s of the rate limits, sends, provider
  errors, inbound pipeline time, WebSocket connections): per process. With `serve --workers N`
  each process counts its own, and a scrape reaches one of them, unless PROMETHEUS_MULTIPROC_DIR
  names a directory every process shares (prometheus_client's multiprocess mode: each process
  writes its figures there and a scrape sums them). Empty that directory before the processes start.
- Read from the database at scrape time (inbound queue, outbox, reminders: the readers
  converge.worker_lanes gives DatabaseCollector): the same whichever process answers, one query
  per reader per scrape.

Labels carry channel kinds, outcomes, entry points and provider error codes only: never an address, a name or
a message.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from converge.config.env import env_str

log = logging.getLogger(__name__)

WEBHOOKS = Counter(
    "converge_webhooks",
    "Provider webhook requests by channel and outcome (accepted: 2xx; refused: anything else), per process",
    ["channel", "outcome", "status"],
)
SENDS = Counter(
    "converge_sends", "Outbound send attempts by channel kind and outcome, per process", ["channel", "outcome"]
)
PROVIDER_ERRORS = Counter(
    "converge_provider_errors",
    "Errors answered by messaging providers, by channel kind and code, per process",
    ["channel", "code"],
)
WEBSOCKETS = Gauge(
    "converge_websocket_connections",
    "Open WebSocket connections (staff pages, website chat), per process",
    ["kind"],
    multiprocess_mode="livesum",
)

THROTTLED = Counter(
    "converge_throttled",
    "Requests refused with 429 by the rate limits, by entry point (webhooks, portal, login, ...), per process",
    ["route"],
)
# The target is an urgent message in the inbox within a second; minutes show a stalled worker.
PIPELINE_SECONDS = Histogram(
    "converge_inbound_pipeline_seconds",
    "Time from a webhook accepting a patient message to the message stored in the inbox, by channel kind, per process",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)

_CODE = re.compile(r"[^A-Za-z0-9_.-]")


def error_code(code: str) -> str:
    """A provider's error code as a label: short and plain, so it can never carry free text."""
    return _CODE.sub("_", code or "none")[:40] or "none"


def count_send(channel_kind: str, outcome: str, code: str = "") -> None:
    try:
        SENDS.labels(channel=channel_kind or "unknown", outcome=outcome).inc()
        if code:
            PROVIDER_ERRORS.labels(channel=channel_kind or "unknown", code=error_code(code)).inc()
    except Exception:  # metrics never break a send
        log.exception("metrics: counting a send failed")


def count_throttled(route: str) -> None:
    try:
        THROTTLED.labels(route=route).inc()
    except Exception:  # metrics never break a request
        log.exception("metrics: counting a throttled request failed")


def observe_pipeline(channel_kind: str, seconds: float) -> None:
    try:
        PIPELINE_SECONDS.labels(channel=channel_kind or "unknown").observe(max(0.0, seconds))
    except Exception:  # metrics never break the pipeline
        log.exception("metrics: observing the pipeline time failed")


def counts_webhook(channel: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Count a webhook view's answers under `channel`."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            status = response.status_code
            outcome = "accepted" if 200 <= status < 300 else "refused"
            WEBHOOKS.labels(channel=channel, outcome=outcome, status=str(status)).inc()
            return response

        return wrapper

    return decorate


# Gauges read from the database at scrape time, given now; they may raise (the database away).
GaugeReader = Callable[[datetime], Iterable[GaugeMetricFamily]]


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped, so they hold whichever process answers."""

    def __init__(self, readers: Sequence[GaugeReader]) -> None:
        self.readers = readers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from converge.core import clock

        up = GaugeMetricFamily("converge_database_up", "1 when the scrape could read the database")
        try:
            now = clock.now()
            gauges = [gauge for read in self.readers for gauge in read(now)]
        except Exception:
            log.exception("metrics: reading the database failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from gauges


def database_registry(readers: Sequence[GaugeReader]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(readers))
    return registry


def exposition(database: CollectorRegistry) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    return counted + generate_latest(database)


@require_GET
def metrics_view(request: HttpRequest, database: CollectorRegistry) -> HttpResponse:
    """The view; config.urls passes the registry of database gauges (database_registry)."""
    token = env_str("CONVERGE_METRICS_TOKEN")
    if not token:
        raise Http404
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = HttpResponse("a bearer token is needed\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(exposition(database), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
