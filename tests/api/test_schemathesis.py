"""Hostile input against the JSON API, generated from its own OpenAPI document (schemathesis).

Every operation is called with a valid practice token against a seeded practice (patients with
contact points, conversations with messages, a provider with working hours, an appointment type,
an appointment, a team), with generated valid and invalid input. Path ids are drawn from the
seeded objects half of the time, so the operations get past "not found". The checks:

* no answer is a 5xx;
* every answer's status code is one the operation documents, with a body of the documented
  shape and content type;
* input the schema forbids is refused with a 4xx (the API is as strict as its schema);
* input the schema allows is never refused as invalid (422): the schema is as permissive as the
  API (enums, ranges and formats are documented; 400 is kept for rules it cannot state).

The schemathesis pytest plugin (@schema.parametrize) does not run under pytest 9.2, so each
operation is a plain parametrized test drawing cases from schemathesis's Hypothesis strategy.

CI runs it on SQLite and PostgreSQL, derandomized so a run is reproducible. Raise the number of
examples per operation with CONVERGE_SCHEMATHESIS_EXAMPLES (e.g. 500 for a nightly run)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

MAX_EXAMPLES = int(os.environ.get("CONVERGE_SCHEMATHESIS_EXAMPLES", "25"))

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
)


def _load() -> Any:
    """The document the app serves at /api/v1/openapi.json (test_the_served_document_is_the_one_tested)."""
    from converge.api.v1 import api

    config = schemathesis.Config.from_dict(
        {
            "generation": {"deterministic": True},
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # Schema-valid input may be refused by a rule the schema cannot state (400: an id
                # in the body that names nothing, an end before the start, a date of birth in
                # the future; each operation's description says which) or by the current state
                # (404, 409), but never as invalid: 422 means "does not match the document".
                "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409"]},
            },
        }
    )
    return schemathesis.openapi.from_dict(api.get_openapi_schema(), config=config)


SCHEMA = _load()
OPERATIONS = [(op.method.upper(), op.path) for op in (result.ok() for result in SCHEMA.get_all_operations())]


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """Django's WSGI app, which schemathesis calls directly. Django's own test client stops
    request_started/finished from closing the database connection (which would end the test's
    transaction); do the same here."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(practice: Any, sms_channel: Any, staff: Any) -> dict[str, list[Any]]:
    """Objects for the path ids to name: patients with contact points, conversations with
    messages, a provider working around the clock, a visit type, a booked appointment."""
    from converge.conversations.models import Message
    from converge.core import clock
    from converge.patients.models import ContactPoint, Patient
    from converge.scheduling.models import AppointmentType, Provider, WorkingHours
    from converge.scheduling.services import appointment_book
    from tests.helpers import receive

    conversations = [
        receive(sms_channel, f"+1555201880{n}", f"Can I move my appointment? ({n})").message.conversation
        for n in range(2)
    ]
    patient = Patient.objects.create(practice=practice, first_name="Ana", last_name="Ruiz", external_id="MRN-1")
    ContactPoint.objects.create(practice=practice, patient=patient, kind="sms", address="+15552018899")
    provider = Provider.objects.create(practice=practice, display_name="Dr. Patel")
    for weekday in range(7):
        WorkingHours.objects.create(
            practice=practice, provider=provider, weekday=weekday, start=time(0), end=time(23, 59)
        )
    visit = AppointmentType.objects.create(practice=practice, name="Visit", duration_minutes=20)
    start = clock.now().replace(minute=0, second=0, microsecond=0) + clock.timedelta(days=2)
    appointment = appointment_book(patient=patient, provider=provider, start=start, appointment_type=visit)
    patients = [patient.pk, *(c.patient_id for c in conversations)]
    return {
        "conversation_id": [c.pk for c in conversations],
        "patient_id": patients,
        "contact_id": list(ContactPoint.objects.filter(patient_id__in=patients).values_list("pk", flat=True)),
        "appointment_id": [appointment.pk],
        "message_id": list(Message.objects.filter(conversation__in=conversations).values_list("pk", flat=True)),
    }


def _aim_at_seeded(data: st.DataObject, case: Any, seeded: dict[str, list[Any]]) -> None:
    """In a valid case, name a seeded object half of the time instead of the generated id."""
    for name, value in (case.path_parameters or {}).items():
        if seeded.get(name) and isinstance(value, int):
            case.path_parameters[name] = data.draw(st.sampled_from([value, *seeded[name]]), label=name)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_survives_hostile_input(
    method: str, path: str, mode: GenerationMode, api_token: str, seeded: Any, wsgi_app: Any
) -> None:
    operation = SCHEMA[path][method]
    headers = {"Authorization": f"Bearer {api_token}"}

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode), label="case")
        if mode is GenerationMode.POSITIVE:
            _aim_at_seeded(data, case, seeded)
        response = case.call(app=wsgi_app, headers=headers)
        case.validate_response(response, headers=headers, transport_kwargs={"app": wsgi_app, "headers": headers})

    run()


@pytest.mark.django_db
def test_the_served_document_is_the_one_tested(client: Any) -> None:
    served = client.get("/api/v1/openapi.json").json()
    assert served == SCHEMA.raw_schema
    assert len(OPERATIONS) == sum(len(ops) for ops in served["paths"].values())
