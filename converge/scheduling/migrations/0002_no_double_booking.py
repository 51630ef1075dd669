"""No two active appointments of one provider may overlap (buffers included).

PostgreSQL: an exclusion constraint over tstzrange(start, blocked_until), which holds under
concurrent transactions. SQLite: triggers; SQLite serialises writers, so a check inside the
writing transaction is race-free there.
"""

from django.db import migrations

ACTIVE = "('booked', 'confirmed', 'checked_in')"

POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    f"""ALTER TABLE scheduling_appointment ADD CONSTRAINT appointment_no_overlap
        EXCLUDE USING gist (provider_id WITH =, tstzrange(start, blocked_until, '[)') WITH &&)
        WHERE (status IN {ACTIVE})""",
]
POSTGRES_DOWN = ["ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap"]

_SQLITE_CHECK = f"""
    WHEN NEW.status IN {ACTIVE} AND EXISTS (
        SELECT 1 FROM scheduling_appointment other
        WHERE other.provider_id = NEW.provider_id
          AND other.id != NEW.id
          AND other.status IN {ACTIVE}
          AND other.start < NEW.blocked_until
          AND NEW.start < other.blocked_until)
    BEGIN SELECT RAISE(ABORT, 'appointment_no_overlap: provider already booked'); END"""
SQLITE_UP = [
    f"CREATE TRIGGER appointment_no_overlap_insert BEFORE INSERT ON scheduling_appointment {_SQLITE_CHECK}",
    f"CREATE TRIGGER appointment_no_overlap_update BEFORE UPDATE ON scheduling_appointment {_SQLITE_CHECK}",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS appointment_no_overlap_insert",
    "DROP TRIGGER IF EXISTS appointment_no_overlap_update",
]


def _run(statements_by_vendor):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
