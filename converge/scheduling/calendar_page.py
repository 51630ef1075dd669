"""What the staff calendar shows: where it is (view, day, provider), the grid of visits and
working hours, and the side panel's contents (an appointment with its actions and free times to
move it to; the booking form with the patient search and free times). Reads only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import Http404, QueryDict

from converge.audit.services import audit_record
from converge.core import clock
from converge.core.principal import Principal
from converge.dashboard.views.common import int_or_none
from converge.patients.selectors import patient_list
from converge.practices.models import Practice
from converge.scheduling import calendar_grid as grid_
from converge.scheduling import slots as slots_
from converge.scheduling.calendar_grid import LEGEND, week_of
from converge.scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Provider,
)
from converge.scheduling.selectors import (
    appointment_of,
    appointment_types_of,
    appointments_between,
    availability,
    bookable_patient,
    provider_of,
    provider_time_zone,
    providers_of,
    schedules_of,
)
from converge.scheduling.services import ALLOWED_TRANSITIONS, BookingError

__all__ = ["LEGEND", "State", "week_of"]

# The status buttons staff get, in the order shown; moving is its own form.
ACTIONS = (
    (AppointmentStatus.CONFIRMED, "Confirm"),
    (AppointmentStatus.CHECKED_IN, "Check in"),
    (AppointmentStatus.COMPLETED, "Complete"),
    (AppointmentStatus.NO_SHOW, "Mark no-show"),
)
MOVABLE = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)


def problem_text(exc: Exception) -> str:
    """A service's "field: problem" as a sentence for the page."""
    text = str(exc)
    if text.startswith("status: "):
        text = text.removeprefix("status: ")
        for value, label in AppointmentStatus.choices:
            text = text.replace(f" to {value}", f" to {label.lower()}")
    if "no longer available" in text:
        text = "That time is no longer free — someone else booked it. Pick another time."
    if text.startswith("override_reason: "):
        text = "Give a reason for going outside working hours; it is kept in the audit log."
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@dataclass(frozen=True)
class State:
    """Where the calendar is: view, day, provider (None = all) and whether cancelled visits show."""

    view: str
    day: date
    provider_id: int | None
    cancelled: bool = True

    def params(self, **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"view": self.view, "date": self.day.isoformat()}
        base["provider"] = self.provider_id or "all"
        if not self.cancelled:
            base["cancelled"] = "0"
        base.update({k: v for k, v in extra.items() if v not in (None, "")})
        return base

    def url(self, **extra: Any) -> str:
        return "/calendar/?" + urlencode(self.params(**extra))


def when_text(moment: datetime, zone: ZoneInfo) -> str:
    """Like "Thu 5 Mar, 10:00 AM", in the practice's time zone."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}, {local.hour % 12 or 12}:{local:%M %p}"


def zone_label(day: date, practice: Practice) -> str:
    """The zone's short name that day ("EST" or "EDT"), for the hour axis."""
    return datetime.combine(day, time(12), tzinfo=ZoneInfo(practice.time_zone)).tzname() or ""


def today_in(practice: Practice) -> date:
    return clock.now().astimezone(ZoneInfo(practice.time_zone)).date()


def read_state(data: QueryDict, practice: Practice, providers: list[Provider]) -> State:
    view = "week" if data.get("view") == "week" else "day"
    try:
        day = date.fromisoformat(data.get("date", ""))
    except ValueError:
        day = today_in(practice)
    raw = data.get("provider", "")
    ids = {p.pk for p in providers}
    provider_id = int_or_none(raw)
    if provider_id not in ids:
        provider_id = None
    if view == "week" and provider_id is None and providers:
        provider_id = providers[0].pk  # a week shows one provider at a time
    return State(view=view, day=day, provider_id=provider_id, cancelled=data.get("cancelled") != "0")


def parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def free_slots(
    practice: Practice,
    *,
    kind: AppointmentType,
    day: date,
    providers: list[Provider],
) -> list[tuple[Provider, datetime, datetime]]:
    """Free times on one local day; staff may book up to the present minute (no notice)."""
    start, end = day_bounds(day, ZoneInfo(practice.time_zone))
    start = max(start, clock.now())
    if end <= start:
        return []
    return availability(
        practice_id=practice.pk,
        appointment_type=kind,
        start=start,
        end=end,
        providers=providers,
        min_notice=timedelta(0),
        limit=300,
    )


