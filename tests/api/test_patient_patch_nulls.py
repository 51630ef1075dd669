"""PATCH /api/v1/patients/{id} with null for a field the record cannot leave empty: 422 naming the
field, nothing stored (it was an IntegrityError, a 500)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from converge.patients.models import Patient


@pytest.fixture
def patient(practice):
    return Patient.objects.create(practice=practice, first_name="Ana", last_name="Ruiz", external_id="MRN-1")


@pytest.mark.parametrize("field", ["first_name", "last_name", "preferred_channel", "external_id", "language"])
def test_null_is_refused_with_the_field_named(api_token, patient, field):
    response = Client().patch(
        f"/api/v1/patients/{patient.pk}",
        data=json.dumps({field: None}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_token}",
    )
    assert response.status_code == 422, response.content
    assert field in response.content.decode()
    patient.refresh_from_db()
    assert (patient.first_name, patient.last_name, patient.external_id) == ("Ana", "Ruiz", "MRN-1")


def test_date_of_birth_may_be_cleared_and_other_fields_still_patch(api_token, patient):
    response = Client().patch(
        f"/api/v1/patients/{patient.pk}",
        data=json.dumps({"date_of_birth": None, "last_name": "Ruiz Soto"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_token}",
    )
    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert patient.last_name == "Ruiz Soto" and patient.date_of_birth is None
