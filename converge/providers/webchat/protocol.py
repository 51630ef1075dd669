"""The website chat widget's protocol: the site origins a widget may be embedded on, and the checks
on what a visitor's browser sends (pre-chat form fields, chat messages).

Pure: no Django, no database. The widget's endpoints, socket and visitor records are the
connectors app's (converge.connectors.webchat).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

MAX_MESSAGE_CHARS = 2000
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Control characters, and lone UTF-16 surrogates a hostile client can escape in JSON ("\\udb36"):
# no database stores them and no visitor typed them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class WebchatError(ValueError):
    """A refused visitor request; `code` is for the widget, the message for the visitor."""

    def __init__(self, code: str, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def normalize_origin(raw: str, *, allow_http: bool = False) -> str:
    """`scheme://host[:port]` as browsers send it in the Origin header; http only for this
    machine (or when `allow_http`)."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an origin such as https://www.example-clinic.com")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("an origin is scheme://host[:port], without a path")
    host = parts.hostname.lower()
    if parts.scheme == "http" and not allow_http and not is_loopback(host):
        raise ValueError("websites must use https:// (http:// is allowed only for localhost)")
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (f":{port}" if port and port != default else "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def clean_text(value: Any, limit: int) -> str:
    """A visitor's field as text: control characters dropped, trimmed, at most `limit` long."""
    text = _CONTROL.sub("", str(value or "")).strip()
    return text[:limit]


def message_text(text: Any, client_id: Any) -> str:
    """The text of a visitor's chat message, or WebchatError. `client_id` is the browser's id of
    the message, which makes a resend after a reconnect a no-op."""
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise WebchatError("invalid", "The message had no valid id.")
    body = clean_text(text, MAX_MESSAGE_CHARS + 1)
    if not body:
        raise WebchatError("invalid", "The message is empty.")
    if len(body) > MAX_MESSAGE_CHARS:
        raise WebchatError("too_long", f"Please keep messages under {MAX_MESSAGE_CHARS} characters.")
    return body