def slot_value(provider: Provider, start: datetime) -> str:
    return f"{provider.pk}|{start.isoformat()}"


def parse_slot(value: str, principal: Principal) -> tuple[Provider, datetime]:
    provider_part, _, when = value.partition("|")
    try:
        start = datetime.fromisoformat(when)
    except ValueError:
        raise BookingError("choose a free time") from None
    if start.tzinfo is None:
        raise BookingError("choose a free time")
    provider = provider_of(principal.practice_id, int_or_none(provider_part))
    if provider is None:
        raise BookingError("choose a free time")
    return provider, start


def parse_other_time(
    data: QueryDict, principal: Principal, practice: Practice, *, provider_field: str, day_field: str
) -> tuple[Provider, datetime] | None:
    """The "another time" a form gives (a wall time on its day, for its one provider), or None
    when it gives none and the chosen free time counts."""
    raw = data.get("other_time", "").strip()
    if not raw:
        return None
    try:
        wall = time.fromisoformat(raw)
    except ValueError:
        raise BookingError("give another time as hours and minutes, like 17:30") from None
    day = parse_day(data.get(day_field))
    if day is None:
        raise BookingError("choose a day")
    provider = provider_of(principal.practice_id, int_or_none(data.get(provider_field)))
    if provider is None:
        raise BookingError("choose a provider for another time")
    return provider, slots_.local_instant(day, wall.replace(second=0, microsecond=0), ZoneInfo(practice.time_zone))


def other_time_fields(start: datetime, provider: Provider, practice: Practice, *, prefix: str) -> dict[str, str]:
    """Form values that put a refused free time into "another time", so staff can override it."""
    local = start.astimezone(ZoneInfo(practice.time_zone))
    return {
        "other_time": f"{local:%H:%M}",
        f"{prefix}_provider": str(provider.pk),
        f"{prefix}_date": local.date().isoformat(),
    }


def grid_for(practice: Practice, state: State, providers: list[Provider]) -> tuple[grid_.Grid, dict[int, Appointment]]:
    zone = ZoneInfo(practice.time_zone)
    shown = [p for p in providers if state.provider_id in (None, p.pk)]
    days = grid_.week_of(state.day) if state.view == "week" else [state.day]
    ids = [p.pk for p in shown]
    working_hours, exceptions = schedules_of(practice.pk, ids, days[0], days[-1])
    hours: dict[int, list[grid_.Hours]] = {pk: [] for pk in ids}
    for wh in working_hours:
        hours[wh.provider_id].append(grid_.Hours(wh.weekday, wh.start, wh.end))
    changes: dict[int, list[grid_.DayChange]] = {pk: [] for pk in ids}
    for ex in exceptions:
        changes[ex.provider_id].append(grid_.DayChange(ex.day, ex.start, ex.end, ex.available, ex.note))
    start, _ = day_bounds(days[0], zone)
    _, end = day_bounds(days[-1], zone)
    appointments = [
        a
        for a in appointments_between(
            practice_id=practice.pk,
            start=start,
            end=end,
            provider_id=state.provider_id,
        )
        if a.provider_id in hours
        and a.status != AppointmentStatus.RESCHEDULED
        and (state.cancelled or a.status != AppointmentStatus.CANCELLED)
    ]
    built = grid_.build_grid(
        days=days,
        provider_ids=ids,
        zone=zone,
        provider_zones={p.pk: ZoneInfo(provider_time_zone(p)) for p in shown},
        hours=hours,
        exceptions=changes,
        bookings=[grid_.Booking(ref=a.pk, provider_id=a.provider_id, start=a.start, end=a.end) for a in appointments],
        now=clock.now(),
        hide_idle_weekend=state.view == "week",
    )
    return built, {a.pk: a for a in appointments}


@dataclass
class ColumnView:
    column: grid_.Column
    title: str
    title_more: str  # read by screen readers only (the month, which the page title shows)
    link: str
    is_today: bool
    items: list[BlockView]

    @property
    def active(self) -> int:
        return sum(1 for b in self.items if b.appointment.status != AppointmentStatus.CANCELLED)


@dataclass
class BlockView:
    item: grid_.Item
    appointment: Appointment
    look: grid_.StatusLook
    url: str
    short: bool  # under half an hour: one line


