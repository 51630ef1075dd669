from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from converge.scheduling.importers.csv_import import parse_csv
from converge.scheduling.importers.records import AppointmentRecord, PatientRecord, RowError

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = "external_id,first_name,last_name,phone,start,end,duration_minutes,status"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def fixture_bytes() -> bytes:
    return (FIXTURES / "appointments.csv").read_bytes()


def test_good_rows_import_exactly(fixture_bytes: bytes) -> None:
    result = parse_csv(fixture_bytes, default_tz="America/New_York")

    assert result.format == "csv"
    assert [r.external_id for r in result.records] == [
        "A-1001",
        "A-1002",
        "A-1003",
        "A-1005",
        "A-1007",
        "A-1008",
    ]
    assert result.records[0] == AppointmentRecord(
        source="csv",
        external_id="A-1001",
        status="booked",
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
        provider_name="Dr. Smith",
        provider_external_id="",
        location_name="Main Street",
        appointment_type="Checkup",
        row=2,
    )
    second = result.records[1]
    assert (second.status, second.start, second.end) == (
        "confirmed",
        utc(2025, 3, 10, 13, 0),  # after the 9 March DST change: EDT, UTC-4
        utc(2025, 3, 10, 13, 45),
    )
    assert second.patient.last_name == "García"
    assert second.row == 3
    third = result.records[2]
    assert third.row == 5  # the blank line 4 still counts
    assert third.patient.last_name == "Smith, Jr."
    assert third.status == "cancelled"  # "canceled"
    assert (third.start, third.end) == (utc(2025, 3, 9, 15, 0), utc(2025, 3, 9, 15, 20))
    assert result.records[3].status == "checked_in"
    assert result.records[3].patient.language == "es"  # "Spanish"
    assert result.records[4].status == "no_show"
    assert result.records[5].status == "completed"
    assert (result.records[5].start, result.records[5].end) == (
        utc(2025, 4, 1, 14, 0),
        utc(2025, 4, 1, 14, 15),
    )


def test_bad_rows_are_reported_by_row_and_field(fixture_bytes: bytes) -> None:
    result = parse_csv(fixture_bytes, default_tz="America/New_York")

    by_row: dict[int, set[str]] = {}
    for error in result.errors:
        by_row.setdefault(error.row, set()).add(error.field)
    assert by_row == {
        6: {"start", "duration_minutes", "status", "date_of_birth", "phone", "email", "language"},
        7: {"external_id", "end"},
        9: {"external_id"},
        10: {"patient_external_id"},
    }
    duplicate = next(e for e in result.errors if e.row == 9)
    assert "first seen on row 3" in duplicate.message
    assert str(RowError(6, "start", "not a date/time")) == "row 6, field start: not a date/time"


def test_dst_gap_and_overlap_in_new_york(fixture_bytes: bytes) -> None:
    records = {r.external_id: r for r in parse_csv(fixture_bytes, default_tz="America/New_York").records}
    # 01:30 on 2 Nov 2025 happens twice; RFC 5545 takes the first (EDT, UTC-4).
    assert records["A-1005"].start == utc(2025, 11, 2, 5, 30)
    assert records["A-1005"].end == utc(2025, 11, 2, 6, 0)
    # 02:30 on 9 Mar 2025 does not exist; it is read with the pre-gap offset (EST) = 03:30 EDT.
    assert records["A-1007"].start == utc(2025, 3, 9, 7, 30)


def test_same_file_in_chicago(fixture_bytes: bytes) -> None:
    records = {r.external_id: r for r in parse_csv(fixture_bytes, default_tz="America/Chicago").records}
    assert records["A-1001"].start == utc(2025, 3, 7, 15, 0)  # CST, UTC-6
    assert records["A-1002"].start == utc(2025, 3, 10, 14, 0)  # CDT, UTC-5
    assert records["A-1005"].start == utc(2025, 11, 2, 6, 30)  # first 01:30, CDT
    # Explicit offsets and Z ignore default_tz.
    assert records["A-1003"].start == utc(2025, 3, 9, 15, 0)
    assert records["A-1008"].start == utc(2025, 4, 1, 14, 0)


def test_missing_required_column_is_a_single_error() -> None:
    text = "external_id,first_name,end\nA-1,Jane,2025-03-07 09:30\n"

    result = parse_csv(text, default_tz="America/New_York")

    assert result.records == []
    assert result.errors == [RowError(1, "start", "missing required column")]


def test_missing_end_and_duration_columns() -> None:
    result = parse_csv("external_id,start,last_name\nA-1,2025-03-07 09:00,Doe\n", default_tz="UTC")

    assert [(e.row, e.field) for e in result.errors] == [(1, "end")]
    assert "duration_minutes" in result.errors[0].message


