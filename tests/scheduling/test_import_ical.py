from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from converge.scheduling.importers.ical_import import feed_url, fetch_ical_feed, parse_ical
from converge.scheduling.importers.records import AppointmentRecord, PatientRecord, RowError

FIXTURES = Path(__file__).parent / "fixtures"
WINDOW = {
    "window_start": datetime(2025, 2, 1, tzinfo=UTC),
    "window_end": datetime(2026, 1, 1, tzinfo=UTC),
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar(*events: str) -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{event.strip()}\r\nEND:VEVENT\r\n" for event in events)
    text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n"
    return text.replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode()


@pytest.fixture
def records() -> dict[str, AppointmentRecord]:
    data = (FIXTURES / "calendar.ics").read_bytes()
    result = parse_ical(data, default_tz="America/Chicago", **WINDOW)
    return {record.external_id: record for record in result.records}


def test_tzid_event_with_attendee_and_x_properties(records: dict[str, AppointmentRecord]) -> None:
    assert records["tzid-1@clinic.example"] == AppointmentRecord(
        source="ical",
        external_id="tzid-1@clinic.example",
        status="confirmed",
        start=utc(2025, 3, 7, 14, 0),
        end=utc(2025, 3, 7, 14, 30),
        patient=PatientRecord(
            external_id="P-1",
            first_name="Jane",
            last_name="Doe",
            date_of_birth=date(1980, 2, 3),
            phone="+12015550123",
            email="jane@example.com",
            language="en",
        ),
        provider_name="Dr. Alice Smith",
        provider_external_id="asmith@clinic.example",
        location_name="Main Street",
        appointment_type="Checkup",
        sequence=0,
        row=1,
    )


def test_floating_time_uses_default_tz_and_tel_attendee(
    records: dict[str, AppointmentRecord],
) -> None:
    record = records["floating-1@clinic.example"]
    assert (record.start, record.end) == (utc(2025, 3, 10, 14, 0), utc(2025, 3, 10, 14, 45))
    assert record.status == "booked"  # TENTATIVE
    assert record.patient == PatientRecord("", "Carlos", "García", None, "+12125550147", "", "es")


def test_utc_event_and_provider_x_properties(records: dict[str, AppointmentRecord]) -> None:
    record = records["utc-1@clinic.example"]
    assert (record.start, record.end, record.status) == (
        utc(2025, 3, 11, 16, 0),
        utc(2025, 3, 11, 16, 20),
        "booked",
    )
    assert (record.provider_name, record.provider_external_id) == ("Dr. Lee", "PR-7")
    assert record.appointment_type == "New patient visit"
    assert (record.patient.first_name, record.patient.last_name) == ("Mary", "Smith")


def test_cancelled_event_with_room_as_location(records: dict[str, AppointmentRecord]) -> None:
    record = records["cancel-1@clinic.example"]
    assert record.status == "cancelled"
    assert record.start == utc(2025, 3, 12, 15, 0)  # 10:00 CDT
    assert record.location_name == "Room 4"
    assert record.patient.email == "ana@example.com"


def test_highest_sequence_wins(records: dict[str, AppointmentRecord]) -> None:
    record = records["update-1@clinic.example"]
    assert (record.sequence, record.row, record.status) == (2, 6, "confirmed")
    assert record.start == utc(2025, 3, 14, 15, 0)


def test_weekly_rrule_across_dst_with_exdate_and_override(
    records: dict[str, AppointmentRecord],
) -> None:
    weekly = sorted(
        (r for r in records.values() if r.external_id.startswith("weekly-1")),
        key=lambda r: r.external_id,
    )
    assert [(r.external_id, r.start, r.end) for r in weekly] == [
        ("weekly-1@clinic.example/20250226T150000Z", utc(2025, 2, 26, 15), utc(2025, 2, 26, 15, 30)),
        ("weekly-1@clinic.example/20250305T150000Z", utc(2025, 3, 5, 15), utc(2025, 3, 5, 15, 30)),
        # 12 March is an EXDATE; 19 March was moved to 15:00 by an override (RECURRENCE-ID).
        ("weekly-1@clinic.example/20250319T140000Z", utc(2025, 3, 19, 19), utc(2025, 3, 19, 19, 30)),
        # After the DST change 10:00 New York time is 14:00 UTC.
        ("weekly-1@clinic.example/20250326T140000Z", utc(2025, 3, 26, 14), utc(2025, 3, 26, 14, 30)),
    ]
    moved = records["weekly-1@clinic.example/20250319T140000Z"]
    assert (moved.appointment_type, moved.sequence, moved.row) == ("Physical therapy (moved)", 1, 9)


def test_floating_daily_rrule_keeps_wall_clock_across_chicago_dst(
    records: dict[str, AppointmentRecord],
) -> None:
    daily = sorted(r.start for r in records.values() if r.external_id.startswith("daily-1"))
    assert daily == [utc(2025, 3, 8, 14, 30), utc(2025, 3, 9, 13, 30), utc(2025, 3, 10, 13, 30)]


def test_unbounded_rrule_is_limited_to_the_window(records: dict[str, AppointmentRecord]) -> None:
    monthly = sorted(r.start for r in records.values() if r.external_id.startswith("monthly-1"))
    assert len(monthly) == 11  # 15 Feb .. 15 Dec 2025
    assert monthly[0] == utc(2025, 2, 15, 20)  # CST
    assert monthly[1] == utc(2025, 3, 15, 19)  # CDT
    assert monthly[-1] == utc(2025, 12, 15, 20)


def test_bad_events_are_reported() -> None:
    data = (FIXTURES / "calendar.ics").read_bytes()

    result = parse_ical(data, default_tz="America/Chicago", **WINDOW)

    assert [(e.row, e.field) for e in result.errors] == [
        (12, "UID"),
        (13, "DTSTART"),
        (14, "ATTENDEE"),
        (15, "DTSTART"),
    ]
    assert "all-day" in result.errors[1].message
    assert "Mars/Olympus_Mons" in result.errors[3].message
    assert len(result.records) == 5 + 4 + 3 + 11


def test_same_file_in_new_york_moves_only_floating_times() -> None:
    data = (FIXTURES / "calendar.ics").read_bytes()

    result = parse_ical(data, default_tz="America/New_York", **WINDOW)
    records = {r.external_id: r for r in result.records}

    assert records["floating-1@clinic.example"].start == utc(2025, 3, 10, 13, 0)
    assert records["tzid-1@clinic.example"].start == utc(2025, 3, 7, 14, 0)
    assert records["daily-1@clinic.example/20250309T123000Z"].start == utc(2025, 3, 9, 12, 30)


def test_window_excludes_occurrences_but_keeps_single_events() -> None:
    data = calendar(
        """UID:r1
DTSTART:20250101T100000Z
DURATION:PT30M
RRULE:FREQ=DAILY;COUNT=10
ATTENDEE;CN=A B:mailto:a@example.com""",
        """UID:s1
DTSTART:20200101T100000Z
DURATION:PT30M
ATTENDEE;CN=A B:mailto:a@example.com""",
    )

    result = parse_ical(
        data,
        default_tz="UTC",
        window_start=utc(2025, 1, 3),
        window_end=utc(2025, 1, 5),
    )

    assert [r.external_id for r in result.records] == [
        "r1/20250103T100000Z",
        "r1/20250104T100000Z",
        "s1",
    ]


def test_rrule_until_as_date_rdate_and_cancelled_master() -> None:
    data = calendar(
        """UID:r2
DTSTART;TZID=America/New_York:20250301T090000
DTEND;TZID=America/New_York:20250301T091500
RRULE:FREQ=WEEKLY;UNTIL=20250315
RDATE;TZID=America/New_York:20250320T160000
STATUS:CANCELLED
ATTENDEE;CN=A B:mailto:a@example.com""",
    )

    result = parse_ical(data, default_tz="UTC", **WINDOW)

    assert [(r.start, r.status) for r in result.records] == [
        (utc(2025, 3, 1, 14), "cancelled"),
        (utc(2025, 3, 8, 14), "cancelled"),
        (utc(2025, 3, 15, 13), "cancelled"),
        (utc(2025, 3, 20, 20), "cancelled"),
    ]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ("UID:x\nDTSTART:20250301T090000Z\nATTENDEE:mailto:a@example.com", "DTEND"),
        ("UID:x\nDTSTART:20250301T090000Z\nDTEND:20250301T080000Z\nATTENDEE:mailto:a@b.com", "DTEND"),
        ("UID:x\nDTSTART:20250301T090000Z\nDURATION:PT0S\nATTENDEE:mailto:a@b.com", "DURATION"),
        ("UID:x\nDTSTART:20250301T090000Z\nDURATION:P2D\nATTENDEE:mailto:a@b.com", "DURATION"),
        ("UID:x\nDTSTART:2025-03-01\nDURATION:PT1H\nATTENDEE:mailto:a@b.com", "DTSTART"),
        ("UID:x\nDTSTART:20250301T090000Z\nDURATION:PT1H\nSTATUS:MAYBE\nATTENDEE:mailto:a@b.com", "STATUS"),
        ("UID:x\nDTSTART:20250301T090000Z\nDURATION:PT1H\nSEQUENCE:two\nATTENDEE:mailto:a@b.com", "SEQUENCE"),
        (
            "UID:x\nDTSTART:20250301T090000Z\nDURATION:PT1H\nRRULE:FREQ=SECONDLY\nATTENDEE:mailto:a@b.com",
            "RRULE",
        ),
        (
            "UID:x\nDTSTART:20250301T090000Z\nDURATION:PT1H\nX-CONVERGE-PATIENT-PHONE:12\n",
            "X-CONVERGE-PATIENT-PHONE",
        ),
        (
            "UID:x\nDTSTART:20250301T090000Z\nDURATION:PT1H\nX-CONVERGE-PATIENT-ID:1\nX-CONVERGE-STATUS:gone",
            "X-CONVERGE-STATUS",
        ),
    ],
)
def test_event_errors_name_the_property(event: str, field: str) -> None:
    result = parse_ical(calendar(event), default_tz="UTC", **WINDOW)

    assert result.records == []
    assert [(e.row, e.field) for e in result.errors] == [(1, field)]


