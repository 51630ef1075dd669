import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from converge.scheduling.importers.fhir_import import parse_fhir_bundle
from converge.scheduling.importers.records import AppointmentRecord, PatientRecord, RowError

FIXTURES = Path(__file__).parent / "fixtures"
JANE = PatientRecord(
    external_id="p1",
    first_name="Jane",
    last_name="Doe",
    date_of_birth=date(1980, 2, 3),
    phone="+12125550147",  # the mobile number wins over the home one
    email="jane@example.com",
    language="es",  # the preferred communication, es-MX
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def bundle(*resources: dict[str, Any], kind: str = "collection") -> str:
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [{"resource": resource} for resource in resources],
        }
    )


PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe", "given": ["Jane"]}]}


def appointment(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "start": "2025-03-07T09:00:00-05:00",
        "end": "2025-03-07T09:30:00-05:00",
        "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}],
        **fields,
    }


@pytest.fixture
def result() -> Any:
    return parse_fhir_bundle((FIXTURES / "bundle.json").read_bytes())


def test_fixture_records(result: Any) -> None:
    records = {r.external_id: r for r in result.records}
    assert list(records) == ["a1", "a2", "a3", "a7", "a8", "a9"]
    assert records["a1"] == AppointmentRecord(
        source="fhir",
        external_id="a1",
        status="booked",
        start=utc(2025, 3, 7, 14),
        end=utc(2025, 3, 7, 14, 30),
        patient=JANE,
        provider_name="Dr. Alice Smith",
        provider_external_id="dr1",
        location_name="Main Street Clinic",
        appointment_type="Checkup",
        sequence=3,
        row=5,
    )
    assert records["a2"] == AppointmentRecord(
        source="fhir",
        external_id="a2",
        status="checked_in",
        start=utc(2025, 3, 10, 13),
        end=utc(2025, 3, 10, 13, 45),
        patient=PatientRecord(
            external_id="MRN-2",  # no id (urn:uuid entry): the MR identifier
            first_name="Carlos",
            last_name="García",
            date_of_birth=None,
            phone="+13125550199",  # the unparsable number is skipped
            email="",
            language="",
        ),
        provider_name="Dr. Who",  # not in the Bundle: display and reference id
        provider_external_id="missing",
        location_name="",
        appointment_type="Follow-up",
        row=6,
    )
    assert records["a3"].status == "completed"
    assert records["a3"].patient.external_id == "pc"  # contained, "#pc"
    assert records["a3"].location_name == "Annex"
    assert records["a7"].status == "cancelled"  # entered-in-error
    assert records["a7"].patient == JANE  # absolute reference with /_history/
    assert records["a8"].status == "checked_in"
    assert records["a9"].status == "no_show"


def test_instants_with_offsets_are_dst_correct(result: Any) -> None:
    records = {r.external_id: r for r in result.records}
    assert (records["a8"].start, records["a8"].end) == (utc(2025, 11, 2, 6, 30), utc(2025, 11, 2, 7))
    assert (records["a9"].start, records["a9"].end) == (utc(2025, 3, 9, 7, 30), utc(2025, 3, 9, 7, 50))


def test_fixture_errors_name_entry_and_field(result: Any) -> None:
    assert [(e.row, e.field) for e in result.errors] == [
        (8, "status"),
        (9, "participant[0].actor"),
        (10, "start"),
        (15, "birthDate"),
        (16, "participant[0].actor"),
        (17, "end"),
    ]
    assert result.errors[0].message == "waitlist appointments are not imported"
    assert "Patient/unknown" in result.errors[1].message
    assert "entry 15" in result.errors[4].message
    assert result.format == "fhir"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("proposed", "booked"),
        ("pending", "booked"),
        ("booked", "booked"),
        ("arrived", "checked_in"),
        ("checked-in", "checked_in"),
        ("fulfilled", "completed"),
        ("cancelled", "cancelled"),
        ("entered-in-error", "cancelled"),
        ("noshow", "no_show"),
    ],
)
def test_status_mapping(status: str, expected: str) -> None:
    result = parse_fhir_bundle(bundle(PATIENT, appointment(status=status)))
    assert [r.status for r in result.records] == [expected]


def test_unknown_status_and_missing_times() -> None:
    result = parse_fhir_bundle(
        bundle(
            PATIENT,
            appointment(id="x1", status="teleported"),
            appointment(id="x2", start=None, end=None),
            appointment(id="x3", end=None),
            appointment(id="x4", end=None, minutesDuration=0),
        )
    )
    assert result.records == []
    assert [(e.row, e.field) for e in result.errors] == [
        (2, "status"),
        (3, "start"),
        (4, "end"),
        (5, "minutesDuration"),
    ]


def test_no_patient_participant() -> None:
    only_location = appointment(participant=[{"actor": {"display": "Room 1"}, "status": "accepted"}])
    result = parse_fhir_bundle(bundle(only_location))
    assert result.errors == [RowError(1, "participant", "no Patient participant")]


def test_transaction_and_searchset_bundles_are_accepted() -> None:
    for kind in ("transaction", "searchset"):
        result = parse_fhir_bundle(bundle(PATIENT, appointment(), kind=kind))
        assert [r.external_id for r in result.records] == ["a1"]


def test_identifier_when_no_id_and_version_as_sequence() -> None:
    resource = appointment(identifier=[{"value": "EXT-9"}], meta={"versionId": "12"})
    del resource["id"]
    record = parse_fhir_bundle(bundle(PATIENT, resource)).records[0]
    assert (record.external_id, record.sequence) == ("EXT-9", 12)


@pytest.mark.parametrize(
    "document",
    [
        "",
        "not json",
        "[]",
        '{"resourceType": "Patient"}',
        '{"resourceType": "Bundle", "type": "document"}',
        '{"resourceType": "Bundle", "type": "collection", "entry": {}}',
        '{"resourceType": "Bundle", "type": "collection", "entry": [1]}',
        '{"resourceType": "Bundle", "type": "collection", "total": "many"}',
    ],
)
def test_not_a_usable_bundle_raises_value_error(document: str) -> None:
    with pytest.raises(ValueError):
        parse_fhir_bundle(document)


def test_bytes_with_bom_and_empty_bundle() -> None:
    result = parse_fhir_bundle(b'\xef\xbb\xbf{"resourceType": "Bundle", "type": "collection"}')
    assert (result.records, result.errors) == ([], [])
