"""Appointments from HL7 v2 SIU messages, and the ACKs that answer them.

A file holds one or many messages: MLLP-framed, or one after another; segments end in ``\\r``,
``\\n`` or ``\\r\\n``. Batch envelopes (FHS/BHS/BTS/FTS) are skipped. Each message is a row:
errors name its 1-based position in the file and an HL7 field (``SCH-2``, ``PID-7``).

Trigger events (MSH-9): S12 new booking, S13 rescheduling, S14 modification → the status from
SCH-25 filler status (Booked/Pending/Overbook → booked, Started → checked_in, Complete →
completed, Cancelled/Deleted/DC → cancelled, Noshow → no_show), booked when absent; S15
cancellation → cancelled; S26 no-show → no_show. Other message types are reported.

- external_id: SCH-2 filler appointment id (EI.1), else SCH-1 placer id.
- start: SCH-11.4 (TQ start), else AIS-4. end: SCH-11.5 (TQ end), else SCH-11.3 (TQ duration:
  ``M30``, ``H1``, ``S900`` or bare minutes), else SCH-9 with SCH-10 units, else AIS-7 with AIS-8
  units (minutes when no units; ``s``/``min``/``h`` and spelled-out forms). AIS-5/AIS-6 are the
  service's start *offset* inside the appointment in HL7 v2.3–2.8, so they do not move it.
- Times are HL7 TS (``YYYYMMDDHHMM[SS[.S…]][±ZZZZ]``); without an offset they are wall-clock in
  default_tz (skipped/repeated DST times resolved as in RFC 5545).
- patient: PID-3 (the MR-typed identifier, else the first), PID-5 (family^given), PID-7 date of
  birth, PID-13 then PID-14 phone (cell first; the first valid number becomes E.164, otherwise
  none), email from a PID-13 Internet address, PID-15 language.
- provider: AIP-3 (id^family^given^middle^suffix^prefix), else PV1-7; location: AIL-3 (PL-9
  description, else point of care, else facility); type: AIS-3, else SCH-7, else SCH-8.
- sequence: MSH-7 message time as Unix seconds, so an upsert can tell a stale event from a new
  one across files. Records keep file order; one appointment may have several events in a file.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

import hl7

from .normalize import check_birth_date, first_phone, language_or_blank, parse_email, to_utc, zone
from .records import AppointmentRecord, ParseResult, PatientRecord, RowError

AckCode = Literal["AA", "AE", "AR"]

_EVENTS = {"S12", "S13", "S14", "S15", "S26"}
_FILLER_STATUS = {
    "booked": "booked",
    "pending": "booked",
    "overbook": "booked",
    "started": "checked_in",
    "complete": "completed",
    "cancelled": "cancelled",
    "deleted": "cancelled",
    "dc": "cancelled",
    "noshow": "no_show",
}
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
}
_TQ_DURATION = re.compile(r"^([SMH])?(\d{1,6})$")
_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,4})?)?)?)?([+-]\d{4})?$")
_BATCH_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")
_MAX_APPOINTMENT = timedelta(days=1)


class _MessageError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_hl7(data: bytes | str, *, default_tz: str) -> ParseResult:
    """Parse SIU messages; ValueError when default_tz is unknown or there is no HL7 message."""
    tz = zone(default_tz)
    text = _decode(data) if isinstance(data, bytes) else data
    messages = split_messages(text)
    if not messages:
        raise ValueError("not HL7 v2: no MSH segment found")
    result = ParseResult(records=[], errors=[], format="hl7")
    for row, message in enumerate(messages, start=1):
        try:
            result.records.append(_record(message, row, tz))
        except ValueError as exc:
            field = exc.field if isinstance(exc, _MessageError) else "MSH"
            result.errors.append(RowError(row, field, str(exc)))
    return result


def split_messages(text: str) -> list[str]:
    """The messages in ``text`` (MLLP frames or plain), each with ``\\r``-terminated segments."""
    flat = re.sub(r"\r\n|\n|\r|\x0b|\x1c", "\r", text)
    messages: list[list[str]] = []
    for raw in flat.split("\r"):
        segment = raw.strip()
        if not segment or segment.startswith(_BATCH_SEGMENTS):
            continue
        if segment.startswith("MSH"):
            messages.append([segment])
        elif messages:
            messages[-1].append(segment)
    return ["".join(f"{segment}\r" for segment in message) for message in messages]


def hl7_ack(
    message: str,
    code: AckCode,
    text: str = "",
    *,
    control_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """An original-mode ACK for ``message``: sender and receiver swapped, MSA-1 ``code``,
    MSA-2 the message's control id (MSH-10), MSA-3 ``text``. ValueError when there is no MSH.
    """
    if code not in ("AA", "AE", "AR"):
        raise ValueError("ACK code must be AA, AE or AR")
    msh = _msh_fields(message)
    field_sep = msh[0][3]
    encoding = msh[1]
    component_sep = encoding[0] if encoding else "^"

    def get(number: int) -> str:
        return msh[number - 1] if number - 1 < len(msh) else ""

    trigger = get(9).split(component_sep)[1] if component_sep in get(9) else ""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    header = [
        "MSH",
        encoding,
        get(5),
        get(6),
        get(3),
        get(4),
        stamp,
        "",
        component_sep.join(["ACK", trigger, "ACK"]) if trigger else "ACK",
        control_id if control_id is not None else secrets.token_hex(10),
        get(11) or "P",
        get(12) or "2.5",
    ]
    acknowledgement = ["MSA", code, get(10)]
    if text:
        acknowledgement.append(_escape(text, field_sep, encoding))
    return "".join(f"{field_sep.join(segment)}\r" for segment in (header, acknowledgement))


def _msh_fields(message: str) -> list[str]:
    """MSH split into fields, numbered so that index n-1 is MSH-n (MSH-1 is the separator)."""
    segment = next(
        (s.strip() for s in re.split(r"[\r\n\x0b\x1c]", message) if s.strip().startswith("MSH")),
        "",
    )
    if len(segment) < 5 or segment[3].isalnum() or segment[3].isspace():
        raise ValueError("not an HL7 message: no MSH segment")
    field_sep = segment[3]
    parts = segment[4:].split(field_sep)
    encoding = parts[0][:4]
    if not encoding or any(c.isalnum() or c.isspace() for c in encoding):
        raise ValueError("not an HL7 message: bad MSH-2 encoding characters")
    return [f"MSH{field_sep}", encoding, *parts[1:]]


def _escape(text: str, field_sep: str, encoding: str) -> str:
    escape = encoding[2] if len(encoding) > 2 else "\\"
    flat = " ".join(text.split())
    replacements = {escape: "E", field_sep: "F"}
    for char, code in zip(encoding[:2] + encoding[3:4], "SRT", strict=False):
        replacements.setdefault(char, code)
    return "".join(f"{escape}{replacements[char]}{escape}" if char in replacements else char for char in flat)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_message(message: str) -> Any:
    """One message as an ``hl7.Message``; ValueError when it has no usable MSH segment."""
    _msh_fields(message)
    try:
        return hl7.parse(message)
    # The library asserts on separator sets it cannot plan for (e.g. a frame byte among them).
    except (hl7.ParseException, ValueError, IndexError, KeyError, TypeError, AssertionError) as exc:
        raise ValueError("not a parsable HL7 message") from exc


def _get(message: Any, segment: str, field: int, component: int = 1, repetition: int = 1) -> str:
    try:
        value = message.extract_field(segment, 1, field, repetition, component, 1)
    except (IndexError, KeyError, TypeError, ValueError):
        return ""
    return " ".join(str(value).split())


def _repetitions(message: Any, segment: str, field: int, limit: int = 20) -> list[int]:
    found = []
    for repetition in range(1, limit + 1):
        try:
            message.extract_field(segment, 1, field, repetition, 1, 1)
        except (IndexError, KeyError, TypeError, ValueError):
            break
        found.append(repetition)
    return found


def _record(text: str, row: int, tz: ZoneInfo) -> AppointmentRecord:
    try:
        message = parse_message(text)
    except ValueError as exc:
        raise _MessageError("MSH", str(exc)) from exc
    kind, event = _get(message, "MSH", 9, 1).upper(), _get(message, "MSH", 9, 2).upper()
    if kind != "SIU" or event not in _EVENTS:
        label = f"{kind}^{event}" if event else kind or "(none)"
        raise _MessageError("MSH-9", f"{label[:20]} is not an SIU S12/S13/S14/S15/S26 message")

    external_id = _get(message, "SCH", 2) or _get(message, "SCH", 1)
    if not external_id:
        raise _MessageError("SCH-2", "no filler (SCH-2) or placer (SCH-1) appointment id")

    start, end = _times(message, tz)
    if event == "S15":
        status = "cancelled"
    elif event == "S26":
        status = "no_show"
    else:
        status = _FILLER_STATUS.get(_get(message, "SCH", 25).lower().replace(" ", ""), "booked")

    provider_name, provider_id = _person(message, "AIP", 3)
    if not (provider_name or provider_id):
        provider_name, provider_id = _person(message, "PV1", 7)
    location = next((value for value in (_get(message, "AIL", 3, c) for c in (9, 1, 4)) if value), "")
    appointment_type = next(
        (
            value
            for value in (
                _get(message, "AIS", 3, 2),
                _get(message, "AIS", 3, 1),
                _get(message, "SCH", 7, 2),
                _get(message, "SCH", 7, 1),
                _get(message, "SCH", 8, 2),
                _get(message, "SCH", 8, 1),
            )
            if value
        ),
        "",
    )
    return AppointmentRecord(
        source="hl7",
        external_id=external_id,
        status=status,
        start=start,
        end=end,
        patient=_patient(message),
        provider_name=provider_name,
        provider_external_id=provider_id,
        location_name=location,
        appointment_type=appointment_type,
        sequence=_sequence(message, tz),
        row=row,
    )


def _times(message: Any, tz: ZoneInfo) -> tuple[datetime, datetime]:
    from_ais = not _get(message, "SCH", 11, 4)
    start_text, start_field = (
        (_get(message, "AIS", 4), "AIS-4") if from_ais else (_get(message, "SCH", 11, 4), "SCH-11")
    )
    if not start_text:
        raise _MessageError("SCH-11", "no start time (SCH-11.4 or AIS-4)")
    start = _timestamp(start_text, tz, start_field)

    def sch_tq() -> timedelta | None:
        return _tq_duration(_get(message, "SCH", 11, 3))

    def sch_units() -> timedelta | None:
        amount, units = _get(message, "SCH", 9), _get(message, "SCH", 10)
        return _unit_duration(amount, units, "SCH-9", "SCH-10")

    def ais_units() -> timedelta | None:
        amount, units = _get(message, "AIS", 7), _get(message, "AIS", 8)
        return _unit_duration(amount, units, "AIS-7", "AIS-8")

    end: datetime | None = None
    blame = "SCH-11"
    if end_text := _get(message, "SCH", 11, 5):
        end = _timestamp(end_text, tz, "SCH-11")
    else:
        sources = [("SCH-11", sch_tq), ("SCH-9", sch_units), ("AIS-7", ais_units)]
        if from_ais:
            sources.reverse()
        for field, duration_of in sources:
            if (duration := duration_of()) is not None:
                end, blame = start + duration, field
                break
    if end is None:
        raise _MessageError("SCH-11", "no end time or duration (SCH-11, SCH-9 or AIS-7)")
    if end <= start:
        raise _MessageError(blame, "the appointment ends before it starts")
    if end - start > _MAX_APPOINTMENT:
        raise _MessageError(blame, "the appointment is longer than a day")
    return start, end


def _tq_duration(text: str) -> timedelta | None:
    if not text:
        return None
    match = _TQ_DURATION.match(text.upper())
    if not match:
        raise _MessageError("SCH-11", f"duration {text[:20]!r} is not S, M or H and a number")
    seconds = {"S": 1, "M": 60, "H": 3600, None: 60}[match[1]]
    return timedelta(seconds=int(match[2]) * seconds)


def _unit_duration(amount: str, units: str, amount_field: str, units_field: str) -> timedelta | None:
    if not amount:
        return None
    if not re.fullmatch(r"\d{1,6}(\.\d{1,3})?", amount):
        raise _MessageError(amount_field, "duration is not a number")
    unit = units.lower().strip() or "min"
    if unit not in _UNIT_SECONDS:
        raise _MessageError(units_field, f"unknown duration unit {units[:20]!r}")
    return timedelta(seconds=float(amount) * _UNIT_SECONDS[unit])


def _timestamp(text: str, tz: ZoneInfo, field: str, *, need_time: bool = True) -> datetime:
    match = _TS.match(text.replace(" ", ""))
    if not match:
        raise _MessageError(field, "not an HL7 date/time (YYYYMMDDHHMM[SS][±ZZZZ])")
    year, month, day, hour, minute, second, offset = match.groups()
    if need_time and hour is None:
        raise _MessageError(field, "date without a time of day")
    try:
        zone_info: tzinfo = tz
        if offset:
            sign = -1 if offset[0] == "-" else 1
            zone_info = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=zone_info,
        )
    except (ValueError, OverflowError) as exc:
        raise _MessageError(field, "not a valid date/time") from exc
    try:
        return to_utc(value, tz)
    except ValueError as exc:
        raise _MessageError(field, str(exc)) from exc


def _sequence(message: Any, tz: ZoneInfo) -> int:
    try:
        return int(_timestamp(_get(message, "MSH", 7), tz, "MSH-7").timestamp())
    except _MessageError:
        return 0


def _person(message: Any, segment: str, field: int) -> tuple[str, str]:
    """Display name and id from an XCN field (id^family^given^middle^suffix^prefix)."""
    parts = [_get(message, segment, field, c) for c in (6, 3, 4, 2, 5)]
    return " ".join(p for p in parts if p), _get(message, segment, field, 1)


def _patient(message: Any) -> PatientRecord:
    identifiers = [
        (_get(message, "PID", 3, 1, r), _get(message, "PID", 3, 5, r).upper()) for r in _repetitions(message, "PID", 3)
    ]
    identifiers = [(value, kind) for value, kind in identifiers if value]
    medical_records = [value for value, kind in identifiers if kind == "MR"]
    external_id = (medical_records or [value for value, _ in identifiers] or [""])[0]

    date_of_birth: date | None = None
    if dob := _get(message, "PID", 7):
        try:
            date_of_birth = _timestamp(dob[:8], ZoneInfo("UTC"), "PID-7", need_time=False).date()
            check_birth_date(date_of_birth)
        except ValueError:
            date_of_birth = None

    phones: list[tuple[bool, str]] = []
    email = ""
    for field in (13, 14):
        for r in _repetitions(message, "PID", field):
            equipment = _get(message, "PID", field, 3, r).upper()
            address = _get(message, "PID", field, 4, r)
            if equipment in ("INTERNET", "X.400") or _get(message, "PID", field, 2, r) == "NET":
                if address and not email:
                    email = _email(address)
                continue
            mobile = equipment == "CP"
            country, area, local = (_get(message, "PID", field, c, r) for c in (5, 6, 7))
            if area and local:
                prefix = f"+{country}" if country else ""
                phones.append((mobile, f"{prefix} ({area}) {local}"))
            for component in (12, 1):
                if value := _get(message, "PID", field, component, r):
                    phones.append((mobile, value))
    phones.sort(key=lambda item: not item[0])

    language = language_or_blank(_get(message, "PID", 15, 1)) or language_or_blank(_get(message, "PID", 15, 2))
    return PatientRecord(
        external_id=external_id,
        first_name=_get(message, "PID", 5, 2),
        last_name=_get(message, "PID", 5, 1),
        date_of_birth=date_of_birth,
        phone=first_phone([value for _, value in phones]),
        email=email,
        language=language,
    )


def _email(text: str) -> str:
    try:
        return parse_email(text)
    except ValueError:
        return ""
