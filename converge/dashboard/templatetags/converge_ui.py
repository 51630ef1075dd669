"""Small template helpers for the staff screens. Everything that takes patient text escapes it
first; nothing here marks unescaped input safe."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from converge.conversations.selectors import mentions_unread_count
from converge.core import clock
from converge.patients.addresses import PHONE_KINDS, display_phone

register = template.Library()

CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp", "email": "Email", "webchat": "Web chat", "portal": "Portal"}
# 16px outline icons; the accessible name comes from the label next to them, never the drawing.
_ICON_PATHS = {
    "sms": "M3 4h14v9H8l-4 3v-3H3z",
    "whatsapp": (
        "M10 2a8 8 0 0 0-6.9 12L2 18l4.1-1.1A8 8 0 1 0 10 2z"
        "m-3 5c0 3 3 6 6 6l1-1.5-2-1-1 .8c-1-.5-2-1.5-2.3-2.3l.8-1-1-2z"
    ),
    "email": "M2 5h16v10H2zm0 0 8 6 8-6",
    "webchat": "M2 3h16v11H2zm0 3h16M5 9h6M5 11h4",
    "portal": "M5 9V6a5 5 0 0 1 10 0v3M4 9h12v9H4z",
}
_MENTION = re.compile(r"(?<![\w@])@([\w.\-]+)")


@register.filter
def file_name(filename: str) -> str:
    """A patient-supplied file name as the download will be named (no path, no control or
    bidi characters)."""
    from converge.core.downloads import visible_name

    return visible_name(filename or "")


@register.filter
def channel_name(kind: str) -> str:
    return CHANNEL_NAMES.get(kind, kind)


@register.filter
def unreachable(channel_options: list) -> list:
    """The reply picker's unavailable channels, one per kind and reason: the reason is the
    patient's (no address, opted out), so a practice with two web chat widgets still says "Web
    chat — no address" once."""
    seen: set[tuple[str, str]] = set()
    once = []
    for option in channel_options:
        key = (option.channel.kind, option.reason)
        if not option.available and key not in seen:
            seen.add(key)
            once.append(option)
    return once


@register.simple_tag
def channel_icon(kind: str, label: bool = False) -> SafeString:
    """An inline SVG icon for a channel kind with its name for screen readers (visible too when
    `label` is set)."""
    return _channel_icon(str(kind), bool(label))


@functools.lru_cache(maxsize=64)
def _channel_icon(kind: str, label: bool) -> SafeString:
    path = _ICON_PATHS.get(kind, _ICON_PATHS["sms"])
    name = CHANNEL_NAMES.get(kind, kind)
    text_class = "channel-label" if label else "visually-hidden"
    return format_html(
        '<span class="channel channel-{}" title="{}"><svg class="icon" viewBox="0 0 20 20" aria-hidden="true" '
        'focusable="false"><path d="{}"/></svg><span class="{}">{}</span></span>',
        kind,
        name,
        path,
        text_class,
        name,
    )


@register.filter
def address(contact: Any) -> str:
    if contact.kind in PHONE_KINDS:
        return display_phone(contact.address)
    if contact.kind == "webchat":
        return "web visitor"
    return str(contact.address)


@register.filter
def age(value: datetime | None) -> str:
    """A compact age: "now", "5m", "3h", "2d", "6w"."""
    if value is None:
        return ""
    seconds = max(0, int((clock.now() - value).total_seconds()))
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


@register.filter
def with_mentions(text: str) -> SafeString:
    """Escape note text, keep its line breaks, and highlight @handles."""
    escaped = str(conditional_escape(text))
    # The escaped text contains no raw < > " ' &; an @handle is only word characters, dots and
    # dashes, so wrapping it cannot break out of the markup.
    highlighted = _MENTION.sub(r'<strong class="mention">@\1</strong>', escaped)
    return mark_safe(highlighted.replace("\n", "<br>"))  # noqa: S308 -- built from escaped text


@register.inclusion_tag("dashboard/_badge.html", takes_context=True)
def mention_badge(context: template.Context) -> dict[str, Any]:
    user = context.get("user")
    staff = getattr(user, "staff", None) if user is not None and user.is_authenticated else None
    return {"unread": mentions_unread_count(staff=staff) if staff is not None else 0}


@register.filter
def split(value: str) -> list[str]:
    return value.split()


@register.inclusion_tag("dashboard/_urgent_alerts.html", takes_context=True)
def urgent_alerts(context: template.Context) -> dict[str, Any]:
    """The banner of unacknowledged urgent alerts on every staff page, read from the database
    (live.js re-reads it from /urgent/alerts on events)."""
    from converge.core.principal import staff_principal
    from converge.routing.selectors import OpenAlerts, open_alerts

    user = context.get("user")
    staff = getattr(user, "staff", None) if user is not None and user.is_authenticated else None
    alerts = open_alerts(principal=staff_principal(staff)) if staff is not None else OpenAlerts(shown=[], more=0)
    request = context.get("request")
    return {"alerts": alerts, "csrf_token": context.get("csrf_token"), "back": request.path if request else "/"}