def test_x_converge_status_overrides_status() -> None:
    data = calendar(
        "UID:x\nDTSTART:20250301T090000Z\nDURATION:PT1H\nSTATUS:CONFIRMED\n"
        "X-CONVERGE-STATUS:no_show\nX-CONVERGE-PATIENT-ID:P9"
    )

    record = parse_ical(data, default_tz="UTC", **WINDOW).records[0]

    assert (record.status, record.patient.external_id) == ("no_show", "P9")


def test_windows_zone_name_and_in_file_vtimezone() -> None:
    data = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
BEGIN:VTIMEZONE\r
TZID:Clinic Time\r
BEGIN:STANDARD\r
DTSTART:19701101T020000\r
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r
TZOFFSETFROM:-0500\r
TZOFFSETTO:-0600\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700308T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r
TZOFFSETFROM:-0600\r
TZOFFSETTO:-0500\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:w1\r
DTSTART;TZID=Eastern Standard Time:20250310T090000\r
DURATION:PT30M\r
ATTENDEE:mailto:a@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:v1\r
DTSTART;TZID=Clinic Time:20250310T090000\r
DURATION:PT30M\r
ATTENDEE:mailto:a@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""

    records = {r.external_id: r for r in parse_ical(data, default_tz="UTC", **WINDOW).records}

    assert records["w1"].start == utc(2025, 3, 10, 13)
    assert records["v1"].start == utc(2025, 3, 10, 14)


