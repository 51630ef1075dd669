"""Search for staff: patients by name, phone, email or date of birth, and messages by text.
Always scoped to the principal's practice; every search writes one audit row that records how
many results it returned, never what was searched for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, Prefetch, Q
from django.db.models.expressions import OrderBy, RawSQL

from converge.audit.services import audit_record
from converge.conversations.models import STAFF_PAGE_KIND, Message
from converge.conversations.selectors import scoped as visible_conversations
from converge.core.principal import Principal
from converge.patients.addresses import InvalidAddress, normalize_email, normalize_phone
from converge.patients.models import ContactPoint, Patient
from converge.privacy import access
from converge.search.schema import FTS_TABLE, PATIENT_FTS_TABLE, PG_PATIENT_VECTOR, TEAM_FTS_TABLE

MAX_QUERY = 200
MAX_TERMS = 8
# A reader kept from clinical conversations looks further down the matches, so the page still
# fills when many of them are clinical.
RESTRICTED_OVERFETCH = 4
_WORD = re.compile(r"\w+", re.UNICODE)
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")


@dataclass(frozen=True)
class SearchResults:
    query: str
    patients: list[Patient] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.patients) + len(self.messages)


def search(*, principal: Principal, query: str, limit: int = 25) -> SearchResults:
    """Patients and messages matching `query`, newest messages first; audited as "search"."""
    query = query.strip()[:MAX_QUERY]
    if not query:
        return SearchResults(query="")
    patients = patient_search(principal=principal, query=query, limit=limit, audit=False)
    messages = message_search(principal=principal, query=query, limit=limit, audit=False)
    audit_record(
        practice_id=principal.practice_id,
        actor=principal.actor,
        action="search",
        detail={"patients": len(patients), "messages": len(messages)},
        ip=principal.ip,
    )
    return SearchResults(query=query, patients=patients, messages=messages)


def parse_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 -- a calendar date, no zone
        except ValueError:
            continue
    return None


def _contact_or_date_filter(query: str, practice_id: int) -> Q | bool | None:
    """A condition for a date of birth, email or phone number query; False when the query is
    one of those but cannot match anything; None when it is a name."""
    dob = parse_date(query)
    if dob is not None:
        return Q(date_of_birth=dob)
    # Contact-point conditions name the practice too, so the (practice, address) index is used.
    in_practice = Q(contact_points__practice_id=practice_id)
    if "@" in query:
        try:
            return in_practice & Q(contact_points__address=normalize_email(query))
        except InvalidAddress:
            return False
    digits = re.sub(r"\D", "", query)
    if digits and len(digits) >= len(re.sub(r"[\s()+.\-]", "", query)):
        # Only digits and phone punctuation: a phone number, whole or its last digits.
        if len(digits) >= 10:
            try:
                return in_practice & Q(contact_points__address=normalize_phone(query))
            except InvalidAddress:
                return False
        if len(digits) >= 4:
            return in_practice & Q(
                contact_points__kind__in=("sms", "whatsapp"), contact_points__address__endswith=digits
            )
        return False
    return None


def patient_search(*, principal: Principal, query: str, limit: int = 25, audit: bool = True) -> list[Patient]:
    query = query.strip()[:MAX_QUERY]
    condition = _contact_or_date_filter(query, principal.practice_id)
    ids: list[int] = []
    if isinstance(condition, Q):
        ids = list(
            Patient.objects.filter(condition, practice_id=principal.practice_id, merged_into__isnull=True)
            .order_by("last_name", "first_name", "id")
            .values_list("id", flat=True)
            .distinct()[:limit]
        )
    elif condition is None:
        ids = patient_ids_by_name(practice_id=principal.practice_id, query=query, limit=limit)
    patients: list[Patient] = []
    if ids:
        by_id = {
            p.pk: p
            for p in Patient.objects.filter(practice_id=principal.practice_id, id__in=ids).prefetch_related(
                Prefetch("contact_points", queryset=ContactPoint.objects.order_by("id"))
            )
        }
        patients = [by_id[i] for i in ids if i in by_id]
    if audit:
        audit_record(
            practice_id=principal.practice_id,
            actor=principal.actor,
            action="search",
            detail={"patients": len(patients)},
            ip=principal.ip,
        )
    return patients


def patient_ids_by_name(*, practice_id: int, query: str, limit: int) -> list[int]:
    """Patients whose first or last name has a part starting with each word of the query
    ("ana rey" finds Ana Reyes-Diaz), alphabetical, through the full-text name index."""
    terms = fts_terms(query)
    if not terms:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"SELECT p.id FROM {PATIENT_FTS_TABLE} f JOIN patients_patient p ON p.id = f.rowid "  # noqa: S608 -- constant table name
                f"WHERE {PATIENT_FTS_TABLE} MATCH %s AND p.practice_id = %s AND p.merged_into_id IS NULL "
                "ORDER BY p.last_name, p.first_name, p.id LIMIT %s",
                [" ".join(f'"{t}"*' for t in terms), practice_id, limit],
            )
        elif connection.vendor == "postgresql":
            # Materialised so the GIN index finds the matches first; the name index would
            # otherwise walk every patient in order, testing each.
            cursor.execute(
                "WITH hits AS MATERIALIZED (SELECT id, last_name, first_name FROM patients_patient "  # noqa: S608 -- constant SQL
                "WHERE practice_id = %s AND merged_into_id IS NULL "
                f"AND {PG_PATIENT_VECTOR} @@ to_tsquery('simple', %s)) "
                "SELECT id FROM hits ORDER BY last_name, first_name, id LIMIT %s",
                [practice_id, " & ".join(f"{t}:*" for t in terms), limit],
            )
        else:  # pragma: no cover -- only SQLite and PostgreSQL are supported
            return []
        return [row[0] for row in cursor.fetchall()]


def fts_terms(query: str) -> list[str]:
    """The words of a query, lower-cased; punctuation and search operators are dropped so user
    text can never change the query's structure."""
    return [w.lower() for w in _WORD.findall(query)][:MAX_TERMS]


