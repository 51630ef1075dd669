"""Property tests: every parser returns a ParseResult or raises ValueError, whatever it is fed."""

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.scheduling.importers.csv_import import parse_csv
from converge.scheduling.importers.detect import detect_format
from converge.scheduling.importers.fhir_import import parse_fhir_bundle
from converge.scheduling.importers.hl7_import import hl7_ack, parse_hl7
from converge.scheduling.importers.ical_import import parse_ical
from converge.scheduling.importers.mllp import MllpDecoder, frame
from converge.scheduling.importers.records import ParseResult

FIXTURES = Path(__file__).parent / "fixtures"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WINDOW = {
    "window_start": datetime(2025, 1, 1, tzinfo=UTC),
    "window_end": datetime(2026, 1, 1, tzinfo=UTC),
}


def outcome(parse: Callable[[], ParseResult]) -> ParseResult | None:
    try:
        result = parse()
    except ValueError:
        return None
    assert isinstance(result, ParseResult)
    for record in result.records:
        assert record.start.utcoffset() is not None and record.start < record.end
    for error in result.errors:
        assert error.row >= 1
    return result


def mutations(path: str) -> st.SearchStrategy[bytes]:
    """The fixture with a slice replaced by random bytes: near-valid input that reaches deep."""
    original = (FIXTURES / path).read_bytes()
    return st.tuples(st.integers(0, len(original)), st.integers(0, 40), st.binary(max_size=40)).map(
        lambda t: original[: t[0]] + t[2] + original[t[0] + t[1] :]
    )


# --- CSV ----------------------------------------------------------------------------------------

csv_cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2025-03-09 02:30", "2025-11-02T01:30:00-05:00", "30", "+1 201 555 0123"]),
)


@SETTINGS
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_csv_arbitrary_input(data: Any) -> None:
    outcome(lambda: parse_csv(data, default_tz="America/New_York"))


@SETTINGS
@given(st.lists(st.lists(csv_cell, min_size=1, max_size=8), max_size=6), st.sampled_from(",;\t"))
def test_csv_structured_rows(rows: list[list[str]], delimiter: str) -> None:
    header = "external_id,last_name,phone,start,end,duration_minutes,status,date_of_birth"
    body = "\n".join(delimiter.join(row) for row in rows)
    outcome(lambda: parse_csv(header.replace(",", delimiter) + "\n" + body, default_tz="UTC"))


@SETTINGS
@given(mutations("appointments.csv"))
def test_csv_mutated_fixture(data: bytes) -> None:
    outcome(lambda: parse_csv(data, default_tz="America/Chicago"))


# --- iCalendar ----------------------------------------------------------------------------------

ical_line = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "DTSTART:20250301T090000Z",
            "DTSTART;TZID=America/New_York:20250309T023000",
            "DTSTART:20250301T090000",
            "DTSTART;VALUE=DATE:20250301",
            "DTEND:20250301T093000Z",
            "DURATION:PT30M",
            "DURATION:-PT30M",
            "RRULE:FREQ=DAILY;COUNT=3",
            "RRULE:FREQ=WEEKLY;UNTIL=20250401",
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2",
            "RRULE:FREQ=YEARLY;INTERVAL=0",
            "RRULE:FREQ=DAILY;BYSETPOS=400",
            "EXDATE:20250302T090000Z",
            "RDATE;VALUE=PERIOD:20250310T100000Z/PT1H",
            "RECURRENCE-ID:20250302T090000Z",
            "SEQUENCE:3",
            "STATUS:CANCELLED",
            "ATTENDEE;CN=A B:mailto:a@example.com",
            "ATTENDEE:tel:12",
            "X-CONVERGE-PATIENT-DOB:19800230",
            "UID:u1",
        ]
    ),
)


@SETTINGS
@given(st.binary(max_size=400))
def test_ical_arbitrary_bytes(data: bytes) -> None:
    outcome(lambda: parse_ical(data, default_tz="America/Chicago", **WINDOW))


@SETTINGS
@given(st.lists(st.lists(ical_line, max_size=8), max_size=4))
def test_ical_structured_events(events: list[list[str]]) -> None:
    body = "".join("BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in lines) + "END:VEVENT\r\n" for lines in events)
    data = f"BEGIN:VCALENDAR\r\n{body}END:VCALENDAR\r\n".encode("utf-8", "surrogatepass")
    outcome(lambda: parse_ical(data, default_tz="America/New_York", **WINDOW))


@SETTINGS
@given(mutations("calendar.ics"))
def test_ical_mutated_fixture(data: bytes) -> None:
    outcome(lambda: parse_ical(data, default_tz="America/Chicago", **WINDOW))


# --- FHIR ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
appointment_like = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Appointment", "Patient", "Practitioner", "Location"])},
    optional={
        "id": st.text(max_size=8),
        "status": st.sampled_from(["booked", "waitlist", "noshow", "x"]) | json_values,
        "start": st.sampled_from(["2025-03-09T02:30:00-05:00", "2025-03-09", ""]) | json_values,
        "end": st.sampled_from(["2025-03-09T03:30:00Z"]) | json_values,
        "minutesDuration": st.integers(-5, 5000) | json_values,
        "participant": st.lists(
            st.fixed_dictionaries({"actor": st.fixed_dictionaries({"reference": st.text(max_size=15)})}) | json_values,
            max_size=3,
        ),
        "name": json_values,
        "birthDate": json_values,
        "telecom": json_values,
        "meta": json_values,
    },
)


