from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from converge.audit.models import AuditEvent
from converge.audit.services import audit_record, audit_seal, audit_verify

pytestmark = pytest.mark.django_db(transaction=True)


def write(n: int, practice_id: int = 1) -> None:
    for i in range(n):
        audit_record(practice_id=practice_id, actor=None, action="test.write", detail={"i": i})


def raw(sql: str, params: tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def drop_guards() -> None:
    """What an attacker with database access would do first."""
    if connection.vendor == "postgresql":
        raw("DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent")
    else:
        raw("DROP TRIGGER IF EXISTS audit_sealed_immutable")


def restore_guards() -> None:
    from importlib import import_module

    migration = import_module("converge.audit.migrations.0002_append_only_triggers")
    statements = migration.POSTGRES_UP if connection.vendor == "postgresql" else migration.SQLITE_UP
    for statement in statements:
        if "CREATE TRIGGER audit_append_only" in statement:
            raw("DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent")
        raw(statement)


@pytest.fixture
def sealed():
    write(10)
    assert audit_seal() == 10
    yield list(AuditEvent.objects.order_by("chain_index"))
    restore_guards()


def test_seal_links_rows_in_order(sealed):
    assert [row.chain_index for row in sealed] == list(range(1, 11))
    assert all(sealed[i].prev_hash == sealed[i - 1].hash for i in range(1, 10))
    result = audit_verify()
    assert result.ok and result.checked == 10


def test_sealing_is_incremental(sealed):
    write(3)
    assert audit_seal() == 3
    assert audit_verify().checked == 13


def test_database_refuses_changes_to_sealed_rows(sealed):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=sealed[0].pk).update(action="tampered")


def test_changed_row_is_detected(sealed):
    drop_guards()
    raw("UPDATE audit_auditevent SET action = 'tampered' WHERE id = %s", (sealed[4].pk,))
    result = audit_verify()
    assert not result.ok
    assert result.row_id == sealed[4].pk
    assert "changed" in result.problem


def test_removed_row_is_detected(sealed):
    drop_guards()
    raw("DELETE FROM audit_auditevent WHERE id = %s", (sealed[3].pk,))
    result = audit_verify()
    assert not result.ok
    assert result.row_id == sealed[4].pk
    assert "missing" in result.problem


def test_reordered_rows_are_detected(sealed):
    drop_guards()
    a, b = sealed[2], sealed[6]
    raw("UPDATE audit_auditevent SET chain_index = -1 WHERE id = %s", (a.pk,))
    raw("UPDATE audit_auditevent SET chain_index = %s WHERE id = %s", (a.chain_index, b.pk))
    raw("UPDATE audit_auditevent SET chain_index = %s WHERE id = %s", (b.chain_index, a.pk))
    result = audit_verify()
    assert not result.ok
    assert result.row_id == b.pk


def test_cli_verify_exit_codes(sealed, capsys):
    from converge.cli import main

    assert main(["audit", "verify"]) == 0
    assert "10 rows verified" in capsys.readouterr().out
    drop_guards()
    raw("UPDATE audit_auditevent SET detail = '{\"i\": 99}' WHERE id = %s", (sealed[1].pk,))
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"row id {sealed[1].pk}" in out
