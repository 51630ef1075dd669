"""Filling a canned response's variables for one conversation, before staff send it.

Templates are written by practice staff, so they are never run through Django's template engine:
a regular expression replaces a fixed whitelist of `{{name}}` variables with plain values.
Anything else (other names, `{% tags %}`, filters) is left exactly as written. Values are text;
the page escapes them like any other message body."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from converge.conversations.models import Conversation
from converge.core import clock
from converge.practices.models import StaffMember
from converge.scheduling.models import ACTIVE_STATUSES, Appointment

VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")

VARIABLES = (
    "patient.first_name",
    "patient.last_name",
    "practice.name",
    "appointment.start",
    "staff.first_name",
)

_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_MONTHS = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Rendered:
    text: str
    missing: list[str]


def format_when(at: datetime, time_zone: str, language: str) -> str:
    """`Tuesday, March 3 at 2:30 PM` / `martes 3 de marzo a las 14:30`, in the practice's zone."""
    local = at.astimezone(ZoneInfo(time_zone))
    if language == "es":
        return f"{_DAYS['es'][local.weekday()]} {local.day} de {_MONTHS['es'][local.month - 1]} a las {local:%H:%M}"
    hour = local.hour % 12 or 12
    suffix = "AM" if local.hour < 12 else "PM"
    return f"{_DAYS['en'][local.weekday()]}, {_MONTHS['en'][local.month - 1]} {local.day} at {hour}:{local:%M} {suffix}"


def render_for_conversation(
    *, text: str, conversation: Conversation, staff: StaffMember | None, language: str
) -> Rendered:
    patient = conversation.patient
    practice = conversation.practice

    def next_appointment() -> str:
        upcoming = (
            Appointment.objects.filter(
                practice_id=conversation.practice_id,
                patient_id=conversation.patient_id,
                start__gte=clock.now(),
                status__in=ACTIVE_STATUSES,
            )
            .order_by("start")
            .first()
        )
        return format_when(upcoming.start, practice.time_zone, language) if upcoming else ""

    values: dict[str, Callable[[], str]] = {
        "patient.first_name": lambda: patient.first_name,
        "patient.last_name": lambda: patient.last_name,
        "practice.name": lambda: practice.name,
        "appointment.start": next_appointment,
        "staff.first_name": lambda: _first_name(staff.display_name) if staff else "",
    }
    cache: dict[str, str] = {}
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        if name not in cache:
            cache[name] = values[name]()
        if not cache[name]:
            if name not in missing:
                missing.append(name)
            return match.group(0)  # left visible so staff fill it in before sending
        return cache[name]

    return Rendered(text=VARIABLE.sub(substitute, text), missing=missing)


def _first_name(display_name: str) -> str:
    words = [
        w for w in display_name.replace(",", " ").split() if w.lower().rstrip(".") not in {"dr", "mr", "mrs", "ms"}
    ]
    return words[0] if words else display_name