def test_not_a_calendar_raises_value_error() -> None:
    for data in (b"", b"hello", b"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n"):
        with pytest.raises(ValueError):
            parse_ical(data, default_tz="UTC")
    with pytest.raises(ValueError, match="aware"):
        parse_ical(calendar(), default_tz="UTC", window_start=datetime(2025, 1, 1))


def test_error_row_is_the_vevent_position() -> None:
    result = parse_ical(
        calendar("UID:a\nDTSTART:20250301T090000Z\nDURATION:PT1H\nX-CONVERGE-PATIENT-ID:1", "UID:b"),
        default_tz="UTC",
    )
    assert result.errors == [RowError(2, "DTSTART", "missing")]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("webcal://cal.example.org/feed.ics", "https://cal.example.org/feed.ics"),
        ("WEBCALS://cal.example.org/a?b=c", "https://cal.example.org/a?b=c"),
        ("http://cal.example.org/x.ics", "http://cal.example.org/x.ics"),
        ("https://cal.example.org/x.ics", "https://cal.example.org/x.ics"),
    ],
)
def test_feed_url_schemes(url: str, expected: str) -> None:
    assert feed_url(url) == expected


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://x.example/a.ics", "javascript:alert(1)", "https://", "cal.ics"]
)
def test_feed_url_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValueError):
        feed_url(url)


def test_fetch_ical_feed_rewrites_webcal_and_returns_body() -> None:
    body = calendar("UID:a\nDTSTART:20250301T090000Z\nDURATION:PT1H\nX-CONVERGE-PATIENT-ID:1")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body, headers={"content-type": "text/calendar"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        data = fetch_ical_feed("webcal://cal.example.org/feed.ics", http=client, max_bytes=10_000)

    assert data == body
    assert str(seen[0].url) == "https://cal.example.org/feed.ics"
    assert seen[0].headers["accept"] == "text/calendar"
    assert parse_ical(data, default_tz="UTC").records[0].external_id == "a"


def test_fetch_ical_feed_enforces_max_bytes_and_status() -> None:
    def big(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    def streamed(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"x" * 600, b"x" * 600]))

    def missing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    with httpx.Client(transport=httpx.MockTransport(big)) as client, pytest.raises(ValueError, match="larger"):
        fetch_ical_feed("https://cal.example.org/f.ics", http=client, max_bytes=1000)
    with httpx.Client(transport=httpx.MockTransport(streamed)) as client, pytest.raises(ValueError, match="larger"):
        fetch_ical_feed("https://cal.example.org/f.ics", http=client, max_bytes=1000)
    with httpx.Client(transport=httpx.MockTransport(missing)) as client, pytest.raises(ValueError, match="404"):
        fetch_ical_feed("https://cal.example.org/f.ics", http=client, max_bytes=1000)
