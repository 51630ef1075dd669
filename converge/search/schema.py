"""Full-text indexes for search, per database vendor: message bodies, and patient names.

SQLite: FTS5 external-content tables over conversations_message and patients_patient, kept in
step by triggers (the tables store only the index, not a second copy of the text);
`remove_diacritics` makes "maria" find "María". PostgreSQL: GIN indexes on
to_tsvector('simple', ...); 'simple' because patients write in English and Spanish and stemming
one language would mangle the other.

Django rebuilds a SQLite table (new table, copy, drop, rename) for some schema changes, which
drops its triggers; the `ensure_*_index` functions run after every migrate and restore them (and
re-indexes) when they are missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FTS_TABLE = "search_message_fts"
PATIENT_FTS_TABLE = "search_patient_fts"
PG_INDEX = "search_message_body_tsv"
PG_PATIENT_INDEX = "search_patient_name_tsv"
TEAM_FTS_TABLE = "search_teammessage_fts"
PG_TEAM_INDEX = "search_teammessage_body_tsv"
# The expression the PostgreSQL name index is built on; queries must repeat it exactly.
PG_PATIENT_VECTOR = "to_tsvector('simple', first_name || ' ' || last_name)"


@dataclass(frozen=True)
class FtsTable:
    name: str
    create: str
    triggers: dict[str, str]


# Constant SQL only: no user input is ever formatted into these statements.
MESSAGE_FTS = FtsTable(
    name="search_message_fts",
    create=(
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_message_fts USING fts5("
        "body, content='conversations_message', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    ),
    triggers={
        "search_message_fts_ai": """
            CREATE TRIGGER IF NOT EXISTS search_message_fts_ai AFTER INSERT ON conversations_message BEGIN
                INSERT INTO search_message_fts(rowid, body) VALUES (new.id, new.body);
            END""",
        "search_message_fts_ad": """
            CREATE TRIGGER IF NOT EXISTS search_message_fts_ad AFTER DELETE ON conversations_message BEGIN
                INSERT INTO search_message_fts(search_message_fts, rowid, body) VALUES ('delete', old.id, old.body);
            END""",
        "search_message_fts_au": """
            CREATE TRIGGER IF NOT EXISTS search_message_fts_au AFTER UPDATE OF body ON conversations_message BEGIN
                INSERT INTO search_message_fts(search_message_fts, rowid, body) VALUES ('delete', old.id, old.body);
                INSERT INTO search_message_fts(rowid, body) VALUES (new.id, new.body);
            END""",
    },
)

PATIENT_FTS = FtsTable(
    name="search_patient_fts",
    create=(
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_patient_fts USING fts5("
        "first_name, last_name, content='patients_patient', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    ),
    triggers={
        "search_patient_fts_ai": """
            CREATE TRIGGER IF NOT EXISTS search_patient_fts_ai AFTER INSERT ON patients_patient BEGIN
                INSERT INTO search_patient_fts(rowid, first_name, last_name)
                VALUES (new.id, new.first_name, new.last_name);
            END""",
        "search_patient_fts_ad": """
            CREATE TRIGGER IF NOT EXISTS search_patient_fts_ad AFTER DELETE ON patients_patient BEGIN
                INSERT INTO search_patient_fts(search_patient_fts, rowid, first_name, last_name)
                VALUES ('delete', old.id, old.first_name, old.last_name);
            END""",
        "search_patient_fts_au": """
            CREATE TRIGGER IF NOT EXISTS search_patient_fts_au AFTER UPDATE OF first_name, last_name
            ON patients_patient BEGIN
                INSERT INTO search_patient_fts(search_patient_fts, rowid, first_name, last_name)
                VALUES ('delete', old.id, old.first_name, old.last_name);
                INSERT INTO search_patient_fts(rowid, first_name, last_name)
                VALUES (new.id, new.first_name, new.last_name);
            END""",
    },
)

# Team messages (converge/teamchat) are searched the same way as patient messages; a deleted
# one has its body emptied, which the update trigger takes out of the index.
TEAM_MESSAGE_FTS = FtsTable(
    name="search_teammessage_fts",
    create=(
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_teammessage_fts USING fts5("
        "body, content='teamchat_teammessage', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    ),
    triggers={
        "search_teammessage_fts_ai": """
            CREATE TRIGGER IF NOT EXISTS search_teammessage_fts_ai AFTER INSERT ON teamchat_teammessage BEGIN
                INSERT INTO search_teammessage_fts(rowid, body) VALUES (new.id, new.body);
            END""",
        "search_teammessage_fts_ad": """
            CREATE TRIGGER IF NOT EXISTS search_teammessage_fts_ad AFTER DELETE ON teamchat_teammessage BEGIN
                INSERT INTO search_teammessage_fts(search_teammessage_fts, rowid, body)
                VALUES ('delete', old.id, old.body);
            END""",
        "search_teammessage_fts_au": """
            CREATE TRIGGER IF NOT EXISTS search_teammessage_fts_au AFTER UPDATE OF body ON teamchat_teammessage BEGIN
                INSERT INTO search_teammessage_fts(search_teammessage_fts, rowid, body)
                VALUES ('delete', old.id, old.body);
                INSERT INTO search_teammessage_fts(rowid, body) VALUES (new.id, new.body);
            END""",
    },
)

_REBUILD = {
    "search_message_fts": "INSERT INTO search_message_fts(search_message_fts) VALUES ('rebuild')",
    "search_patient_fts": "INSERT INTO search_patient_fts(search_patient_fts) VALUES ('rebuild')",
    "search_teammessage_fts": "INSERT INTO search_teammessage_fts(search_teammessage_fts) VALUES ('rebuild')",
}

_PG_INDEXES = {
    PG_INDEX: "CREATE INDEX IF NOT EXISTS search_message_body_tsv ON conversations_message "
    "USING GIN (to_tsvector('simple', body))",
    PG_PATIENT_INDEX: "CREATE INDEX IF NOT EXISTS search_patient_name_tsv ON patients_patient "
    "USING GIN (to_tsvector('simple', first_name || ' ' || last_name))",
    PG_TEAM_INDEX: "CREATE INDEX IF NOT EXISTS search_teammessage_body_tsv ON teamchat_teammessage "
    "USING GIN (to_tsvector('simple', body))",
}


def ensure_message_index(connection: Any) -> bool:
    """Create the message-body index (on SQLite with its triggers) if missing. Returns True when
    it had to (re)build anything."""
    return _ensure(connection, MESSAGE_FTS, PG_INDEX)


def ensure_patient_index(connection: Any) -> bool:
    return _ensure(connection, PATIENT_FTS, PG_PATIENT_INDEX)


def ensure_team_message_index(connection: Any) -> bool:
    return _ensure(connection, TEAM_MESSAGE_FTS, PG_TEAM_INDEX)


def _ensure(connection: Any, table: FtsTable, pg_index: str) -> bool:
    if connection.vendor == "sqlite":
        return _ensure_sqlite(connection, table)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [pg_index])
            if cursor.fetchone():
                return False
            cursor.execute(_PG_INDEXES[pg_index])
        return True
    return False


def _ensure_sqlite(connection: Any, table: FtsTable) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE %s", [table.name + "%"]
        )
        present = {row[0] for row in cursor.fetchall()}
        missing = [name for name in table.triggers if name not in present]
        if table.name in present and not missing:
            return False
        cursor.execute(table.create)
        for name in missing:
            cursor.execute(table.triggers[name])
        # Rows written while the triggers were missing are not in the index: rebuild it whole.
        cursor.execute(_REBUILD[table.name])
    return True


def drop_message_index(connection: Any) -> None:
    _drop(connection, MESSAGE_FTS, "DROP INDEX IF EXISTS search_message_body_tsv")


def drop_patient_index(connection: Any) -> None:
    _drop(connection, PATIENT_FTS, "DROP INDEX IF EXISTS search_patient_name_tsv")


def drop_team_message_index(connection: Any) -> None:
    _drop(connection, TEAM_MESSAGE_FTS, "DROP INDEX IF EXISTS search_teammessage_body_tsv")


def _drop(connection: Any, table: FtsTable, pg_drop: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in table.triggers:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {table.name}")
        elif connection.vendor == "postgresql":
            cursor.execute(pg_drop)
