"""Response headers every page gets: a Content-Security-Policy without inline scripts, no
caching of pages that can carry PHI, and a tight Permissions-Policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

# connect-src is filled in per request with this site's own WebSocket origin: bare `ws: wss:`
# would let a page's script open sockets to any host.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Inline style attributes are harmless compared with inline script; templates use a few.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src {connect_src}",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# Resources third-party sites load (the chat widget) or that are public by nature.
PUBLIC_PREFIXES = ("/static/", "/widget.js", "/healthz")


def content_security_policy(request: HttpRequest) -> str:
    """The CSP for this response: sockets may reach this origin (ws://host:port, or wss:// when
    the request came over TLS) and no other host."""
    try:
        host = request.get_host()  # validated against ALLOWED_HOSTS, so safe to put in a header
    except DisallowedHost:
        return CSP.format(connect_src="'self'")
    scheme = "wss" if request.is_secure() else "ws"
    return CSP.format(connect_src=f"'self' {scheme}://{host}")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request))
        response.headers.setdefault("Permissions-Policy", PERMISSIONS)
        if not request.path.startswith(PUBLIC_PREFIXES):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


# Providers and the website widget: their bytes are a patient's message, never refused for a
# stray NUL (the inbound queue drops them). The JSON API validates its own input (422).
NUL_EXEMPT_PREFIXES = ("/webhooks/", "/webchat/", "/api/")


class RejectNulMiddleware:
    """A NUL character in a query or form field is a 400 before any view runs: PostgreSQL cannot
    store one in text (a 500 there), SQLite would keep it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(NUL_EXEMPT_PREFIXES) and (_has_nul(request.GET) or _has_nul(request.POST)):
            return HttpResponseBadRequest(
                "Text may not contain NUL characters.", content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


def _has_nul(params: Any) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in params.lists())
