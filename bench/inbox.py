"""How fast is the staff inbox with a big practice's history?

Seeds 100,000 patients and 1,000,000 messages (one conversation with 2,000 of them) into a bench
database, then prints server time and query count for every default inbox view, the counts, a
long conversation (the newest page + "load earlier"), the whole inbox page with it open, and
search. Target: under 100 ms each, and a query count that does not grow with the page size.

Run:
  .venv/bin/python bench/inbox.py                     # SQLite in a temporary data dir
  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/converge_inbox_bench .venv/bin/python bench/inbox.py
Options: --patients N --messages N --keep (reuse an already seeded PostgreSQL bench database,
or keep the SQLite data dir) --data-dir DIR.

Server time is measured around django.test.Client requests in this process (no network): the
whole request through middleware, view, queries and template. Median of several runs after a
warm-up. Before measuring, the database's statistics are refreshed (PostgreSQL: VACUUM ANALYZE,
as autovacuum would have done to a database that did not just receive a million rows; without
it no index-only scan is possible).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 100.0
FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "María",
    "José",
    "Lucía",
    "Miguel",
    "Sofía",
    "Juan",
    "Camila",
    "Luis",
    "Valentina",
    "Ana",
    "Diego",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
]
INBOUND = [
    "Hi, I need to reschedule my appointment on {day}",
    "Can I get a refill of my {drug} prescription please",
    "What time do you open tomorrow",
    "Is the clinic open on {day}",
    "I have a question about my bill from last month",
    "Yes that works for me, thank you",
    "My {kid} has had a fever since {day}, should we come in",
    "Can you send me my lab results",
    "Hola, necesito cambiar mi cita del {day}",
    "¿Pueden renovar mi receta de {drug}?",
    "Running ten minutes late, sorry",
    "Do you take {insurer} insurance",
]
OUTBOUND = [
    "Thanks for reaching out, we will get back to you today.",
    "Your appointment is confirmed for {day} at 10:30 AM.",
    "We sent the {drug} refill to your pharmacy.",
    "Please call us at 555-0100 if it gets worse.",
    "¡Gracias! Su cita está confirmada para el {day}.",
    "Your results are in the patient portal.",
]
FILL = {
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "lunes", "martes", "viernes"],
    "drug": ["lisinopril", "metformin", "atorvastatin", "albuterol", "amoxicillin", "levothyroxine"],
    "kid": ["son", "daughter", "baby"],
    "insurer": ["Aetna", "Cigna", "Humana", "Medicaid", "Blue Cross"],
}
RARE_WORD = "zanzibarine"  # in a few dozen messages: a selective search


def _fill(template: str, rng: random.Random) -> str:
    for key, values in FILL.items():
        template = template.replace("{" + key + "}", rng.choice(values))
    return template


def setup_environment(args: argparse.Namespace) -> str:
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="converge-inbox-bench-")
    os.environ["CONVERGE_DATA_DIR"] = data_dir
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "converge.config.settings"
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres") and not args.keep:
        _recreate_postgres(url)
    import django

    django.setup()
    return data_dir


def _recreate_postgres(url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def insert_rows(model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows with executemany. bulk_create builds a model instance and compiles every
    value of every row, which made a million messages take over five minutes; here only the
    columns that vary are converted, and the rest are each field's default, prepared once."""
    from django.db import connection, models, transaction

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    varying = set(rows[0])
    constants = {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields if f.attname not in varying}

    def converter(field: Any) -> Any:
        if isinstance(field, models.DateTimeField):
            return lambda v: None if v is None else connection.ops.adapt_datetimefield_value(v)
        if isinstance(field, models.UUIDField):
            return lambda v: field.get_db_prep_value(v, connection)
        return None

    convert = {f.attname: converter(f) for f in fields if f.attname in varying}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    params = []
    for row in rows:
        values = []
        for f in fields:
            if f.attname in constants:
                values.append(constants[f.attname])
            else:
                fn = convert[f.attname]
                values.append(fn(row[f.attname]) if fn else row[f.attname])
        params.append(values)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


