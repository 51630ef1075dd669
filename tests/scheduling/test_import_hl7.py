from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from converge.scheduling.importers.hl7_import import hl7_ack, parse_hl7, split_messages
from converge.scheduling.importers.records import AppointmentRecord, PatientRecord

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2025, 3, 5, 13, 30, 5, tzinfo=UTC)
JANE = PatientRecord(
    external_id="MRN-1",  # the MR identifier, not the SSN repetition
    first_name="Jane",
    last_name="Doe",
    date_of_birth=date(1980, 2, 3),
    phone="+12125550147",  # the cell (CP) number first
    email="jane@example.com",
    language="es",
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def seg(name: str, fields: dict[int, str]) -> str:
    values = [""] * max(fields)
    for number, value in fields.items():
        values[number - 1] = value
    return "|".join([name, *values])


def sch(**fields: str) -> str:
    """SCH with F-1 as filler id; keyword f11="..." sets SCH-11."""
    return seg("SCH", {2: "F-1"} | {int(k[1:]): v for k, v in fields.items()})


def siu(*segments: str, event: str = "S12") -> str:
    msh = f"MSH|^~\\&|A|B|C|D|20250301120000||SIU^{event}|C1|P|2.5"
    return "\r".join([msh, *segments]) + "\r"


def test_s12_new_booking() -> None:
    result = parse_hl7(fixture("siu_s12.hl7"), default_tz="America/New_York")

    assert result.errors == []
    assert result.records == [
        AppointmentRecord(
            source="hl7",
            external_id="FL-1001",
            status="booked",
            start=utc(2025, 3, 10, 13),  # 09:00 EDT, the day after the DST change
            end=utc(2025, 3, 10, 13, 30),
            patient=JANE,
            provider_name="Dr. Alice Smith",
            provider_external_id="DR1",
            location_name="Main Street Clinic",
            appointment_type="Annual checkup",
            sequence=int(utc(2025, 3, 5, 13, 30).timestamp()),
            row=1,
        )
    ]


def test_s13_reschedule_uses_tq_duration_and_offset() -> None:
    record = parse_hl7(fixture("siu_s13.hl7"), default_tz="America/Chicago").records[0]

    assert (record.external_id, record.status) == ("FL-1001", "booked")
    assert (record.start, record.end) == (utc(2025, 3, 11, 18), utc(2025, 3, 11, 18, 45))
    assert record.appointment_type == "Routine visit"  # no AIS: SCH-7


def test_s14_modification_from_ais_with_filler_status() -> None:
    record = parse_hl7(fixture("siu_s14.hl7"), default_tz="America/New_York").records[0]

    assert record.status == "checked_in"  # SCH-25 "Started"
    assert (record.start, record.end) == (utc(2025, 3, 11, 18), utc(2025, 3, 11, 19))  # AIS-7/8


def test_s15_cancellation_with_sch9_duration() -> None:
    record = parse_hl7(fixture("siu_s15.hl7"), default_tz="America/New_York").records[0]

    assert record.status == "cancelled"
    assert (record.start, record.end) == (utc(2025, 3, 11, 18), utc(2025, 3, 11, 18, 45))


@pytest.mark.parametrize(
    ("tz", "start"),
    [("America/New_York", utc(2025, 3, 12, 13)), ("America/Chicago", utc(2025, 3, 12, 14))],
)
def test_s26_no_show_with_placer_id_and_default_tz(tz: str, start: datetime) -> None:
    record = parse_hl7(fixture("siu_s26.hl7"), default_tz=tz).records[0]

    assert (record.external_id, record.status) == ("PL-2002", "no_show")
    assert (record.start, record.end - record.start) == (start, utc(1, 1, 1, 0, 20) - utc(1, 1, 1))
    assert (record.provider_name, record.provider_external_id) == ("Grace Lee", "DR2")
    assert record.appointment_type == "Follow-up"  # SCH-8
    assert record.patient.email == "tom@example.com"
    assert record.patient.phone == ""


def test_events_in_order_have_increasing_sequence() -> None:
    names = ["siu_s12.hl7", "siu_s15.hl7", "siu_s14.hl7"]
    records = [parse_hl7(fixture(n), default_tz="America/New_York").records[0] for n in names]

    assert [r.status for r in records] == ["booked", "cancelled", "checked_in"]
    assert records[0].sequence < records[1].sequence < records[2].sequence


def test_batch_file_with_newlines_and_bad_messages() -> None:
    result = parse_hl7(fixture("siu_batch.hl7"), default_tz="America/New_York")

    assert [(r.row, r.external_id, r.status) for r in result.records] == [
        (1, "FL-1001", "booked"),
        (5, "FL-3003", "booked"),
        (6, "FL-1001", "cancelled"),
    ]
    assert [(e.row, e.field) for e in result.errors] == [(2, "MSH-9"), (3, "SCH-2"), (4, "SCH-11")]
    assert "ADT^A04" in result.errors[0].message


@pytest.mark.parametrize(
    ("tz", "start"),
    [("America/New_York", utc(2025, 11, 2, 5, 30)), ("America/Chicago", utc(2025, 11, 2, 6, 30))],
)
def test_repeated_fall_back_time_is_the_first_occurrence(tz: str, start: datetime) -> None:
    records = parse_hl7(fixture("siu_batch.hl7"), default_tz=tz).records
    record = next(r for r in records if r.external_id == "FL-3003")

    assert (record.start, record.end) == (start, start.replace(minute=0, hour=start.hour + 1))
    assert record.patient.phone == "+17735550181"  # PID-13.1 formatted number
    assert record.patient.language == "es"  # "SPA"
    assert record.appointment_type == "Vaccination"


def test_mllp_capture_file() -> None:
    result = parse_hl7(fixture("siu_capture.mllp"), default_tz="America/New_York")

    assert [(r.external_id, r.status) for r in result.records] == [
        ("FL-1001", "booked"),
        ("PL-2002", "no_show"),
        ("FL-1001", "booked"),
    ]
    assert result.errors == []


def test_str_input_with_crlf_and_escapes() -> None:
    message = siu(
        seg("SCH", {2: "F-1", 9: "15", 10: "m", 11: "^^^202503101000"}),
        "PID|1||X1||O\\T\\Brien^Se\\S\\n",
        "AIL|1||^^^Clinic\\F\\North",
    ).replace("\r", "\r\n")

    record = parse_hl7(message, default_tz="UTC").records[0]

    assert (record.patient.last_name, record.patient.first_name) == ("O&Brien", "Se^n")
    assert record.location_name == "Clinic|North"
    assert (record.start, record.end) == (utc(2025, 3, 10, 10), utc(2025, 3, 10, 10, 15))


@pytest.mark.parametrize(
    ("segments", "field"),
    [
        ([sch(f11="^^30^20250310")], "SCH-11"),  # no time of day
        ([sch(f11="^^30^20250230100000")], "SCH-11"),  # 30 February
        ([sch(f11="^^^20250310100000")], "SCH-11"),  # no end or duration
        ([sch(f11="^^X9^20250310100000")], "SCH-11"),
        ([sch(f9="ten", f10="min", f11="^^^20250310100000")], "SCH-9"),
        ([sch(f9="10", f10="fortnight", f11="^^^20250310100000")], "SCH-10"),
        ([sch(f11="^^^20250310100000^20250310090000")], "SCH-11"),
        ([sch(f11="^^H25^20250310100000")], "SCH-11"),  # longer than a day
        ([sch(), "AIS|1||X|20250310100000|||abc|min"], "AIS-7"),
        ([sch()], "SCH-11"),
    ],
)
def test_message_errors_name_the_field(segments: list[str], field: str) -> None:
    result = parse_hl7(siu(*segments), default_tz="UTC")

    assert result.records == []
    assert [(e.row, e.field) for e in result.errors] == [(1, field)]


def test_bad_phone_is_dropped_not_fatal() -> None:
    message = siu(sch(f11="^^30^202503101000"), "PID|1||X1||Doe^J||||||||555-1234")

    record = parse_hl7(message, default_tz="UTC").records[0]

    assert record.patient.phone == ""


def test_no_messages_raises_value_error() -> None:
    for data in (b"", b"\r\n", b"PID|1||X", "hello world"):
        with pytest.raises(ValueError, match="MSH"):
            parse_hl7(data, default_tz="UTC")
    with pytest.raises(ValueError, match="time zone"):
        parse_hl7(siu(), default_tz="Nowhere/City")


def test_split_messages_handles_frames_and_separators() -> None:
    text = "junk\x0bMSH|^~\\&|A\rPID|1\x1c\r\nMSH|^~\\&|B\nSCH|1\n\nBHS|x\nMSH|^~\\&|C"

    assert split_messages(text) == [
        "MSH|^~\\&|A\rPID|1\r",
        "MSH|^~\\&|B\rSCH|1\r",
        "MSH|^~\\&|C\r",
    ]


def test_ack_swaps_sender_and_receiver() -> None:
    message = fixture("siu_s12.hl7").decode()

    ack = hl7_ack(message, "AA", control_id="ACK00001", now=NOW)

    assert ack == (
        "MSH|^~\\&|CONVERGE|MAINST|EPIC|NORTHCLINIC|20250305133005+0000||ACK^S12^ACK|ACK00001|P|2.5\rMSA|AA|MSG00001\r"
    )


@pytest.mark.parametrize("code", ["AE", "AR"])
def test_error_ack_carries_escaped_text(code: str) -> None:
    message = "MSH|^~\\&|LAB|X|CONV|Y|20250101||SIU^S15|CTL-9|T|2.3\rSCH|1\r"

    ack = hl7_ack(message, code, "bad SCH|11 ^ value\\\nsee log", control_id="A1", now=NOW)  # type: ignore[arg-type]

    msh, msa = ack.rstrip("\r").split("\r")
    assert msh.split("|")[2:6] == ["CONV", "Y", "LAB", "X"]
    assert msh.split("|")[10:12] == ["T", "2.3"]
    assert msa == f"MSA|{code}|CTL-9|bad SCH\\F\\11 \\S\\ value\\E\\ see log"


def test_ack_with_other_separators_and_without_msh() -> None:
    message = "MSH#*~\\&#A#B#C#D#20250101##SIU*S12#ID7#P#2.5\rSCH#1\r"

    ack = hl7_ack(message, "AA", control_id="Z", now=NOW)

    assert ack.startswith("MSH#*~\\&#C#D#A#B#20250305133005+0000##ACK*S12*ACK#Z#P#2.5\r")
    assert ack.endswith("MSA#AA#ID7\r")
    with pytest.raises(ValueError):
        hl7_ack("PID|1|2", "AA")
    with pytest.raises(ValueError):
        hl7_ack(message, "XX")  # type: ignore[arg-type]


def test_ack_control_ids_are_unique_by_default() -> None:
    message = fixture("siu_s12.hl7").decode()
    ids = {hl7_ack(message, "AA").split("\r")[0].split("|")[9] for _ in range(20)}
    assert len(ids) == 20