def test_bom_semicolons_header_spelling_and_blank_lines() -> None:
    text = (
        "\ufeffExternal ID;First Name;Last-Name;Phone;Start;Duration Minutes\r\n"
        "\r\n"
        "A-1;Jane;Doe;201.555.0123;2025-07-01 09:00;30\r\n"
        "\r\n"
        '"A-2";"Ana";"López; Ruiz";;2025-07-01T10:00:00+02:00;15\r\n'
    )

    result = parse_csv(text.encode("utf-8"), default_tz="America/New_York")

    assert result.errors == []
    assert [(r.external_id, r.row) for r in result.records] == [("A-1", 3), ("A-2", 5)]
    assert result.records[0].start == utc(2025, 7, 1, 13, 0)
    assert result.records[0].patient.phone == "+12015550123"
    assert result.records[1].patient.last_name == "López; Ruiz"
    assert result.records[1].start == utc(2025, 7, 1, 8, 0)
    assert result.records[1].status == "booked"


def test_tab_delimited_utf16_from_excel() -> None:
    text = "external_id\tlast_name\tstart\tend\nA-1\tDoe\t2025-01-05 08:00\t2025-01-05 08:20\n"

    result = parse_csv(text.encode("utf-16"), default_tz="America/Chicago")

    assert result.errors == []
    assert result.records[0].start == utc(2025, 1, 5, 14, 0)


def test_windows_1252_bytes_are_read() -> None:
    text = "external_id,last_name,start,duration_minutes\nA-1,Pe\xf1a,2025-01-05 08:00,10\n"

    result = parse_csv(text.encode("cp1252"), default_tz="UTC")

    assert result.records[0].patient.last_name == "Peña"


def test_phone_region_and_international_numbers() -> None:
    text = (
        f"{HEADER}\n"
        "A-1,Jo,Bloggs,+44 20 7946 0958,2025-01-05 08:00,,10,\n"
        "A-2,Jo,Bloggs,020 7946 0958,2025-01-05 08:00,,10,\n"
    )

    us = parse_csv(text, default_tz="UTC")
    gb = parse_csv(text, default_tz="UTC", default_region="GB")

    assert [r.patient.phone for r in us.records] == ["+442079460958"]
    assert [(e.row, e.field) for e in us.errors] == [(3, "phone")]
    assert [r.patient.phone for r in gb.records] == ["+442079460958", "+442079460958"]


@pytest.mark.parametrize(
    ("end", "duration", "field"),
    [
        ("", "0", "duration_minutes"),
        ("", "1441", "duration_minutes"),
        ("", "", "end"),
        ("2025-01-05", "", "end"),
        ("2025-01-05 07:00", "", "end"),
    ],
)
def test_bad_end_or_duration(end: str, duration: str, field: str) -> None:
    text = f"{HEADER}\nA-1,Jo,Bloggs,,2025-01-05 08:00,{end},{duration},\n"

    result = parse_csv(text, default_tz="UTC")

    assert result.records == []
    assert [(e.row, e.field) for e in result.errors] == [(2, field)]


def test_end_wins_over_duration_when_both_given() -> None:
    text = f"{HEADER}\nA-1,Jo,Bloggs,,2025-01-05 08:00,2025-01-05 08:10,45,\n"

    record = parse_csv(text, default_tz="UTC").records[0]

    assert record.end == utc(2025, 1, 5, 8, 10)


def test_future_date_of_birth_is_rejected() -> None:
    text = "external_id,last_name,date_of_birth,start,duration_minutes\nA-1,Doe,2999-01-01,2025-01-05 08:00,10\n"

    result = parse_csv(text, default_tz="UTC")

    assert [(e.row, e.field) for e in result.errors] == [(2, "date_of_birth")]


def test_unknown_columns_are_ignored_and_short_rows_are_padded() -> None:
    text = "external_id,notes,notes,last_name,start,duration_minutes\nA-1,x,y,Doe,2025-01-05 08:00,10\nA-2,,\n"

    result = parse_csv(text, default_tz="UTC")

    assert [r.external_id for r in result.records] == ["A-1"]
    assert {e.field for e in result.errors if e.row == 3} == {
        "start",
        "duration_minutes",
        "patient_external_id",
    }


def test_duplicate_known_column_is_a_header_error() -> None:
    result = parse_csv("external_id,start,start,end\n", default_tz="UTC")

    assert result.errors == [RowError(1, "start", "column appears more than once")]


def test_empty_file_and_unknown_zone_raise_value_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_csv(b"\n\n", default_tz="UTC")
    with pytest.raises(ValueError, match="time zone"):
        parse_csv(HEADER, default_tz="Mars/Olympus_Mons")


def test_unreadable_csv_keeps_earlier_rows_and_reports_the_rest() -> None:
    huge = "x" * 200_000
    text = (
        f'external_id,last_name,start,duration_minutes\nA-1,Doe,2025-01-05 08:00,10\nA-2,"{huge}",2025-01-05 09:00,10\n'
    )

    result = parse_csv(text, default_tz="UTC")

    assert [r.external_id for r in result.records] == ["A-1"]
    assert [(e.row, e.field) for e in result.errors] == [(3, "file")]
