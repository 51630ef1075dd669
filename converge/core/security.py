"""Response headers every page gets: a Content-Security-Policy without inline scripts, no
caching of pages that can carry PHI, and a tight Permissions-Policy."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

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
