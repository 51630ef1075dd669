"""Importing appointments from other systems: parsed records upserted by (source, external id).

Each record is applied in its own savepoint, so a record that fails (e.g. it would double-book)
is reported and leaves nothing behind, while good records import. Re-importing the same file
changes nothing: rows are compared before they are written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.patients.addresses import InvalidAddress, normalize_email
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Location, Practice
from converge.scheduling.importers import AppointmentRecord, ParseResult, PatientRecord, RowError
from converge.scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentType, Provider
from converge.scheduling.services import BookingError, appointment_book, appointment_move, appointment_set_status

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    format: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len({e.row for e in self.errors})

    def summary(self) -> str:
        return (
            f"{self.format}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} rejected"
        )


class _Lookups:
    """Per-import caches so a thousand rows do not mean a thousand provider lookups."""

    def __init__(self, practice: Practice) -> None:
        self.practice = practice
        self.providers: dict[str, Provider] = {}
        self.locations: dict[str, Location] = {}
        self.types: dict[str, AppointmentType] = {}

    def provider(self, name: str, external_id: str) -> Provider:
        name = name.strip() or "Unassigned"
        key = external_id or name.lower()
        if key not in self.providers:
            qs = Provider.objects.filter(practice=self.practice)
            found = (qs.filter(external_id=external_id).first() if external_id else None) or (
                qs.filter(display_name__iexact=name).first()
            )
            if found is None:
                found = Provider.objects.create(
                    practice=self.practice, display_name=name[:120], external_id=external_id
                )
            self.providers[key] = found
        return self.providers[key]

    def location(self, name: str) -> Location | None:
        name = name.strip()
        if not name:
            return None
        if name.lower() not in self.locations:
            found = Location.objects.filter(practice=self.practice, name__iexact=name).first()
            self.locations[name.lower()] = found or Location.objects.create(practice=self.practice, name=name[:200])
        return self.locations[name.lower()]

    def appointment_type(self, name: str, minutes: int) -> AppointmentType | None:
        name = name.strip()
        if not name:
            return None
        if name.lower() not in self.types:
            found = AppointmentType.objects.filter(practice=self.practice, name__iexact=name).first()
            self.types[name.lower()] = found or AppointmentType.objects.create(
                practice=self.practice, name=name[:100], duration_minutes=minutes
            )
        return self.types[name.lower()]


def _patient(practice: Practice, record: PatientRecord, actor: Any) -> Patient:
    patient = None
    if record.external_id:
        patient = Patient.objects.filter(practice=practice, external_id=record.external_id).first()
    if patient is None and record.phone:
        contact = (
            ContactPoint.objects.filter(practice=practice, kind="sms", address=record.phone)
            .select_related("patient")
            .first()
        )
        if contact is not None and contact.patient.last_name.lower() == record.last_name.lower():
            patient = contact.patient
    if patient is None:
        patient = Patient.objects.create(
            practice=practice,
            first_name=record.first_name[:100],
            last_name=record.last_name[:100],
            date_of_birth=record.date_of_birth,
            language=record.language if record.language in ("en", "es") else "en",
            external_id=record.external_id[:100],
            is_verified=True,
        )
        audit_record(practice_id=practice.pk, actor=actor, action="patient.import", obj=patient, patient_id=patient.pk)
    addresses: list[tuple[str, str]] = []
    if record.phone:
        addresses.append(("sms", record.phone))
    if record.email:
        with contextlib.suppress(InvalidAddress):
            addresses.append(("email", normalize_email(record.email)))
    for kind, address in addresses:
        if not ContactPoint.objects.filter(practice=practice, kind=kind, address=address).exists():
            ContactPoint.objects.create(
                practice=practice, patient=patient, kind=kind, address=address, is_verified=True
            )
    if not patient.preferred_channel and addresses:
        patient.preferred_channel = addresses[0][0]
        patient.save(update_fields=["preferred_channel"])
    return patient


def _apply(practice: Practice, record: AppointmentRecord, lookups: _Lookups, actor: Any) -> str:
    """Returns "created", "updated" or "unchanged"."""
    existing = Appointment.objects.filter(
        practice=practice, source=record.source, external_id=record.external_id
    ).first()
    provider = lookups.provider(record.provider_name, record.provider_external_id)
    minutes = max(1, int((record.end - record.start).total_seconds() // 60))
    kind = lookups.appointment_type(record.appointment_type, minutes)
    location = lookups.location(record.location_name)
    if existing is None:
        if record.status in ("cancelled",):
            return "unchanged"  # nothing to create for a visit that was never on our books
        patient = _patient(practice, record.patient, actor)
        appointment = appointment_book(
            patient=patient,
            provider=provider,
            start=record.start,
            appointment_type=kind,
            location=location,
            duration=record.end - record.start,
            actor=actor,
            source=record.source,
            external_id=record.external_id,
            check_hours=False,  # the source system holds this visit already, whatever our hours say
        )
        if record.status != "booked":
            appointment_set_status(appointment=appointment, status=record.status, actor=actor, reason="import")
        return "created"
    changed = False
    if existing.status in ACTIVE_STATUSES and (existing.start != record.start or existing.provider_id != provider.pk):
        appointment_move(appointment=existing, start=record.start, provider=provider, actor=actor, check_hours=False)
        changed = True
    if record.status != existing.status and not (record.status == "booked" and existing.status == "confirmed"):
        # A source saying "booked" must not undo a confirmation the patient gave us.
        appointment_set_status(appointment=existing, status=record.status, actor=actor, reason="import")
        changed = True
    return "updated" if changed else "unchanged"


def import_records(
    *,
    practice: Practice,
    result: ParseResult,
    actor: Any = "import",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    report = ImportReport(format=result.format, errors=list(result.errors))
    lookups = _Lookups(practice)
    # Source order: an HL7 S12 followed by an S15 for the same visit ends cancelled.
    records = sorted(result.records, key=lambda r: r.row or 0)
    total = len(records)
    for index, record in enumerate(records, 1):
        try:
            with transaction.atomic():
                outcome = _apply(practice, record, lookups, actor)
        except BookingError as exc:
            report.errors.append(RowError(record.row or index, "start", str(exc)))
        except (IntegrityError, ValueError) as exc:
            log.warning("import row failed row=%s error=%s", record.row, type(exc).__name__)
            report.errors.append(RowError(record.row or index, "record", "could not be stored"))
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)
        if progress is not None:
            progress(index, total)
    audit_record(
        practice_id=practice.pk,
        actor=actor,
        action="appointments.import",
        detail={
            "format": result.format,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.failed,
        },
    )
    report.errors.sort(key=lambda e: (e.row, e.field))
    return report
