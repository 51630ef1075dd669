"""Refuse changes to sealed audit rows at the database level (and deletes on PostgreSQL unless a
retention purge explicitly allows them in its own transaction)."""

from django.db import migrations

SQLITE_UP = [
    """CREATE TRIGGER IF NOT EXISTS audit_sealed_immutable BEFORE UPDATE ON audit_auditevent
       WHEN OLD.chain_index IS NOT NULL
       BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END""",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_sealed_immutable"]

POSTGRES_UP = [
    """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           IF current_setting('converge.audit_purge', true) = 'on' THEN RETURN OLD; END IF;
           RAISE EXCEPTION 'audit rows are append-only';
         END IF;
         IF OLD.chain_index IS NOT NULL THEN
           RAISE EXCEPTION 'audit rows are append-only';
         END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
       FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent",
    "DROP FUNCTION IF EXISTS audit_append_only()",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
