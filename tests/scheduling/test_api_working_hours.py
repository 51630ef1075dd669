"""The API refuses a time outside the provider's working hours with a message
that names them, and takes an explicit override with a reason, which the audit row keeps."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.practices.services import api_token_create
from converge.scheduling.models import Appointment
from tests.reminders.conftest import clinic, make_patient  # noqa: F401 -- shared fixtures
from tests.scheduling.hours_scaffold import (  # noqa: F401 -- shared fixtures
    MONDAY_9AM,
    NY,
    SATURDAY,
    THURSDAY,
    UTC,
    ana,
    at,
    book,
    frozen,
)

# The API ------------------------------------------------------------------------------------


@pytest.fixture
def api(clinic):
    _token, secret = api_token_create(practice=clinic.practice, name="tests")
    return Client(headers={"Authorization": f"Bearer {secret}"})


def post(api, url, payload, method="post"):
    return getattr(api, method)(url, data=json.dumps(payload), content_type="application/json")


@pytest.mark.django_db
def test_api_refuses_outside_hours_and_accepts_an_explicit_override(api, clinic, ana, frozen):
    body = {
        "patient_id": ana.pk,
        "provider_id": clinic.provider.pk,
        "appointment_type_id": clinic.visit.pk,
        "start": at(SATURDAY, 10).isoformat(),
    }
    refused = post(api, "/api/v1/appointments", body)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "outside Dr. Patel's working hours (not working Sat)" in detail
    assert "send override_hours=true with override_reason to book anyway" in detail
    assert not Appointment.objects.filter(patient=ana).exists()
    no_reason = post(api, "/api/v1/appointments", {**body, "override_hours": True})
    assert no_reason.status_code == 400 and "override_reason" in no_reason.json()["detail"]
    booked = post(api, "/api/v1/appointments", {**body, "override_hours": True, "override_reason": "Saturday clinic"})
    assert booked.status_code == 201, booked.content
    event = AuditEvent.objects.get(action="appointment.book", object_id=str(booked.json()["id"]))
    assert event.detail["override_reason"] == "Saturday clinic" and event.detail["source"] == "api"
    url = f"/api/v1/appointments/{booked.json()['id']}"
    moved = post(api, url, {"start": at(SATURDAY, 11).isoformat()}, method="patch")
    assert moved.status_code == 409 and "override_hours=true" in moved.json()["detail"]
    moved = post(
        api,
        url,
        {"start": at(SATURDAY, 11).isoformat(), "override_hours": True, "override_reason": "still Saturday"},
        method="patch",
    )
    assert moved.status_code == 200 and datetime.fromisoformat(moved.json()["start"]) == at(SATURDAY, 11)
    inside = post(api, url, {"start": at(THURSDAY, 9).isoformat()}, method="patch")
    assert inside.status_code == 200
