from __future__ import annotations

import contextlib

from django.db.models import Q
from django.http import Http404

from converge.audit.services import audit_record
from converge.core.principal import Principal
from converge.patients.addresses import InvalidAddress, normalize_email, normalize_phone
from converge.patients.models import ContactPoint, Patient


def patient_get(*, principal: Principal, patient_id: int, audit: bool = True) -> Patient:
    patient = Patient.objects.filter(practice_id=principal.practice_id, pk=patient_id).first()
    if patient is None:
        raise Http404("patient not found")
    if audit:
        audit_record(
            practice_id=principal.practice_id,
            actor=principal.actor,
            action="patient.read",
            obj=patient,
            patient_id=patient.pk,
            ip=principal.ip,
        )
    return patient


def patient_list(*, principal: Principal, query: str = "", limit: int = 50, offset: int = 0) -> list[Patient]:
    qs = Patient.objects.filter(practice_id=principal.practice_id, merged_into__isnull=True)
    query = query.strip()
    if query:
        address_match = Q()
        for normalize in (normalize_phone, normalize_email):
            with contextlib.suppress(InvalidAddress):
                address_match |= Q(contact_points__address=normalize(query))
        words = query.split()
        name_match = Q()
        for word in words:
            name_match &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
        qs = qs.filter(name_match | address_match if address_match else name_match).distinct()
    patients = list(qs.order_by("last_name", "first_name", "id")[offset : offset + limit])
    if query:
        audit_record(
            practice_id=principal.practice_id,
            actor=principal.actor,
            action="patient.search",
            detail={"results": len(patients)},
            ip=principal.ip,
        )
    return patients


def contact_points_of(patient: Patient) -> list[ContactPoint]:
    return list(ContactPoint.objects.filter(practice_id=patient.practice_id, patient=patient).order_by("kind", "id"))


def contact_point_get(*, principal: Principal, contact_id: int) -> ContactPoint:
    contact = ContactPoint.objects.filter(practice_id=principal.practice_id, pk=contact_id).first()
    if contact is None:
        raise Http404("contact point not found")
    return contact
