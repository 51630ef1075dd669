"""Appointments from an iCalendar (RFC 5545) file or feed.

Each VEVENT becomes one record (recurring events one record per occurrence in the window):

- ``UID`` → external_id. A recurring event's occurrences get ``"<UID>/<start>"``, where start is
  the occurrence's original start (its RECURRENCE-ID) in UTC as ``YYYYMMDDTHHMMSSZ``, so a moved
  occurrence keeps its id. An override (a VEVENT with the same UID and a RECURRENCE-ID) replaces
  the occurrence it names.
- ``DTSTART`` / ``DTEND`` with ``TZID`` (IANA, Windows or in-file VTIMEZONE), UTC (``Z``) or
  floating (read as default_tz); ``DURATION`` instead of DTEND. All-day events are reported,
  not imported.
- ``STATUS``: CONFIRMED → confirmed, TENTATIVE or absent → booked, CANCELLED → cancelled.
  ``X-CONVERGE-STATUS`` (any Converge status) takes precedence, for feeds that know more.
- ``SEQUENCE`` → sequence. When a file holds the same UID (and RECURRENCE-ID) more than once, the
  highest SEQUENCE wins (the later one on a tie).
- ``SUMMARY`` → appointment_type (``X-CONVERGE-APPOINTMENT-TYPE`` takes precedence),
  ``LOCATION`` → location_name (else the CN of an ATTENDEE with CUTYPE=ROOM).
- ``RRULE`` (DAILY/WEEKLY/MONTHLY/YEARLY), ``RDATE`` and ``EXDATE`` are expanded in the event's
  own time zone, so a 10:00 appointment stays at 10:00 local time across a DST change.

Patient, best effort: the first ATTENDEE that is not the organizer and is an individual (CUTYPE
INDIVIDUAL or absent; REQ-PARTICIPANT preferred) gives the name (CN), email (``mailto:``), phone
(``tel:``) and language (LANGUAGE parameter). These X- properties override it and are checked
strictly (a bad value is reported):

    X-CONVERGE-PATIENT-ID          patient external id
    X-CONVERGE-PATIENT-FIRST-NAME  X-CONVERGE-PATIENT-LAST-NAME
    X-CONVERGE-PATIENT-DOB         YYYY-MM-DD or YYYYMMDD
    X-CONVERGE-PATIENT-PHONE       any format (default region US), stored E.164
    X-CONVERGE-PATIENT-EMAIL
    X-CONVERGE-PATIENT-LANGUAGE    ISO 639-1 code, BCP 47 tag or language name

Provider: ``X-CONVERGE-PROVIDER`` (name) and ``X-CONVERGE-PROVIDER-ID``, else the ORGANIZER's
CN and email address. An event with no patient at all is reported (a calendar block such as
"Lunch" is not an appointment).

Errors name the VEVENT (1-based, in file order) as the row and the property as the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from dateutil.rrule import rrule, rrulestr
from icalendar import Calendar
from icalendar.cal import Component
from icalendar.prop import vDDDLists, vDDDTypes, vRecur

from .normalize import (
    check_birth_date,
    first_phone,
    in_range,
    language_or_blank,
    parse_email,
    parse_language,
    parse_phone,
    split_name,
    zone,
)
from .records import STATUSES, AppointmentRecord, ParseResult, PatientRecord, RowError

DEFAULT_WINDOW_BEFORE = timedelta(days=30)
DEFAULT_WINDOW_AFTER = timedelta(days=365)
MAX_OCCURRENCES = 1000  # per event inside the window
MAX_RRULE_STEPS = 50_000  # occurrences walked from DTSTART before giving up
DEFAULT_FEED_MAX_BYTES = 10 * 1024 * 1024

_STATUS = {"": "booked", "TENTATIVE": "booked", "CONFIRMED": "confirmed", "CANCELLED": "cancelled"}
_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_FEED_SCHEMES = {"http": "http", "https": "https", "webcal": "https", "webcals": "https"}


class _EventError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class _Event:
    row: int
    uid: str
    sequence: int
    recurrence_id: datetime | None  # UTC
    start: datetime  # aware, in the event's own zone (wall clock kept for recurrence)
    duration: timedelta
    status: str
    patient: PatientRecord
    provider_name: str
    provider_external_id: str
    location_name: str
    appointment_type: str
    component: Component


def parse_ical(
    data: bytes,
    *,
    default_tz: str,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> ParseResult:
    """Parse an iCalendar file; ValueError when it is not one or default_tz is unknown.

    Recurring events are expanded to the occurrences starting in [window_start, window_end),
    by default 30 days back to 365 days ahead of now; single events are kept whatever their date.
    """
    tz = zone(default_tz)
    now = datetime.now(UTC)
    low = window_start if window_start is not None else now - DEFAULT_WINDOW_BEFORE
    high = window_end if window_end is not None else now + DEFAULT_WINDOW_AFTER
    if low.tzinfo is None or high.tzinfo is None:
        raise ValueError("window_start and window_end must be aware datetimes")
    low, high = low.astimezone(UTC), high.astimezone(UTC)

    events, errors = _read_events(data, tz)
    result = ParseResult(records=[], errors=errors, format="ical")
    masters: dict[str, _Event] = {}
    overrides: dict[tuple[str, datetime], _Event] = {}
    for event in events:
        if event.recurrence_id is None:
            _keep_latest(masters, event.uid, event)
        else:
            _keep_latest(overrides, (event.uid, event.recurrence_id), event)

    emitted: set[tuple[str, datetime]] = set()
    records: list[AppointmentRecord] = []
    for uid, master in masters.items():
        if not _is_recurring(master.component):
            records.append(_record(master, uid))
            continue
        try:
            starts = _occurrences(master, tz, low, high)
        except _EventError as exc:
            result.errors.append(RowError(master.row, exc.field, str(exc)))
            continue
        for original in starts:
            key = (uid, original)
            emitted.add(key)
            external_id = _occurrence_id(uid, original)
            override = overrides.get(key)
            occurrence = override if override is not None else replace(master, start=original)
            records.append(_record(occurrence, external_id))
    for (uid, original), override in overrides.items():
        if (uid, original) in emitted:
            continue
        start_utc = override.start.astimezone(UTC)
        in_window = low <= original < high or low <= start_utc < high
        if uid in masters and _is_recurring(masters[uid].component) and not in_window:
            continue
        records.append(_record(override, _occurrence_id(uid, original)))
    records.sort(key=lambda record: (record.row or 0, record.start))
    result.records = records
    result.errors.sort(key=lambda error: error.row)
    return result


def fetch_ical_feed(url: str, *, http: httpx.Client | None = None, max_bytes: int = DEFAULT_FEED_MAX_BYTES) -> bytes:
    """Download an iCalendar feed (http, https, or webcal read as https).

    ValueError for a disallowed URL, an HTTP error status or a body over max_bytes;
    network failures propagate as ``httpx.TransportError`` so callers can retry later.
    """
    target = feed_url(url)
    client = http if http is not None else httpx.Client(timeout=30.0, follow_redirects=True)
    try:
        with client.stream("GET", target, headers={"Accept": "text/calendar"}) as response:
            if not response.is_success:
                raise ValueError(f"feed answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ValueError(f"feed is larger than {max_bytes} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise ValueError(f"feed is larger than {max_bytes} bytes")
            return bytes(body)
    finally:
        if http is None:
            client.close()


def feed_url(url: str) -> str:
    """``url`` with webcal(s) rewritten to https; ValueError for any other scheme."""
    value = url.strip()
    scheme, separator, rest = value.partition(":")
    mapped = _FEED_SCHEMES.get(scheme.lower()) if separator else None
    if mapped is None or not rest.startswith("//") or len(rest) <= 2:
        raise ValueError("feed URL must start with http://, https:// or webcal://")
    try:
        parsed = httpx.URL(f"{mapped}:{rest}")
    except (httpx.InvalidURL, ValueError) as exc:
        raise ValueError("feed URL is not a valid URL") from exc
    if not parsed.host:
        raise ValueError("feed URL has no host")
    return str(parsed)


def _read_events(data: bytes, tz: ZoneInfo) -> tuple[list[_Event], list[RowError]]:
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        calendars = Calendar.from_ical(data, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"not an iCalendar file: {exc}") from exc
    if not isinstance(calendars, list):
        calendars = [calendars]
    calendars = [cal for cal in calendars if cal.name == "VCALENDAR"]
    if not calendars:
        raise ValueError("not an iCalendar file: no BEGIN:VCALENDAR")
    events: list[_Event] = []
    errors: list[RowError] = []
    row = 0
    for calendar in calendars:
        for component in calendar.walk("VEVENT"):
            row += 1
            try:
                events.append(_read_event(component, row, tz))
            except _EventError as exc:
                errors.append(RowError(row, exc.field, str(exc)))
    return events, errors


def _keep_latest(index: dict[Any, _Event], key: Any, event: _Event) -> None:
    current = index.get(key)
    if current is None or event.sequence >= current.sequence:
        index[key] = event


def _is_recurring(component: Component) -> bool:
    return component.get("RRULE") is not None or component.get("RDATE") is not None


def _occurrence_id(uid: str, original: datetime) -> str:
    return f"{uid}/{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _record(event: _Event, external_id: str) -> AppointmentRecord:
    start = event.start.astimezone(UTC)
    return AppointmentRecord(
        source="ical",
        external_id=external_id,
        status=event.status,
        start=start,
        end=start + event.duration,
        patient=event.patient,
        provider_name=event.provider_name,
        provider_external_id=event.provider_external_id,
        location_name=event.location_name,
        appointment_type=event.appointment_type,
        sequence=event.sequence,
        row=event.row,
    )


def _first(component: Component, name: str) -> Any:
    value = component.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _all(component: Component, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _text(component: Component, name: str) -> str:
    value = _first(component, name)
    return "" if value is None else " ".join(str(value).split())


def _moment(component: Component, name: str, tz: ZoneInfo) -> datetime | None:
    """The property as an aware datetime in its own zone (floating → tz)."""
    prop = _first(component, name)
    if prop is None:
        return None
    if not isinstance(prop, vDDDTypes):
        raise _EventError(name, "not a date/time")
    value = prop.dt
    if not isinstance(value, datetime):
        if isinstance(value, date):
            raise _EventError(name, "all-day event (a date without a time) is not an appointment")
        raise _EventError(name, "not a date/time")
    return _aware(value, prop, name, tz)


def _aware(value: datetime, prop: Any, name: str, tz: tzinfo) -> datetime:
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value
    tzid = getattr(prop, "params", {}).get("TZID")
    if tzid:
        raise _EventError(name, f"unknown TZID {str(tzid)[:64]!r}")
    return value.replace(tzinfo=tz, fold=0)


def _read_event(component: Component, row: int, tz: ZoneInfo) -> _Event:
    uid = _text(component, "UID")
    if not uid:
        raise _EventError("UID", "missing")

    start = _moment(component, "DTSTART", tz)
    if start is None:
        raise _EventError("DTSTART", "missing")
    _strict("DTSTART", lambda: in_range(_utc(start, "DTSTART")))
    end = _moment(component, "DTEND", tz)
    if end is not None:
        duration = _utc(end, "DTEND") - _utc(start, "DTSTART")
        if duration <= timedelta(0):
            raise _EventError("DTEND", "must be after DTSTART")
    else:
        prop = _first(component, "DURATION")
        if prop is None:
            raise _EventError("DTEND", "missing (no DTEND or DURATION)")
        if not isinstance(prop, vDDDTypes) or not isinstance(prop.dt, timedelta):
            raise _EventError("DURATION", "not a duration")
        duration = prop.dt
        if duration <= timedelta(0):
            raise _EventError("DURATION", "must be positive")
    if duration > timedelta(days=1):
        raise _EventError("DTEND" if end is not None else "DURATION", "longer than a day")

    recurrence_id = None
    if (moment := _moment(component, "RECURRENCE-ID", tz)) is not None:
        recurrence_id = _utc(moment, "RECURRENCE-ID")

    sequence = 0
    raw_sequence = _first(component, "SEQUENCE")
    if raw_sequence is not None:
        if not isinstance(raw_sequence, int) or raw_sequence < 0:
            raise _EventError("SEQUENCE", "not a non-negative integer")
        sequence = int(raw_sequence)

    override = _text(component, "X-CONVERGE-STATUS").lower()
    if override:
        if override not in STATUSES:
            raise _EventError("X-CONVERGE-STATUS", "not a Converge status")
        status = override
    else:
        mapped = _STATUS.get(_text(component, "STATUS").upper())
        if mapped is None:
            raise _EventError("STATUS", "not CONFIRMED, TENTATIVE or CANCELLED")
        status = mapped

    organizer = _first(component, "ORGANIZER")
    organizer_address = _address(organizer)
    attendees = [a for a in _all(component, "ATTENDEE") if isinstance(a, str)]
    patient = _patient(component, attendees, organizer_address)
    location = _text(component, "LOCATION") or next(
        (_param(a, "CN") for a in attendees if _param(a, "CUTYPE").upper() == "ROOM"), ""
    )
    provider_name = _text(component, "X-CONVERGE-PROVIDER") or _param(organizer, "CN")
    provider_id = _text(component, "X-CONVERGE-PROVIDER-ID")
    if not provider_id and organizer_address.lower().startswith("mailto:"):
        provider_id = organizer_address[7:]
    appointment_type = _text(component, "X-CONVERGE-APPOINTMENT-TYPE") or _text(component, "SUMMARY")
    return _Event(
        row=row,
        uid=uid,
        sequence=sequence,
        recurrence_id=recurrence_id,
        start=start,
        duration=duration,
        status=status,
        patient=patient,
        provider_name=provider_name,
        provider_external_id=provider_id,
        location_name=location,
        appointment_type=appointment_type,
        component=component,
    )


def _utc(value: datetime, field: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise _EventError(field, "date/time out of range") from exc


def _param(prop: Any, name: str) -> str:
    params = getattr(prop, "params", None)
    if not params:
        return ""
    value = params.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return " ".join(str(value).split())


def _address(prop: Any) -> str:
    return str(prop).strip() if isinstance(prop, str) else ""


def _patient(component: Component, attendees: list[Any], organizer: str) -> PatientRecord:
    candidates = [
        a
        for a in attendees
        if _address(a).lower() != organizer.lower() or not organizer
        if _param(a, "CUTYPE").upper() in ("", "INDIVIDUAL")
    ]
    candidates.sort(key=lambda a: _param(a, "ROLE").upper() not in ("", "REQ-PARTICIPANT"))
    attendee = candidates[0] if candidates else None
    first, last = split_name(_param(attendee, "CN")) if attendee is not None else ("", "")
    address = _address(attendee)
    email = ""
    phone = ""
    if address.lower().startswith("mailto:"):
        try:
            email = parse_email(address)
        except ValueError:
            email = ""
    elif address.lower().startswith("tel:"):
        phone = first_phone([address[4:]])
    language = language_or_blank(_param(attendee, "LANGUAGE"))

    external_id = _text(component, "X-CONVERGE-PATIENT-ID")
    first = _text(component, "X-CONVERGE-PATIENT-FIRST-NAME") or first
    last = _text(component, "X-CONVERGE-PATIENT-LAST-NAME") or last
    date_of_birth = None
    if dob := _text(component, "X-CONVERGE-PATIENT-DOB"):
        date_of_birth = _strict("X-CONVERGE-PATIENT-DOB", lambda: _dob(dob))
    if raw := _text(component, "X-CONVERGE-PATIENT-PHONE"):
        phone = _strict("X-CONVERGE-PATIENT-PHONE", lambda: parse_phone(raw))
    if raw_email := _text(component, "X-CONVERGE-PATIENT-EMAIL"):
        email = _strict("X-CONVERGE-PATIENT-EMAIL", lambda: parse_email(raw_email))
    if raw_language := _text(component, "X-CONVERGE-PATIENT-LANGUAGE"):
        language = _strict("X-CONVERGE-PATIENT-LANGUAGE", lambda: parse_language(raw_language))
    if not (external_id or first or last or phone or email):
        raise _EventError("ATTENDEE", "no patient: add an ATTENDEE or X-CONVERGE-PATIENT-* properties")
    return PatientRecord(
        external_id=external_id,
        first_name=first,
        last_name=last,
        date_of_birth=date_of_birth,
        phone=phone,
        email=email,
        language=language,
    )


def _strict(field: str, parse: Any) -> Any:
    try:
        return parse()
    except ValueError as exc:
        raise _EventError(field, str(exc)) from exc


def _dob(text: str) -> date:
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", text)
    if not match:
        raise ValueError("not a date (expected YYYY-MM-DD)")
    value = date(int(match[1]), int(match[2]), int(match[3]))
    check_birth_date(value)
    return value


def _occurrences(event: _Event, tz: ZoneInfo, low: datetime, high: datetime) -> list[datetime]:
    """Original starts (UTC) of the event's occurrences that start in [low, high)."""
    component = event.component
    exdates: set[datetime] = set()
    exdays: set[date] = set()
    for prop in _all(component, "EXDATE"):
        for value in _list_values(prop, "EXDATE"):
            if isinstance(value, datetime):
                exdates.add(_utc(_aware(value, prop, "EXDATE", event.start.tzinfo or tz), "EXDATE"))
            elif isinstance(value, date):
                exdays.add(value)

    starts: set[datetime] = {_utc(event.start, "DTSTART")}
    for rule, count in _rules(event, tz, high):
        starts.update(_walk(rule, count))
    for prop in _all(component, "RDATE"):
        for value in _list_values(prop, "RDATE"):
            moment = value[0] if isinstance(value, tuple) else value
            if isinstance(moment, datetime):
                aware = _aware(moment, prop, "RDATE", event.start.tzinfo or tz)
                starts.add(_utc(aware, "RDATE"))

    local_zone = event.start.tzinfo
    chosen = sorted(
        start
        for start in starts
        if low <= start < high and start not in exdates and start.astimezone(local_zone).date() not in exdays
    )
    if len(chosen) > MAX_OCCURRENCES:
        raise _EventError("RRULE", f"more than {MAX_OCCURRENCES} occurrences in the window")
    return chosen


