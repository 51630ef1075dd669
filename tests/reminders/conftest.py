"""A small practice with a provider, working hours, a visit type and a patient on SMS."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest


@pytest.fixture
def clinic(practice: Any, sms_channel: Any) -> Any:
    from converge.connectors.services import simulator_channel_create
    from converge.practices.models import Location
    from converge.scheduling.models import AppointmentType, Provider, WorkingHours

    location = Location.objects.create(practice=practice, name="Main Street", address="120 Main St")
    provider = Provider.objects.create(practice=practice, display_name="Dr. Patel", location=location)
    for weekday in range(5):
        WorkingHours.objects.create(practice=practice, provider=provider, weekday=weekday, start=time(9), end=time(12))
        WorkingHours.objects.create(practice=practice, provider=provider, weekday=weekday, start=time(13), end=time(17))
    visit = AppointmentType.objects.create(
        practice=practice, name="Follow-up visit", duration_minutes=20, instructions="Bring your medication list."
    )

    class Clinic:
        pass

    c = Clinic()
    c.practice, c.location, c.provider, c.visit, c.sms = practice, location, provider, visit, sms_channel
    c.whatsapp = simulator_channel_create(practice=practice, kind="whatsapp")
    c.email = simulator_channel_create(practice=practice, kind="email")
    return c


def make_patient(
    clinic: Any, phone: str = "+15552010001", language: str = "en", preferred: str = "sms", **kw: Any
) -> Any:
    from converge.patients.models import ContactPoint, Patient

    patient = Patient.objects.create(
        practice=clinic.practice,
        first_name="Ana",
        last_name="Diaz",
        language=language,
        preferred_channel=preferred,
        is_verified=True,
        **kw,
    )
    for kind in ("sms", "whatsapp"):
        ContactPoint.objects.create(
            practice=clinic.practice, patient=patient, kind=kind, address=phone, is_verified=True
        )
    ContactPoint.objects.create(
        practice=clinic.practice, patient=patient, kind="email", address=f"p{phone[-4:]}@mail.example", is_verified=True
    )
    return patient


@pytest.fixture
def patient(clinic: Any) -> Any:
    return make_patient(clinic)
