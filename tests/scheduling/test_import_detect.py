from pathlib import Path

import pytest

from converge.scheduling.importers.detect import detect_format, parse_file

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("appointments.csv", "csv"),
        ("calendar.ics", "ical"),
        ("bundle.json", "fhir"),
        ("siu_s12.hl7", "hl7"),
        ("siu_batch.hl7", "hl7"),
        ("siu_capture.mllp", "hl7"),
    ],
)
def test_fixtures_are_detected_by_content(name: str, expected: str) -> None:
    path = FIXTURES / name
    head = path.read_bytes()[:8192]

    assert detect_format(path, head) == expected
    assert detect_format(Path("upload.bin"), head) == expected  # content beats extension


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xef\xbb\xbfBEGIN:VCALENDAR\r\n", "ical"),
        (b"\r\n  begin:vcalendar\r\n", "ical"),
        (b'{\n  "resourceType" : "Bundle", "type": "collection"', "fhir"),
        (b'{"id": "x", "resourceType": "Appointment"}', "fhir"),
        (b"MSH|^~\\&|A|B\r", "hl7"),
        (b"\nFHS|^~\\&|A\n", "hl7"),
        (b"\x0bMSH|^~\\&|A", "hl7"),
        (b"external_id,start\nA,2025-01-01 09:00\n", "csv"),
        (b"MSHIP,start\n", "csv"),
        (b"\xff\xfee\x00x\x00t\x00", "csv"),
    ],
)
def test_content_signatures(head: bytes, expected: str) -> None:
    assert detect_format(Path("upload"), head) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("feed.ics", "ical"), ("bundle.JSON", "fhir"), ("msgs.hl7", "hl7"), ("x.txt", "csv")],
)
def test_extension_breaks_the_tie_for_unrecognised_content(name: str, expected: str) -> None:
    assert detect_format(Path(name), b"something else\n") == expected


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"PK\x03\x04rest", "Excel"),
        (b"%PDF-1.7", "PDF"),
        (b"\x00\x01\x02", "not a text file"),
        (b'{"hello": "world"}', "not a FHIR"),
    ],
)
def test_unknown_formats_raise_value_error(head: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detect_format(Path("upload.dat"), head)


def test_parse_file_dispatches_each_fixture() -> None:
    expected = {
        "appointments.csv": ("csv", 6),
        "bundle.json": ("fhir", 6),
        "siu_batch.hl7": ("hl7", 3),
        "siu_capture.mllp": ("hl7", 3),
    }
    for name, (kind, count) in expected.items():
        result = parse_file(FIXTURES / name, default_tz="America/New_York")
        assert (result.format, len(result.records)) == (kind, count)


def test_parse_file_ical_and_size_limit(tmp_path: Path) -> None:
    result = parse_file(FIXTURES / "calendar.ics", default_tz="America/Chicago")
    assert result.format == "ical"
    assert {r.external_id for r in result.records} >= {"tzid-1@clinic.example"}

    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(ValueError, match="larger"):
        parse_file(big, default_tz="UTC", max_bytes=1024)
