"""converge.core.rows writes and reads model rows exactly as the ORM does, on either database."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from converge.conversations.models import Conversation
from converge.core import clock, rows
from converge.patients.models import ContactPoint, Patient

pytestmark = pytest.mark.django_db


def _fields(instance: object) -> dict[str, object]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}  # type: ignore[attr-defined]


def test_insert_then_read_matches_the_orm(practice) -> None:  # type: ignore[no-untyped-def]
    patient = rows.insert(Patient(practice=practice, is_verified=False, first_name="Ana"))
    assert patient.pk is not None and not patient._state.adding
    contact = rows.insert(
        ContactPoint(
            practice=practice, patient=patient, kind="sms", address="+15552220001", last_inbound_at=clock.now()
        )
    )
    conversation = rows.insert(
        Conversation(
            practice=practice,
            patient=patient,
            last_message_at=clock.now(),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    assert isinstance(conversation.uuid, uuid.UUID)
    for instance in (patient, contact, conversation):
        stored = type(instance).objects.get(pk=instance.pk)
        assert _fields(stored) == _fields(instance)  # defaults and auto_now values were written
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {rows.columns(type(instance), 't')} FROM {rows.table(type(instance))} t WHERE t.id = %s",
                [instance.pk],
            )
            read = rows.instance(type(instance), cursor.fetchone())
        assert _fields(read) == _fields(stored)  # datetimes, booleans, UUIDs and JSON converted alike


def test_update_and_delete(practice) -> None:  # type: ignore[no-untyped-def]
    patient = rows.insert(Patient(practice=practice))
    conversation = rows.insert(
        Conversation(
            practice=practice,
            patient=patient,
            last_message_at=clock.now(),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    conversation.status, conversation.priority = "pending", 3
    rows.update(conversation, ["status", "priority"])
    assert Conversation.objects.values_list("status", "priority").get(pk=conversation.pk) == ("pending", 3)
    with pytest.raises(ValueError, match="not fields of Conversation"):
        rows.update(conversation, ["status", "no_such_field"])
    rows.delete(Conversation, conversation.pk)
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_update_many_gives_each_row_its_own_values_in_one_statement(practice) -> None:  # type: ignore[no-untyped-def]
    patients = [Patient.objects.create(practice=practice, first_name=f"P{i}", last_name="Row") for i in range(3)]
    untouched = Patient.objects.create(practice=practice, first_name="Keep", last_name="Row")
    for i, patient in enumerate(patients):
        patient.first_name, patient.language = f"Renamed {i} 'quoted'", ["en", "es", "en"][i]
    with CaptureQueriesContext(connection) as captured:
        rows.update_many(patients, ["first_name", "language"])
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].upper().startswith("UPDATE")]
    assert len(writes) == 1
    assert [(p.first_name, p.language) for p in Patient.objects.filter(last_name="Row").order_by("id")] == [
        ("Renamed 0 'quoted'", "en"),
        ("Renamed 1 'quoted'", "es"),
        ("Renamed 2 'quoted'", "en"),
        (untouched.first_name, untouched.language),
    ]
    with pytest.raises(ValueError, match="not fields of Patient"):
        rows.update_many(patients, ["no_such_field"])
