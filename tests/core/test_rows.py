"""converge.core.rows writes and reads model rows exactly as the ORM does, on either database."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

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
