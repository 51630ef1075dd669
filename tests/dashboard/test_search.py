"""Search: patients by name, phone, email or date of birth; messages by text through the
full-text index (FTS5 on SQLite, a GIN index on PostgreSQL). Scoped to the practice, audited with
counts only."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from converge.audit.models import AuditEvent
from converge.conversations.models import Message
from converge.core.principal import staff_principal
from converge.patients.models import Patient
from converge.patients.services import contact_point_add, patient_create
from converge.search.schema import ensure_message_index
from converge.search.selectors import fts_terms, message_search, patient_search, search
from tests.dashboard.conftest import HTMX
from tests.helpers import receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def principal(staff):
    return staff_principal(staff)


@pytest.fixture
def ana(practice, staff):
    patient = patient_create(
        practice_id=practice.pk, actor=staff, first_name="Ana", last_name="Reyes-Diaz", date_of_birth=date(1984, 3, 2)
    )
    contact_point_add(patient=patient, actor=staff, kind="sms", address="+1 (555) 201-7788")
    contact_point_add(patient=patient, actor=staff, kind="email", address="ana@example.com")
    return patient


@pytest.mark.parametrize(
    "query",
    [
        "ana",
        "Reyes",
        "diaz",
        "ana rey",
        "+15552017788",
        "(555) 201-7788",
        "7788",
        "ANA@example.com",
        "1984-03-02",
        "03/02/1984",
    ],
)
def test_patient_search_finds_by_name_phone_email_and_birth_date(principal, ana, query):
    assert [p.pk for p in patient_search(principal=principal, query=query)] == [ana.pk]


@pytest.mark.parametrize("query", ["bob", "1999-01-01", "0000", "x@y.z", "12"])
def test_patient_search_misses(principal, ana, query):
    assert patient_search(principal=principal, query=query) == []


def test_merged_and_foreign_patients_are_not_found(principal, ana, other_practice, practice):
    patient_create(practice_id=other_practice.pk, actor=None, first_name="Ana", last_name="Outsider")
    merged = Patient.objects.create(practice=practice, first_name="Ana", last_name="Old", merged_into=ana)
    found = patient_search(principal=principal, query="ana")
    assert [p.pk for p in found] == [ana.pk] and merged.pk not in [p.pk for p in found]


def test_message_search_uses_the_index_and_is_newest_first(principal, sms_channel, whatsapp_channel):
    first = receive(sms_channel, "+15552017700", "Could I get a refill of metformin?").message
    second = receive(whatsapp_channel, "+15552017701", "Refill por favor: metformina").message
    receive(sms_channel, "+15552017702", "unrelated")
    found = message_search(principal=principal, query="refill")
    assert [m.pk for m in found] == [second.pk, first.pk]
    assert [m.pk for m in message_search(principal=principal, query="metf")] == [second.pk, first.pk]  # prefix
    # Every word must match; the last one may be the start of a word.
    assert [m.pk for m in message_search(principal=principal, query="metformin refill")] == [first.pk]
    assert [m.pk for m in message_search(principal=principal, query="could refill")] == [first.pk]
    assert message_search(principal=principal, query="insulin") == []


def test_message_search_is_scoped_to_the_practice(principal, other_practice, sms_channel):
    from converge.connectors.services import simulator_channel_create

    theirs = simulator_channel_create(practice=other_practice, kind="sms")
    receive(theirs, "+15552017700", "secret refill")
    assert message_search(principal=principal, query="secret") == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "refill*",
        "refill OR x",
        "NEAR(refill x)",
        "body:refill",
        "-refill",
        "refill'; DROP TABLE x; --",
        "^refill",
        "(",
        "&|!",
    ],
)
def test_search_operators_in_user_text_are_inert(principal, sms_channel, query):
    receive(sms_channel, "+15552017700", "refill please")
    found = message_search(principal=principal, query=query)  # never raises
    assert all("refill" in m.body for m in found)


def test_fts_terms_strip_syntax():
    assert fts_terms('Refill "NOW" OR near(x)*') == ["refill", "now", "or", "near", "x"]
    assert fts_terms("señora Muñoz") == ["señora", "muñoz"]


def test_index_follows_updates_and_deletes(principal, sms_channel):
    message = receive(sms_channel, "+15552017700", "original words").message
    Message.objects.filter(pk=message.pk).update(body="replacement text")
    assert message_search(principal=principal, query="original") == []
    assert [m.pk for m in message_search(principal=principal, query="replacement")] == [message.pk]
    Message.objects.filter(pk=message.pk).delete()
    assert message_search(principal=principal, query="replacement") == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
def test_lost_triggers_are_restored_and_the_index_rebuilt(principal, sms_channel):
    with connection.cursor() as cursor:
        for name in ("search_message_fts_ai", "search_message_fts_ad", "search_message_fts_au"):
            cursor.execute(f"DROP TRIGGER {name}")
    message = receive(sms_channel, "+15552017700", "written while the index was broken").message
    assert message_search(principal=principal, query="broken") == []
    assert ensure_message_index(connection) is True
    assert [m.pk for m in message_search(principal=principal, query="broken")] == [message.pk]
    assert ensure_message_index(connection) is False


def test_search_is_audited_with_counts_only(principal, ana, sms_channel):
    receive(sms_channel, "+15552017700", "Ana here, refill please")
    results = search(principal=principal, query="ana")
    assert results.total >= 2
    audit = AuditEvent.objects.filter(action="search").latest("id")
    assert audit.detail == {"patients": len(results.patients), "messages": len(results.messages)}
    assert "ana" not in str(audit.detail).lower()


def test_search_page_and_partial(client, ana, sms_channel):
    receive(sms_channel, "+15552017700", "about my refill")
    page = client.get("/search?q=refill").content.decode()
    assert "Results for “refill”" in page and "about my refill" in page and "<html" in page
    partial = client.get("/search?q=Reyes", headers=HTMX).content.decode()
    assert "Ana Reyes-Diaz" in partial and "<html" not in partial
    assert "Type a name" in client.get("/search?q=").content.decode()


def test_names_are_found_without_accents_and_follow_edits(principal, practice, staff):
    maria = patient_create(practice_id=practice.pk, actor=staff, first_name="María José", last_name="Núñez")
    if connection.vendor == "sqlite":  # PostgreSQL's 'simple' configuration keeps accents
        assert [p.pk for p in patient_search(principal=principal, query="maria nunez")] == [maria.pk]
    assert [p.pk for p in patient_search(principal=principal, query="josé")] == [maria.pk]
    Patient.objects.filter(pk=maria.pk).update(last_name="Ortega")
    assert [p.pk for p in patient_search(principal=principal, query="orte")] == [maria.pk]
    assert patient_search(principal=principal, query="núñez") == []
    Patient.objects.filter(pk=maria.pk).delete()
    assert patient_search(principal=principal, query="josé") == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
def test_lost_patient_triggers_are_restored(principal, practice, staff):
    from converge.search.schema import ensure_patient_index

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER search_patient_fts_ai")
    late = patient_create(practice_id=practice.pk, actor=staff, first_name="Zelda", last_name="Late")
    assert patient_search(principal=principal, query="zelda") == []
    assert ensure_patient_index(connection) is True
    assert [p.pk for p in patient_search(principal=principal, query="zelda")] == [late.pk]
