"""Neutral appointment records that every import format is turned into.

The parsers only translate; the database upsert (keyed by ``source`` + ``external_id``) lives
elsewhere and relies on the invariants checked in ``AppointmentRecord.__post_init__``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

SOURCES = frozenset({"csv", "ical", "fhir", "hl7"})
STATUSES = frozenset({"booked", "confirmed", "cancelled", "no_show", "checked_in", "completed"})


@dataclass(frozen=True)
class PatientRecord:
    external_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    phone: str  # E.164, or "" when unknown
    email: str
    language: str  # lower-case ISO 639-1 code ("en", "es"), or "" when unknown


@dataclass(frozen=True)
class AppointmentRecord:
    source: str  # "csv" | "ical" | "fhir" | "hl7"
    external_id: str  # stable id in the source system
    status: str  # one of STATUSES
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    patient: PatientRecord
    provider_name: str
    provider_external_id: str
    location_name: str
    appointment_type: str
    sequence: int = 0  # ICS SEQUENCE / HL7 event order: a higher value supersedes a lower one
    row: int | None = None  # 1-based source row/record, for reports

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if not self.external_id:
            raise ValueError("external_id is empty")
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None or value.utcoffset() != timedelta(0):
                raise ValueError(f"{name} must be an aware UTC datetime")
        if self.end <= self.start:
            raise ValueError("end must be after start")


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based: CSV row (header = 1), VEVENT, Bundle entry or HL7 message number
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field}: {self.message}"


@dataclass
class ParseResult:
    records: list[AppointmentRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    format: str = ""