def _fts5_match(terms: list[str]) -> str:
    # Every word must match; the last may be a prefix of a longer word (typing "refi").
    return (" ".join(f'"{t}"' for t in terms[:-1]) + f' "{terms[-1]}"*').strip()


def _pg_tsquery(terms: list[str]) -> str:
    return " & ".join([*terms[:-1], f"{terms[-1]}:*"])


def team_message_match(query: str) -> RawSQL | None:
    """A condition for a queryset of team messages (converge/teamchat): their body matches the
    query through the same full-text index and word rules as patient messages. None when the
    query has no words. The caller scopes it to what the reader may read."""
    terms = fts_terms(query)
    if not terms:
        return None
    if connection.vendor == "sqlite":
        return RawSQL(  # noqa: S611 -- constant SQL, the words go in as a parameter
            f'"teamchat_teammessage"."id" IN (SELECT rowid FROM {TEAM_FTS_TABLE} WHERE {TEAM_FTS_TABLE} MATCH %s)',  # noqa: S608 -- constant table name
            [_fts5_match(terms)],
            output_field=BooleanField(),
        )
    if connection.vendor == "postgresql":
        # The same expression as the GIN index search_teammessage_body_tsv, so the index is used.
        return RawSQL(
            """to_tsvector('simple', "teamchat_teammessage"."body") @@ to_tsquery('simple', %s)""",
            [_pg_tsquery(terms)],
            output_field=BooleanField(),
        )
    return None  # pragma: no cover -- only SQLite and PostgreSQL are supported


def newest_first() -> OrderBy:
    """The order for `team_message_match` results, newest first. On PostgreSQL by `id + 0`: by the
    bare primary key the planner walks the table backwards testing every row for a rare word
    (180 ms on 100,000 team messages); this way the GIN index finds the rows first."""
    if connection.vendor == "postgresql":
        return (F("id") + 0).desc()
    return F("id").desc()


def message_ids_matching(*, practice_id: int, query: str, limit: int) -> list[int]:
    terms = fts_terms(query)
    if not terms:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"SELECT m.id FROM {FTS_TABLE} f JOIN conversations_message m ON m.id = f.rowid "  # noqa: S608 -- constant table name
                f"WHERE {FTS_TABLE} MATCH %s AND m.practice_id = %s ORDER BY f.rowid DESC LIMIT %s",
                [_fts5_match(terms), practice_id, limit],
            )
        elif connection.vendor == "postgresql":
            return _pg_message_ids(cursor, practice_id, _pg_tsquery(terms), limit)
        else:  # pragma: no cover -- only SQLite and PostgreSQL are supported
            return []
        return [row[0] for row in cursor.fetchall()]


# Newest first on PostgreSQL: look among the most recent messages first (a common word fills
# the page there cheaply), and only then further back (where a rare word's few matches are).
RECENT_WINDOW = 50_000


def _pg_message_ids(cursor: Any, practice_id: int, tsquery: str, limit: int) -> list[int]:
    cursor.execute("SELECT max(id) FROM conversations_message")
    newest = cursor.fetchone()[0] or 0
    floor = newest - RECENT_WINDOW
    ids: list[int] = []
    for bound in ("id > %s", "id <= %s"):
        # `id + 0`: ordering by the bare primary key tempts the planner into walking the table
        # backwards testing every row when it misjudges how many rows match (a rare word took
        # seconds on a million messages); this way the GIN index finds the rows.
        cursor.execute(
            "SELECT id FROM conversations_message WHERE practice_id = %s AND "  # noqa: S608 -- constant SQL
            f"{bound} AND to_tsvector('simple', body) @@ to_tsquery('simple', %s) ORDER BY id + 0 DESC LIMIT %s",
            [practice_id, floor, tsquery, limit - len(ids)],
        )
        ids += [row[0] for row in cursor.fetchall()]
        if len(ids) >= limit:
            break
    return ids


def message_search(*, principal: Principal, query: str, limit: int = 25, audit: bool = True) -> list[Message]:
    """Matching messages in conversations the principal may open (the conversation view's own
    rule: clinical confidentiality and break-glass grants count the same here)."""
    fetch = limit * RESTRICTED_OVERFETCH if access.restricted(principal) else limit
    ids = message_ids_matching(practice_id=principal.practice_id, query=query, limit=fetch)
    messages: list[Message] = []
    if ids:
        found = (
            Message.objects.filter(
                practice_id=principal.practice_id, id__in=ids, conversation__in=visible_conversations(principal)
            )
            .exclude(kind=STAFF_PAGE_KIND)  # on-call pages: staff numbers, not the patient's thread
            .select_related("channel", "conversation", "patient")
            .prefetch_related(Prefetch("patient__contact_points", queryset=ContactPoint.objects.order_by("id")))
        )
        by_id = {m.pk: m for m in found}
        messages = [by_id[i] for i in ids if i in by_id][:limit]
    if audit:
        audit_record(
            practice_id=principal.practice_id,
            actor=principal.actor,
            action="search",
            detail={"messages": len(messages)},
            ip=principal.ip,
        )
    return messages