def _list_values(prop: Any, field: str) -> list[Any]:
    if not isinstance(prop, vDDDLists):
        raise _EventError(field, "not a list of dates/times")
    return [item.dt for item in prop.dts]


def _rules(event: _Event, tz: ZoneInfo, high: datetime) -> Iterator[tuple[rrule, int | None]]:
    for prop in _all(event.component, "RRULE"):
        if not isinstance(prop, vRecur):
            raise _EventError("RRULE", "not a recurrence rule")
        frequency = [str(value).upper() for value in prop.get("FREQ", [])]
        if len(frequency) != 1 or frequency[0] not in _FREQUENCIES:
            raise _EventError("RRULE", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
        until = high
        for value in prop.get("UNTIL", [])[:1]:
            until = min(until, _until(value, event.start.tzinfo or tz))
        count = None
        for value in prop.get("COUNT", [])[:1]:
            if not isinstance(value, int) or value < 1:
                raise _EventError("RRULE", "COUNT must be a positive integer")
            count = value
        bare = vRecur({key: value for key, value in prop.items() if key not in ("UNTIL", "COUNT")})
        try:
            rule = rrulestr(bare.to_ical().decode(), dtstart=event.start)
            if isinstance(rule, rrule):
                rule = rule.replace(until=until)
        except (ValueError, TypeError, OverflowError) as exc:
            raise _EventError("RRULE", "not a valid recurrence rule") from exc
        if not isinstance(rule, rrule):
            raise _EventError("RRULE", "not a single recurrence rule")
        yield rule, count


def _until(value: Any, zone_: tzinfo) -> datetime:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=zone_)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(23, 59, 59), tzinfo=zone_)
    else:
        raise _EventError("RRULE", "UNTIL is not a date/time")
    return _utc(moment, "RRULE")


def _walk(rule: rrule, count: int | None) -> Iterator[datetime]:
    for step, moment in enumerate(rule, start=1):
        if count is not None and step > count:
            return
        if step > MAX_RRULE_STEPS:
            raise _EventError("RRULE", f"more than {MAX_RRULE_STEPS} occurrences before the window")
        yield _utc(moment, "RRULE")
