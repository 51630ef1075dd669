"""Request rate limits for the public entry points (webhooks, portal, login), counted in the
cache (Redis when configured, so every process shares the count).

Limits are generous for real traffic and tight enough to blunt floods and guessing; a limited
request gets 429 with Retry-After, and nothing is stored."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient
from django.http import HttpRequest, HttpResponse, JsonResponse

from converge.core.metrics import count_throttled
from converge.core.principal import client_ip

log = logging.getLogger(__name__)

# After a Redis error, count in this process for this long before trying Redis again, so an
# outage costs one log line and one failed round trip per back-off, not one per request.
REDIS_RETRY_SECONDS = 5.0

# (path prefix, requests per minute per client address, only these methods or None for all)
LIMITS: tuple[tuple[str, int, frozenset[str] | None], ...] = (
    # Providers post from a handful of addresses, so this only stops floods (signatures stop fakes).
    ("/webhooks/", 30000, None),
    # Guessing happens by posting; reading the pages is not limited.
    ("/portal/", 30, frozenset({"POST"})),
    ("/login/", 30, frozenset({"POST"})),
    # Staff invitation links: reading one probes a token too, so both methods count.
    ("/invite/", 30, None),
    # The website chat widget's endpoints (/webchat/<key>/config and /session); its messages go
    # over the WebSocket and are limited per visitor and per address there.
    ("/webchat/", 120, None),
)


def allow(key: str, limit: int, window: int = 60) -> bool:
    bucket = f"throttle:{key}:{int(time.time() // window)}"
    if (client := _redis()) is not None:
        if time.monotonic() >= _redis_down_until:
            try:
                return _allow_redis(client, bucket, limit, window)
            except Exception as exc:  # Redis carries counters only: its loss must not refuse anyone
                _redis_failed(exc)
        return _allow_local(bucket, limit)
    if cache.add(bucket, 1, window + 5):
        return True
    try:
        return int(cache.incr(bucket)) <= limit
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, window + 5)
        return True


def _allow_redis(client: Any, bucket: str, limit: int, window: int) -> bool:
    global _redis_down_until
    # One round trip, on one client object: Django's cache builds a new client per call.
    pipe = client.pipeline(transaction=False)
    pipe.incr(cache.make_key(bucket))
    pipe.expire(cache.make_key(bucket), window + 5)
    count, _ = pipe.execute()
    if _redis_down_until:
        log.warning("throttle: Redis reachable again; limits are shared across processes")
        _redis_down_until = 0.0
    return int(count) <= limit


_redis_down_until = 0.0
_local_counts: dict[str, int] = {}
_local_lock = threading.Lock()


def _redis_failed(exc: Exception) -> None:
    global _redis_down_until
    with _local_lock:
        first = _redis_down_until == 0.0
        _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
    if first:
        log.warning("throttle: Redis unavailable (%s); counting limits per process", type(exc).__name__)


def _allow_local(bucket: str, limit: int) -> bool:
    """Per-process counting while Redis is away; buckets of past windows are dropped."""
    window_suffix = bucket.rsplit(":", 1)[1]
    with _local_lock:
        if len(_local_counts) > 10000:
            for stale in [b for b in _local_counts if not b.endswith(":" + window_suffix)]:
                del _local_counts[stale]
        count = _local_counts.get(bucket, 0) + 1
        _local_counts[bucket] = count
    return count <= limit


_client: Any = None


def _redis() -> Any:
    """A client of the Redis cache's connection pool, made once per process; None without Redis."""
    global _client
    backend = getattr(cache, "_cache", None)
    if _client is None and isinstance(backend, RedisCacheClient):
        _client = backend.get_client(write=True)
    return _client


class ThrottleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for prefix, limit, methods in LIMITS:
            if request.path.startswith(prefix) and (methods is None or request.method in methods):
                if not allow(f"{prefix}:{client_ip(request)}", limit):
                    count_throttled(prefix.strip("/"))
                    response = JsonResponse({"detail": "too many requests; slow down"}, status=429)
                    response["Retry-After"] = "60"
                    return response
                break
        return self.get_response(request)
