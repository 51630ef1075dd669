"""Appointments from a CSV export (spreadsheet or practice-management system).

The first non-blank line is the header. Column names are matched case-insensitively, with
spaces and hyphens read as underscores ("First Name" = ``first_name``); unknown columns are
ignored. The delimiter is detected from the header line: ``,``, ``;`` or tab. A UTF-8 (or
UTF-16) byte-order mark is allowed; bytes that are not UTF-8 are read as Windows-1252, which is
what Excel writes. Blank lines are skipped but still counted, so row numbers match what a
spreadsheet shows (the header is row 1).

Columns (* = required column; ** = at least one of the two is required):

=====================  ==================================================================
external_id *          the appointment's id in the source system (the upsert key)
start *                ISO 8601 date-time; with an offset or ``Z`` it is absolute, without
                       one (e.g. ``2025-03-09 10:00``) it is wall-clock time in default_tz
end **                 same formats as start; must be after start
duration_minutes **    whole minutes, 1..1440; used when ``end`` is absent or blank
patient_external_id    the patient's id in the source system
first_name, last_name  patient name
date_of_birth          YYYY-MM-DD
phone                  any format phonenumbers understands (default region US); stored E.164
email                  patient email address
language               ISO 639-1 code (``en``, ``es``), a BCP 47 tag (``es-MX``) or a name
provider               provider display name
location               location name
type                   appointment type
status                 booked (default when blank), confirmed, cancelled, no_show,
                       checked_in, completed; ``canceled``, ``no-show``, ``checked-in``,
                       ``scheduled``, ``completed``/``fulfilled`` spellings are accepted
=====================  ==================================================================

Each row must identify its patient by at least one of patient_external_id, first_name/last_name,
phone or email. A row with any bad value is left out and every bad value in it is reported as a
``RowError`` naming the row and column; a repeated external_id is reported on the later row.
Wall-clock times that a DST change skips or repeats are resolved as RFC 5545 does (see
``normalize.to_utc``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from .normalize import (
    parse_date_text,
    parse_datetime_text,
    parse_email,
    parse_language,
    parse_phone,
    zone,
)
from .records import AppointmentRecord, ParseResult, PatientRecord, RowError

REQUIRED_COLUMNS = ("external_id", "start")
END_COLUMNS = ("end", "duration_minutes")
OPTIONAL_COLUMNS = (
    "patient_external_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "phone",
    "email",
    "language",
    "provider",
    "location",
    "type",
    "status",
)
_KNOWN_COLUMNS = frozenset(REQUIRED_COLUMNS + END_COLUMNS + OPTIONAL_COLUMNS)

_STATUS_ALIASES = {
    "": "booked",
    "booked": "booked",
    "scheduled": "booked",
    "pending": "booked",
    "confirmed": "confirmed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "no_show": "no_show",
    "noshow": "no_show",
    "no show": "no_show",
    "no-show": "no_show",
    "checked_in": "checked_in",
    "checked in": "checked_in",
    "checked-in": "checked_in",
    "arrived": "checked_in",
    "completed": "completed",
    "fulfilled": "completed",
}
_MAX_DURATION_MINUTES = 24 * 60
_DELIMITERS = (",", ";", "\t")

T = TypeVar("T")


def parse_csv(data: str | bytes, *, default_tz: str, default_region: str = "US") -> ParseResult:
    """Parse a CSV export; ValueError only when ``default_tz`` is unknown or the file is empty."""
    tz = zone(default_tz)
    text = _decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    result = ParseResult(records=[], errors=[], format="csv")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    header: dict[str, int] | None = None
    header_row = 0
    seen: dict[str, int] = {}
    row_number = 0
    try:
        for row_number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header_row = row_number
                header, header_errors = _read_header(cells, header_row)
                if header_errors:
                    result.errors.extend(header_errors)
                    return result
                continue
            values = {name: _cell(cells, index) for name, index in header.items()}
            record, errors = _row_record(values, row_number, tz, default_region)
            if record is not None and record.external_id in seen:
                errors.append(
                    RowError(
                        row_number,
                        "external_id",
                        f"duplicate external_id (first seen on row {seen[record.external_id]})",
                    )
                )
            if errors:
                result.errors.extend(errors)
            elif record is not None:
                seen[record.external_id] = row_number
                result.records.append(record)
    except csv.Error as exc:
        result.errors.append(RowError(row_number + 1, "file", f"unreadable CSV: {exc}"))
    if header is None:
        raise ValueError("CSV file is empty (no header row)")
    return result


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(text: str) -> str:
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _column_name(raw: str) -> str:
    return re.sub(r"[\s\-]+", "_", raw.strip().lower())


def _read_header(cells: list[str], row: int) -> tuple[dict[str, int], list[RowError]]:
    header: dict[str, int] = {}
    errors: list[RowError] = []
    for index, raw in enumerate(cells):
        name = _column_name(raw)
        if not name:
            continue
        if name in header and name in _KNOWN_COLUMNS:
            errors.append(RowError(row, name, "column appears more than once"))
        elif name not in header:
            header[name] = index
    for name in REQUIRED_COLUMNS:
        if name not in header:
            errors.append(RowError(row, name, "missing required column"))
    if not any(name in header for name in END_COLUMNS):
        errors.append(RowError(row, "end", "missing required column (end or duration_minutes)"))
    return header, errors


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) else ""


def _checked(errors: list[RowError], row: int, field: str, parse: Callable[[], T]) -> T | None:
    try:
        return parse()
    except ValueError as exc:
        errors.append(RowError(row, field, str(exc)))
        return None


def _duration(text: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise ValueError("not a whole number of minutes")
    minutes = int(text)
    if not 1 <= minutes <= _MAX_DURATION_MINUTES:
        raise ValueError(f"must be between 1 and {_MAX_DURATION_MINUTES} minutes")
    return minutes


def _row_record(
    values: dict[str, str], row: int, tz: ZoneInfo, region: str
) -> tuple[AppointmentRecord | None, list[RowError]]:
    errors: list[RowError] = []
    external_id = values.get("external_id", "")
    if not external_id:
        errors.append(RowError(row, "external_id", "required"))

    start: datetime | None = None
    if not values.get("start"):
        errors.append(RowError(row, "start", "required"))
    else:
        start = _checked(errors, row, "start", lambda: parse_datetime_text(values["start"], tz))

    end: datetime | None = None
    if values.get("end"):
        end = _checked(errors, row, "end", lambda: parse_datetime_text(values["end"], tz))
        if start is not None and end is not None and end <= start:
            errors.append(RowError(row, "end", "must be after start"))
            end = None
    elif values.get("duration_minutes"):
        minutes = _checked(errors, row, "duration_minutes", lambda: _duration(values["duration_minutes"]))
        if start is not None and minutes is not None:
            end = start + timedelta(minutes=minutes)
    else:
        field = "end" if "end" in values else "duration_minutes"
        errors.append(RowError(row, field, "required (end or duration_minutes)"))

    status = _STATUS_ALIASES.get(" ".join(values.get("status", "").lower().split()))
    if status is None:
        errors.append(
            RowError(
                row,
                "status",
                "not a status (booked, confirmed, cancelled, no_show, checked_in, completed)",
            )
        )

    date_of_birth = None
    if values.get("date_of_birth"):
        date_of_birth = _checked(errors, row, "date_of_birth", lambda: parse_date_text(values["date_of_birth"]))
    phone = ""
    if values.get("phone"):
        phone = _checked(errors, row, "phone", lambda: parse_phone(values["phone"], region)) or ""
    email = ""
    if values.get("email"):
        email = _checked(errors, row, "email", lambda: parse_email(values["email"])) or ""
    language = ""
    if values.get("language"):
        language = _checked(errors, row, "language", lambda: parse_language(values["language"])) or ""

    identifying = ("patient_external_id", "first_name", "last_name", "phone", "email")
    if not any(values.get(name) for name in identifying):
        errors.append(
            RowError(
                row,
                "patient_external_id",
                "the patient needs an id, a name, a phone or an email",
            )
        )

    if errors or start is None or end is None or status is None:
        return None, errors
    patient = PatientRecord(
        external_id=values.get("patient_external_id", ""),
        first_name=values.get("first_name", ""),
        last_name=values.get("last_name", ""),
        date_of_birth=date_of_birth,
        phone=phone,
        email=email,
        language=language,
    )
    record = AppointmentRecord(
        source="csv",
        external_id=external_id,
        status=status,
        start=start,
        end=end,
        patient=patient,
        provider_name=values.get("provider", ""),
        provider_external_id="",
        location_name=values.get("location", ""),
        appointment_type=values.get("type", ""),
        row=row,
    )
    return record, errors