def columns(
    built: grid_.Grid, by_id: dict[int, Appointment], state: State, providers: list[Provider], today: date
) -> list[ColumnView]:
    names = {p.pk: p.display_name for p in providers}
    views = []
    for column in built.columns:
        if state.view == "week":
            title = f"{column.day:%a} {column.day.day}"
            more = f" {column.day:%B}"
            link = replace(state, view="day", day=column.day).url()
        else:
            title = names.get(column.provider_id, "")
            more = ""
            link = replace(state, view="week", provider_id=column.provider_id).url()
        items = []
        for item in column.items:
            appointment = by_id[item.ref]
            items.append(
                BlockView(
                    item=item,
                    appointment=appointment,
                    look=grid_.status_look(appointment.status),
                    url=state.url(appointment=appointment.pk),
                    short=item.end_minute - item.start_minute < 30,
                )
            )
        views.append(ColumnView(column, title, more, link, column.day == today, items))
    return views


def appointment_panel(
    data: QueryDict, principal: Principal, practice: Practice, appointment_id: int | None
) -> dict[str, Any]:
    appointment = appointment_of(principal.practice_id, appointment_id)
    if appointment is None:
        raise Http404("appointment not found")
    audit_record(
        practice_id=principal.practice_id,
        actor=principal.actor,
        action="appointment.read",
        obj=appointment,
        patient_id=appointment.patient_id,
        ip=principal.ip,
    )
    allowed = ALLOWED_TRANSITIONS.get(AppointmentStatus(appointment.status), set())
    context: dict[str, Any] = {
        "appointment": appointment,
        "look": grid_.status_look(appointment.status),
        "actions": [(value, label) for value, label in ACTIONS if value in allowed],
        "can_cancel": AppointmentStatus.CANCELLED in allowed,
        "can_move": appointment.status in MOVABLE,
        "move_day": None,
        "move_slots": None,
    }
    move_day = parse_day(data.get("move_date"))
    if move_day is not None and context["can_move"]:
        providers = providers_of(practice.pk)
        chosen = int_or_none(data.get("move_provider")) or appointment.provider_id
        # The visit keeps its length and buffer, whatever its type says today.
        length = AppointmentType(
            duration_minutes=int((appointment.end - appointment.start).total_seconds() // 60),
            buffer_minutes=int((appointment.blocked_until - appointment.end).total_seconds() // 60),
        )
        slots = free_slots(practice, kind=length, day=move_day, providers=[p for p in providers if p.pk == chosen])
        context.update(
            move_day=move_day,
            move_provider=chosen,
            move_providers=providers,
            move_slots=[(slot_value(p, s), p, s, e) for p, s, e in slots],
            other_time=data.get("other_time", ""),
            override_reason=data.get("override_reason", ""),
        )
    return context


def book_panel(data: QueryDict, principal: Principal, practice: Practice, state: State) -> dict[str, Any]:
    query = data.get("q", "").strip()[:100]
    patient = bookable_patient(principal.practice_id, int_or_none(data.get("patient")))
    types = appointment_types_of(practice.pk)
    kind = next((t for t in types if t.pk == int_or_none(data.get("type"))), types[0] if types else None)
    providers = providers_of(practice.pk)
    raw_provider = data.get("book_provider")
    book_provider = int_or_none(raw_provider) if raw_provider is not None else state.provider_id
    if book_provider not in {p.pk for p in providers}:
        book_provider = None
    book_day = parse_day(data.get("book_date")) or max(state.day, today_in(practice))
    slots = None
    if kind is not None:
        shown = [p for p in providers if book_provider in (None, p.pk)]
        slots = [
            (slot_value(p, s), p, s, e) for p, s, e in free_slots(practice, kind=kind, day=book_day, providers=shown)
        ]
    return {
        "query": query,
        "results": patient_list(principal=principal, query=query, limit=8) if query and patient is None else None,
        "patient": patient,
        "types": types,
        "kind": kind,
        "book_providers": providers,
        "book_provider": book_provider,
        "book_day": book_day,
        "slots": slots,
        "chosen_slot": data.get("slot", ""),
        "other_time": data.get("other_time", ""),
        "override_reason": data.get("override_reason", ""),
        "change_patient_url": state.url(
            panel="book",
            q=query,
            type=kind.pk if kind else None,
            book_provider=book_provider or "any",
            book_date=book_day.isoformat(),
        ),
    }