def seed(*, patients: int, messages: int, long_thread: int, rng: random.Random) -> dict[str, Any]:

    from converge.connectors.services import simulator_channel_create
    from converge.conversations.models import Conversation, Message
    from converge.core import clock
    from converge.patients.models import ContactPoint, Patient
    from converge.practices.models import Practice, Role, Team
    from converge.practices.services import practice_create, staff_create
    from converge.scheduling.models import Appointment, Provider

    existing = Practice.objects.filter(slug="bench").first()
    if existing is not None:
        print("Reusing the seeded bench practice.")
        return _facts(existing)

    started = time.perf_counter()
    practice = practice_create(name="Bench Family Practice", slug="bench")
    teams = list(Team.objects.filter(practice=practice))
    staff = [
        staff_create(
            practice=practice,
            email=f"staff{i}@bench.example",
            password=None,
            display_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            role=Role.NURSE if i % 4 == 0 else Role.FRONT_DESK,
            team_slugs=(teams[i % len(teams)].slug,),
        )
        for i in range(13)
    ]
    channels = {kind: simulator_channel_create(practice=practice, kind=kind) for kind in ("sms", "whatsapp", "email")}
    now = clock.now()

    # Patients and their addresses.
    batch = 5000
    for offset in range(0, patients, batch):
        rows = []
        for i in range(offset, min(patients, offset + batch)):
            rows.append(
                Patient(
                    practice=practice,
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                    date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(30000)),
                    language="es" if i % 5 == 0 else "en",
                    is_verified=i % 50 != 0,
                    preferred_channel=rng.choice(["sms", "whatsapp", "email", ""]),
                )
            )
        Patient.objects.bulk_create(rows, batch_size=1000)
    patient_ids = list(Patient.objects.filter(practice=practice).order_by("id").values_list("id", flat=True))
    contacts: list[ContactPoint] = []
    for n, pid in enumerate(patient_ids):
        phone = f"+1{rng.choice(['212', '305', '415', '617', '713'])}{2000000 + n:07d}"
        contacts.append(ContactPoint(practice=practice, patient_id=pid, kind="sms", address=phone, consent_at=now))
        if n % 3 == 0:
            contacts.append(
                ContactPoint(practice=practice, patient_id=pid, kind="whatsapp", address=phone, last_inbound_at=now)
            )
        if n % 2 == 0:
            contacts.append(
                ContactPoint(practice=practice, patient_id=pid, kind="email", address=f"patient{n}@mail.example")
            )
        if len(contacts) >= 10000:
            ContactPoint.objects.bulk_create(contacts, batch_size=2000)
            contacts = []
    ContactPoint.objects.bulk_create(contacts, batch_size=2000)
    sms_contact = dict(ContactPoint.objects.filter(practice=practice, kind="sms").values_list("patient_id", "id"))
    print(f"  patients and contact points: {time.perf_counter() - started:.0f} s", flush=True)

    # One conversation per patient: most resolved long ago, a few thousand open.
    conversations: list[Conversation] = []
    per_conversation: dict[int, int] = {}
    remaining = messages - long_thread
    for pid in patient_ids:
        per_conversation[pid] = 2 + rng.randrange(17)  # 2..18, ~10 on average
        roll = rng.random()
        status = "resolved" if roll < 0.96 else "open" if roll < 0.985 else "pending" if roll < 0.993 else "snoozed"
        last = (
            now - timedelta(minutes=rng.randrange(60 * 24 * 365 * 3))
            if status == "resolved"
            else now - timedelta(minutes=rng.randrange(60 * 24 * 10))
        )
        conversations.append(
            Conversation(
                practice=practice,
                patient_id=pid,
                status=status,
                team=rng.choice(teams),
                assignee=rng.choice([*staff, None, None]) if status != "resolved" else rng.choice(staff),
                priority=3 if status == "open" and rng.random() < 0.05 else rng.choice([1, 1, 1, 2]),
                category=rng.choice(["scheduling", "refill", "administrative", "clinical"]),
                last_message_at=last,
                last_inbound_at=last,
                waiting_since=last if status == "open" and rng.random() < 0.5 else None,
                snoozed_until=now + timedelta(days=1) if status == "snoozed" else None,
                resolved_at=last if status == "resolved" else None,
                created_at=last - timedelta(days=2),
                updated_at=last,
            )
        )
    # The long conversation belongs to the first patient and stays open.
    conversations[0].status = "open"
    conversations[0].resolved_at = None
    conversations[0].last_message_at = now
    Conversation.objects.bulk_create(conversations, batch_size=2000)
    conv_rows = list(Conversation.objects.filter(practice=practice).values_list("id", "patient_id", "last_message_at"))
    print(f"  conversations: {time.perf_counter() - started:.0f} s", flush=True)

    total = sum(per_conversation.values()) - per_conversation[patient_ids[0]]
    scale = remaining / total
    channel_ids = [channels["sms"].pk, channels["sms"].pk, channels["whatsapp"].pk, channels["email"].pk]
    staff_ids = [s.pk for s in staff]
    buffer: list[dict[str, Any]] = []
    written = 0
    rare_left = 40

    def flush() -> None:
        nonlocal buffer, written
        insert_rows(Message, buffer)
        written += len(buffer)
        buffer = []

    for conversation_id, pid, last in conv_rows:
        count = long_thread if pid == patient_ids[0] else max(1, round(per_conversation[pid] * scale))
        start = last - timedelta(minutes=count * 7)
        for k in range(count):
            inbound = k % 2 == 0
            body = _fill(rng.choice(INBOUND if inbound else OUTBOUND), rng)
            if rare_left and rng.random() < 0.0001:
                body += f" ({RARE_WORD})"
                rare_left -= 1
            at = start + timedelta(minutes=7 * k)
            buffer.append(
                {
                    "practice_id": practice.pk,
                    "conversation_id": conversation_id,
                    "patient_id": pid,
                    "channel_id": rng.choice(channel_ids),
                    "contact_point_id": sms_contact.get(pid),
                    "direction": "in" if inbound else "out",
                    "body": body,
                    "status": "received" if inbound else rng.choice(["sent", "delivered", "read", "read"]),
                    "provider_message_id": f"b{conversation_id}-{k}" if inbound else None,
                    # Increasing keys append to the unique index instead of landing at random.
                    "idempotency_key": uuid.UUID(int=(1 << 120) + len(buffer) + written),
                    "sender_id": None if inbound else rng.choice(staff_ids),
                    "created_at": at,
                    "sent_at": at,
                }
            )
        if len(buffer) >= 20000:
            flush()
            if written % 200000 < 20000:
                print(f"  messages: {written:,} ({time.perf_counter() - started:.0f} s)", flush=True)
    if buffer:
        flush()

    provider = Provider.objects.create(practice=practice, display_name="Dr. Bench")
    first_slot = now - timedelta(days=300)
    appointments = []
    for i, pid in enumerate(patient_ids[:20000]):
        start = first_slot + timedelta(minutes=30 * i)  # one provider, back to back, never overlapping
        end = start + timedelta(minutes=20)
        status = "completed" if start < now else "booked"
        appointments.append(
            Appointment(
                practice=practice,
                patient_id=pid,
                provider=provider,
                start=start,
                end=end,
                blocked_until=end,
                status=status,
            )
        )
    Appointment.objects.bulk_create(appointments, batch_size=2000)
    print(f"Seeded {len(patient_ids):,} patients and {written:,} messages in {time.perf_counter() - started:.0f} s")
    return _facts(practice)


