"""The staff calendar's geometry: which columns, which hours, where each block sits. Pure logic.

The grid is drawn in the practice's time zone on rows of five minutes; a block's place is
given as CSS classes (`at-N`, `span-N`, `lane-I`, `lanes-K`) because the page's
Content-Security-Policy leaves no room for inline styles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from converge.scheduling.slots import local_instant

ROW_MINUTES = 5
MAX_LANES = 4
DEFAULT_HOURS = (8, 18)


@dataclass(frozen=True)
class StatusLook:
    """How a status reads on screen: a word and a symbol as well as a colour."""

    label: str
    symbol: str
    css: str


STATUS_LOOKS: dict[str, StatusLook] = {
    "booked": StatusLook("Booked", "○", "st-booked"),
    "confirmed": StatusLook("Confirmed", "✓", "st-confirmed"),
    "checked_in": StatusLook("Checked in", "➔", "st-checked-in"),
    "no_show": StatusLook("No-show", "!", "st-no-show"),
    "completed": StatusLook("Completed", "✔", "st-completed"),
    "cancelled": StatusLook("Cancelled", "✕", "st-cancelled"),
    "rescheduled": StatusLook("Rescheduled", "↷", "st-cancelled"),
}
LEGEND = [STATUS_LOOKS[s] for s in ("booked", "confirmed", "checked_in", "completed", "no_show", "cancelled")]


def status_look(status: str) -> StatusLook:
    return STATUS_LOOKS.get(status, StatusLook(status.replace("_", " ").capitalize(), "•", "st-booked"))


@dataclass(frozen=True)
class Hours:
    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class DayChange:
    day: date
    start: time | None
    end: time | None
    available: bool
    note: str = ""


@dataclass(frozen=True)
class Booking:
    """What the grid needs of an appointment; `ref` (its id) is handed back on the placed item."""

    ref: int
    provider_id: int
    start: datetime
    end: datetime


@dataclass
class Place:
    start_minute: int  # minutes after local midnight of the column's day
    end_minute: int
    row: int = 1
    span: int = 1
    lane: int = 0
    lanes: int = 1

    @property
    def css(self) -> str:
        return f"at-{self.row} span-{self.span} lane-{self.lane} lanes-{self.lanes}"


@dataclass
class Shade(Place):
    note: str = ""


@dataclass
class Item(Place):
    ref: int = 0
    start_local: datetime | None = None
    end_local: datetime | None = None


@dataclass
class Column:
    day: date
    provider_id: int
    open: list[Shade] = field(default_factory=list)
    blocked: list[Shade] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    closed_note: str = ""
    now_row: int | None = None

    @property
    def now_css(self) -> str:
        return f"at-{self.now_row}"


@dataclass
class HourMark:
    label: str
    row: int

    @property
    def css(self) -> str:
        return f"at-{self.row} span-{60 // ROW_MINUTES}"


@dataclass
class Grid:
    first_hour: int
    last_hour: int
    columns: list[Column]
    hours: list[HourMark]

    @property
    def rows(self) -> int:
        return (self.last_hour - self.first_hour) * 60 // ROW_MINUTES


def _wall_plan(
    day: date, hours: Sequence[Hours], exceptions: Sequence[DayChange]
) -> tuple[list[tuple[time, time]], list[tuple[time, time, str]], str]:
    """Open wall-clock blocks, blocked ranges and a note for a closed day (same rules as
    `slots.open_slots`: a day off wins, special hours replace the weekday's)."""
    todays = [e for e in exceptions if e.day == day]
    off = next((e for e in todays if not e.available and e.start is None), None)
    if off is not None:
        return [], [], off.note or "Day off"
    special = [(e.start, e.end) for e in todays if e.available and e.start is not None and e.end is not None]
    blocks = special or [(h.start, h.end) for h in hours if h.weekday == day.weekday()]
    blocked = [
        (e.start, e.end, e.note or "Blocked")
        for e in todays
        if not e.available and e.start is not None and e.end is not None
    ]
    return sorted(blocks), blocked, "" if blocks else "Not working"


def _minute_of(moment: datetime, day: date, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    if local.date() < day:
        return 0
    if local.date() > day:
        return 24 * 60
    return local.hour * 60 + local.minute


def _assign_lanes(items: list[Item]) -> None:
    """Overlapping visits sit side by side: greedy lanes within each cluster of overlaps."""
    items.sort(key=lambda i: (i.start_minute, i.end_minute))
    cluster: list[Item] = []
    lane_ends: list[int] = []
    cluster_end = -1

    def close() -> None:
        width = min(MAX_LANES, max(1, len(lane_ends)))
        for member in cluster:
            member.lanes = width
            member.lane = min(member.lane, width - 1)

    for item in items:
        if cluster and item.start_minute >= cluster_end:
            close()
            cluster, lane_ends = [], []
        free = next((i for i, end in enumerate(lane_ends) if end <= item.start_minute), None)
        if free is None:
            lane_ends.append(item.end_minute)
            item.lane = len(lane_ends) - 1
        else:
            lane_ends[free] = item.end_minute
            item.lane = free
        cluster.append(item)
        cluster_end = max(cluster_end, item.end_minute)
    if cluster:
        close()


def build_grid(
    *,
    days: Sequence[date],
    provider_ids: Sequence[int],
    zone: ZoneInfo,
    provider_zones: dict[int, ZoneInfo],
    hours: dict[int, list[Hours]],
    exceptions: dict[int, list[DayChange]],
    bookings: Iterable[Booking],
    now: datetime,
    hide_idle_weekend: bool = False,
) -> Grid:
    """One column per (day, provider) pair, in the order given (days outer)."""
    columns: list[Column] = []
    by_column: dict[tuple[date, int], Column] = {}
    for day in days:
        for provider_id in provider_ids:
            column = Column(day=day, provider_id=provider_id)
            pzone = provider_zones.get(provider_id, zone)
            open_blocks, blocked, note = _wall_plan(day, hours.get(provider_id, []), exceptions.get(provider_id, []))
            column.closed_note = note
            for start, end in open_blocks:
                a = local_instant(day, start, pzone, prefer="earlier")
                b = local_instant(day, end, pzone, prefer="later")
                column.open.append(Shade(_minute_of(a, day, zone), _minute_of(b, day, zone)))
            for start, end, why in blocked:
                a = local_instant(day, start, pzone, prefer="earlier")
                b = local_instant(day, end, pzone, prefer="later")
                column.blocked.append(Shade(_minute_of(a, day, zone), _minute_of(b, day, zone), note=why))
            columns.append(column)
            by_column[(day, provider_id)] = column
    for booking in bookings:
        start_local = booking.start.astimezone(zone)
        column_or_none = by_column.get((start_local.date(), booking.provider_id))
        if column_or_none is None:
            continue
        day = column_or_none.day
        start_minute = _minute_of(booking.start, day, zone)
        end_minute = max(start_minute + 1, _minute_of(booking.end, day, zone))
        column_or_none.items.append(
            Item(
                start_minute,
                end_minute,
                ref=booking.ref,
                start_local=start_local,
                end_local=booking.end.astimezone(zone),
            )
        )
    if hide_idle_weekend:
        columns = [c for c in columns if c.day.weekday() < 5 or c.open or c.items]

    marks = [m for c in columns for p in (*c.open, *c.items) for m in (p.start_minute, p.end_minute)]
    if marks:
        first_hour = max(0, min(min(marks) // 60, DEFAULT_HOURS[0]))
        last_hour = min(24, max(-(-max(marks) // 60), DEFAULT_HOURS[1]))
    else:
        first_hour, last_hour = DEFAULT_HOURS
    lo, hi = first_hour * 60, last_hour * 60

    def place(p: Place) -> bool:
        start, end = max(p.start_minute, lo), min(p.end_minute, hi)
        if end <= start:
            return False
        p.row = (start - lo) // ROW_MINUTES + 1
        p.span = max(1, -(-(end - lo) // ROW_MINUTES) - (p.row - 1))
        return True

    now_local = now.astimezone(zone)
    for column in columns:
        column.open = [s for s in column.open if place(s)]
        column.blocked = [s for s in column.blocked if place(s)]
        column.items = [i for i in column.items if place(i)]
        _assign_lanes(column.items)
        if column.day == now_local.date():
            minute = now_local.hour * 60 + now_local.minute
            if lo <= minute < hi:
                column.now_row = (minute - lo) // ROW_MINUTES + 1
    hours_marks = [
        HourMark(label=_hour_label(h), row=(h - first_hour) * 60 // ROW_MINUTES + 1)
        for h in range(first_hour, last_hour)
    ]
    return Grid(first_hour=first_hour, last_hour=last_hour, columns=columns, hours=hours_marks)


def _hour_label(hour: int) -> str:
    suffix = "AM" if hour < 12 else "PM"
    shown = hour % 12 or 12
    return f"{shown} {suffix}"


def week_of(day: date) -> list[date]:
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=i) for i in range(7)]


def css_rules(max_rows: int = 24 * 60 // ROW_MINUTES) -> str:
    """The placement classes calendar.css carries (regenerate with
    `python -c "from converge.scheduling.calendar_grid import css_rules; print(css_rules())"`)."""
    lines = [f".at-{n}{{grid-row-start:{n}}}" for n in range(1, max_rows + 1)]
    lines += [f".span-{n}{{grid-row-end:span {n}}}" for n in range(1, max_rows + 1)]
    for lanes in range(1, MAX_LANES + 1):
        width = 100 / lanes
        lines.append(f".lanes-{lanes}{{width:calc({width:.4g}% - 4px)}}")
        for lane in range(lanes):
            lines.append(f".lanes-{lanes}.lane-{lane}{{margin-left:calc({lane * width:.4g}% + 2px)}}")
    return "\n".join(lines)
