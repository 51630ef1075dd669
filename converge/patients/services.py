"""Writes on patients and their contact points."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.core import clock
from converge.patients.addresses import InvalidAddress, normalize_address
from converge.patients.models import ContactPoint, Language, Patient


class PatientError(ValueError):
    """Bad patient input; the message names the field."""


PATIENT_FIELDS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "language",
    "preferred_channel",
    "time_zone",
    "external_id",
)


def _validate(fields: dict[str, Any]) -> None:
    if "language" in fields and fields["language"] not in Language.values:
        raise PatientError(f"language: must be one of {', '.join(Language.values)}")
    if "date_of_birth" in fields and fields["date_of_birth"] is not None:
        dob = fields["date_of_birth"]
        if not isinstance(dob, date) or dob > clock.now().date() or dob.year < 1900:
            raise PatientError("date_of_birth: must be a past date")
    for name in ("first_name", "last_name"):
        if name in fields and len(str(fields[name])) > 100:
            raise PatientError(f"{name}: at most 100 characters")


def patient_create(*, practice_id: int, actor: Any, **fields: Any) -> Patient:
    unknown = set(fields) - set(PATIENT_FIELDS)
    if unknown:
        raise PatientError(f"unknown field {sorted(unknown)[0]}")
    _validate(fields)
    with transaction.atomic():
        patient = Patient.objects.create(practice_id=practice_id, is_verified=True, **fields)
        audit_record(
            practice_id=practice_id,
            actor=actor,
            action="patient.create",
            obj=patient,
            patient_id=patient.pk,
        )
    return patient


def patient_update(*, patient: Patient, actor: Any, **fields: Any) -> Patient:
    unknown = set(fields) - set(PATIENT_FIELDS)
    if unknown:
        raise PatientError(f"unknown field {sorted(unknown)[0]}")
    _validate(fields)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(patient, name, value)
        if fields.get("first_name") or fields.get("last_name"):
            patient.is_verified = True
        patient.save(update_fields=[*fields, "is_verified", "updated_at"])
        audit_record(
            practice_id=patient.practice_id,
            actor=actor,
            action="patient.update",
            obj=patient,
            patient_id=patient.pk,
            detail={"fields": sorted(fields)},
        )
    return patient


def contact_point_add(*, patient: Patient, actor: Any, kind: str, address: str, consent: bool = False) -> ContactPoint:
    try:
        normalized = normalize_address(kind, address)
    except InvalidAddress as exc:
        raise PatientError(f"address: {exc}") from None
    try:
        with transaction.atomic():
            contact = ContactPoint.objects.create(
                practice_id=patient.practice_id,
                patient=patient,
                kind=kind,
                address=normalized,
                is_verified=True,
                consent_at=clock.now() if consent else None,
            )
            audit_record(
                practice_id=patient.practice_id,
                actor=actor,
                action="contact_point.add",
                obj=contact,
                patient_id=patient.pk,
                detail={"kind": kind},
            )
    except IntegrityError:
        raise PatientError(f"address: this {kind} address already belongs to a patient") from None
    return contact


def contact_point_update(
    *, contact: ContactPoint, actor: Any, opted_out: bool | None = None, consent: bool | None = None
) -> ContactPoint:
    now = clock.now()
    fields = []
    with transaction.atomic():
        if opted_out is not None:
            contact.opted_out_at = now if opted_out else None
            fields.append("opted_out_at")
        if consent is not None:
            contact.consent_at = now if consent else None
            fields.append("consent_at")
        if fields:
            contact.save(update_fields=fields)
            audit_record(
                practice_id=contact.practice_id,
                actor=actor,
                action="contact_point.update",
                obj=contact,
                patient_id=contact.patient_id,
                detail={"opted_out": opted_out, "consent": consent},
            )
    return contact