def refresh_statistics() -> None:
    """The planner's statistics for the seeded rows (and for indexes a later migration added to a
    reused database). On PostgreSQL also VACUUM: it sets the visibility map that index-only scans
    need, which autovacuum keeps up to date in a database in use."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    print(f"Statistics refreshed in {time.perf_counter() - started:.0f} s")


def _facts(practice: Any) -> dict[str, Any]:
    from django.db.models import Count

    from converge.conversations.models import Conversation, Message
    from converge.patients.models import ContactPoint, Patient
    from converge.practices.models import StaffMember, Team

    long_id = (
        Message.objects.filter(practice=practice)
        .values("conversation_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("conversation_id", flat=True)
        .first()
    )
    busiest = (
        Conversation.objects.filter(practice=practice)
        .exclude(status="resolved")
        .values("assignee_id")
        .annotate(n=Count("id"))
        .exclude(assignee_id=None)
        .order_by("-n")
        .first()
    )
    staff = (
        StaffMember.objects.get(pk=busiest["assignee_id"])
        if busiest
        else StaffMember.objects.filter(practice=practice).first()
    )
    sample = Patient.objects.filter(practice=practice).order_by("id")[500]
    phone = ContactPoint.objects.filter(patient=sample, kind="sms").first()
    return {
        "practice": practice,
        "staff": staff,
        "long_conversation_id": long_id,
        "team": Team.objects.filter(practice=practice).order_by("name").first(),
        "patient": sample,
        "phone": phone.address if phone else "",
        "patients": Patient.objects.filter(practice=practice).count(),
        "messages": Message.objects.filter(practice=practice).count(),
    }


def measure(client: Any, url: str, *, htmx: bool = False, runs: int = 7) -> tuple[float, float, int, int]:
    """Median wall and CPU milliseconds, and the query count, of one request. On a busy machine
    the wall clock also counts time other processes held the CPU; the CPU figure is this
    process's own work, which on SQLite includes the database (it runs in-process)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HX-Request": "true"} if htmx else {}
    response = client.get(url, headers=headers)  # warm-up
    assert response.status_code == 200, (url, response.status_code)
    walls, cpus = [], []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            cpu, wall = time.process_time(), time.perf_counter()
            response = client.get(url, headers=headers)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        queries = len(captured.captured_queries)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(walls), statistics.median(cpus), queries, len(response.content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--long-thread", type=int, default=2_000)
    parser.add_argument("--keep", action="store_true", help="reuse a seeded database / keep the data dir")
    parser.add_argument("--data-dir", default="")
    args = parser.parse_args()
    data_dir = setup_environment(args)

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    print(f"Database: {connection.vendor} ({'DATABASE_URL' if os.environ.get('DATABASE_URL') else data_dir})")
    call_command("migrate", interactive=False, verbosity=0)
    facts = seed(patients=args.patients, messages=args.messages, long_thread=args.long_thread, rng=random.Random(7))
    refresh_statistics()
    print(f"Practice: {facts['patients']:,} patients, {facts['messages']:,} messages")

    client = Client()
    client.force_login(facts["staff"].user)
    long_id = facts["long_conversation_id"]
    from converge.conversations.models import Message
    from converge.conversations.selectors import THREAD_EARLIER_PAGE, THREAD_PAGE

    first_shown = (
        Message.objects.filter(conversation_id=long_id)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[THREAD_PAGE - 1]
    )
    dob = facts["patient"].date_of_birth.isoformat()
    cases: list[tuple[Any, ...]] = [
        ("inbox page (counts + All open list)", "/"),
        ("counts (every view, one query)", "/inbox/counts?view=all"),
        *[
            (f"list: {view}", f"/inbox/list?view={view}")
            for view in ("mine", "unassigned", "urgent", "all", "snoozed", "resolved")
        ],
        (f"list: team {facts['team'].name}", f"/inbox/list?view=all&team={facts['team'].pk}"),
        ("list: All open, 200 rows", "/inbox/list?view=all&limit=200"),
        ("list: Resolved, 200 rows", "/inbox/list?view=resolved&limit=200"),
        (f"open conversation ({args.long_thread:,} messages, newest {THREAD_PAGE})", f"/c/{long_id}/", True),
        (f"thread: load earlier {THREAD_EARLIER_PAGE}", f"/c/{long_id}/thread?before={first_shown}"),
        ("full page with the long conversation", f"/c/{long_id}/?view=all"),
        ("search: patient name", f"/search?q={facts['patient'].last_name}+{facts['patient'].first_name[:3]}"),
        ("search: phone number", f"/search?q={facts['phone'].replace('+', '%2B')}"),
        ("search: date of birth", f"/search?q={dob}"),
        (f"search: rare word ({RARE_WORD})", f"/search?q={RARE_WORD}"),
        ("search: common words (refill metformin)", "/search?q=refill+metformin"),
        ("search: prefix (resched)", "/search?q=resched"),
    ]
    print()
    print(f"{'request':<52} {'wall ms':>8} {'cpu ms':>8} {'queries':>8} {'KB':>7}")
    worst = 0.0
    for label, url, *htmx in cases:
        wall, cpu, queries, size = measure(client, url, htmx=bool(htmx))
        figure = wall if connection.vendor != "sqlite" else min(wall, cpu)
        worst = max(worst, figure)
        flag = "" if figure < TARGET_MS else "  over target"
        print(f"{label:<52} {wall:8.1f} {cpu:8.1f} {queries:8d} {size / 1024:7.1f}{flag}")
    print()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(f"Slowest: {worst:.1f} ms (target {TARGET_MS:.0f} ms); load average {load:.1f} on {os.cpu_count()} CPUs.")
    print(f"Data dir: {data_dir}")
    if not args.keep and not args.data_dir and not os.environ.get("DATABASE_URL"):
        import shutil

        connection.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