@SETTINGS
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_fhir_arbitrary_input(data: Any) -> None:
    outcome(lambda: parse_fhir_bundle(data))


@SETTINGS
@given(
    st.sampled_from(["collection", "transaction", "searchset", "document"]),
    st.lists(
        st.fixed_dictionaries(
            {}, optional={"fullUrl": st.text(max_size=20) | json_values, "resource": appointment_like}
        )
        | json_values,
        max_size=5,
    ),
)
def test_fhir_structured_bundles(kind: str, entries: list[Any]) -> None:
    document = json.dumps({"resourceType": "Bundle", "type": kind, "entry": entries})
    outcome(lambda: parse_fhir_bundle(document))


@SETTINGS
@given(mutations("bundle.json"))
def test_fhir_mutated_fixture(data: bytes) -> None:
    outcome(lambda: parse_fhir_bundle(data))


# --- HL7 ----------------------------------------------------------------------------------------

hl7_field = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=15),
    st.sampled_from(["20250309023000", "20251102013000-0500", "M30", "min", "^^30^202503101000"]),
)
hl7_segment = st.tuples(
    st.sampled_from(["SCH", "PID", "AIS", "AIL", "AIP", "PV1", "ZZZ"]),
    st.lists(hl7_field, max_size=26),
).map(lambda t: "|".join([t[0], *t[1]]))


@SETTINGS
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_hl7_arbitrary_input(data: Any) -> None:
    outcome(lambda: parse_hl7(data, default_tz="America/New_York"))


@SETTINGS
@given(
    st.sampled_from(["S12", "S13", "S14", "S15", "S26", "A04", ""]),
    st.lists(hl7_segment, max_size=6),
    st.sampled_from(["\r", "\n", "\r\n"]),
)
def test_hl7_structured_messages(event: str, segments: list[str], separator: str) -> None:
    message = separator.join([f"MSH|^~\\&|A|B|C|D|20250301||SIU^{event}|1|P|2.5", *segments])
    outcome(lambda: parse_hl7(message, default_tz="America/Chicago"))
    ack = hl7_ack(message, "AE", "".join(segments)[:50])
    assert ack.startswith("MSH|") and "\rMSA|AE|1" in ack


@SETTINGS
@given(mutations("siu_batch.hl7"))
def test_hl7_mutated_fixture(data: bytes) -> None:
    outcome(lambda: parse_hl7(data, default_tz="America/New_York"))


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(["AA", "AE", "AR"]), st.text(max_size=30))
def test_hl7_ack_builds_or_raises_value_error(message: str, code: Any, text: str) -> None:
    try:
        ack = hl7_ack(message, code, text)
    except ValueError:
        return
    assert ack.count("\r") == 2 and "\rMSA" in ack


# --- detection and MLLP -------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=200), st.sampled_from(["x.csv", "x.ics", "x.json", "x.hl7", "x"]))
def test_detect_format_returns_a_format_or_raises_value_error(head: bytes, name: str) -> None:
    with contextlib.suppress(ValueError):
        assert detect_format(Path(name), head) in ("csv", "ical", "fhir", "hl7")


mllp_message = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x0b\x1c"),
    max_size=60,
)


@SETTINGS
@given(st.lists(mllp_message, max_size=8), st.data())
def test_mllp_decoder_round_trips_under_any_chunking(messages: list[str], data: Any) -> None:
    stream = b"".join(frame(message) for message in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    decoder = MllpDecoder()
    decoded = [message for chunk in chunks for message in decoder.feed(chunk)]

    assert decoded == messages
    assert not decoder.pending


@SETTINGS
@given(
    st.lists(st.tuples(st.binary(max_size=10), mllp_message), max_size=6),
    st.integers(1, 9),
)
def test_mllp_decoder_skips_junk_between_frames(pairs: list[tuple[bytes, str]], size: int) -> None:
    junk = [j.replace(b"\x0b", b"") for j, _ in pairs]
    stream = b"".join(j + frame(m) for j, (_, m) in zip(junk, pairs, strict=True))

    decoder = MllpDecoder()
    decoded = [m for i in range(0, len(stream), size) for m in decoder.feed(stream[i : i + size])]

    assert decoded == [m for _, m in pairs]


# --- the far edges of datetime ------------------------------------------------------------------


def test_year_9999_is_reported_not_overflowed() -> None:
    csv_result = parse_csv(
        "external_id,last_name,start,duration_minutes\nA,Doe,9999-12-31 23:59,30\n", default_tz="UTC"
    )
    ical_result = parse_ical(
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:99991231T235900Z\r\nDURATION:PT1H\r\n"
        b"X-CONVERGE-PATIENT-ID:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        default_tz="UTC",
    )
    fhir_result = parse_fhir_bundle(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Patient", "id": "p"}},
                    {
                        "resource": {
                            "resourceType": "Appointment",
                            "id": "a",
                            "status": "booked",
                            "start": "9999-12-31T23:59:00Z",
                            "minutesDuration": 30,
                            "participant": [{"actor": {"reference": "Patient/p"}, "status": "accepted"}],
                        }
                    },
                ],
            }
        )
    )
    hl7_result = parse_hl7("MSH|^~\\&|A||||||SIU^S12|1|P|2.5\rSCH||F|||||||||^^M30^99991231235900\r", default_tz="UTC")

    for result, field in (
        (csv_result, "start"),
        (ical_result, "DTSTART"),
        (fhir_result, "start"),
        (hl7_result, "SCH-11"),
    ):
        assert result.records == []
        assert [e.field for e in result.errors] == [field]
        assert "out of range" in result.errors[0].message
