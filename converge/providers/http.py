"""HTTP details every provider API client needs alike (WhatsApp Cloud API, Twilio): reading a
Retry-After, reading a download with a size limit, checking media types and origins. Neutral: no
provider's names or codes here, so connectors share it without importing each other."""

from __future__ import annotations

import math
import threading
from collections.abc import Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from converge.providers.types import AmbiguousSendError, PermanentSendError, RetryableSendError

TOO_LARGE = "The media is larger than this practice accepts"
TIMEOUT_SECONDS = 10.0

_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """One connection pool per process for provider calls (httpx.Client is thread-safe)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = httpx.Client(limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))
        return _shared


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date); None when absent or bad."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


# Failures before the request was written: the provider cannot have accepted anything.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)


def transport_error(exc: httpx.TransportError, provider: str) -> RetryableSendError:
    """A transport failure as a send error. A connect failure (DNS, refused, connect timeout, no
    pooled connection) or a failed write means nothing reached the provider: retryable at once.
    A read timeout, or the connection lost while waiting for the answer, comes after the request
    was written: the provider may have accepted it, so it is ambiguous (AmbiguousSendError)."""
    if isinstance(exc, _NOT_SENT):
        code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
        return RetryableSendError(f"Could not reach the {provider} API", code=code)
    if isinstance(exc, httpx.TimeoutException):
        return AmbiguousSendError(f"The {provider} API timed out after the request was sent", code="timeout")
    lost = f"The connection to the {provider} API was lost after the request was sent"
    return AmbiguousSendError(lost, code="connection_lost")


def read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    """The body of a streamed response, refused as soon as it is known to exceed max_bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PermanentSendError(TOO_LARGE, code="media_too_large")
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise PermanentSendError(TOO_LARGE, code="media_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(response: httpx.Response, provider: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise PermanentSendError(f"The {provider} API returned something other than JSON") from exc
    if not isinstance(body, dict):
        raise PermanentSendError(f"The {provider} API returned an unexpected response")
    return body


def type_allowed(content_type: str, allowed_types: Collection[str]) -> bool:
    """Is the base type listed, exactly or as `major/*`?"""
    base = base_type(content_type)
    if "/" not in base:
        return False
    allowed = {t.strip().lower() for t in allowed_types}
    return base in allowed or f"{base.split('/', 1)[0]}/*" in allowed


def base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"https": 443, "http": 80}.get(url.scheme)
    return url.scheme, url.host.lower(), url.port or default
