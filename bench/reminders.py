"""Reminder benchmark.

    python bench/reminders.py                      # SQLite in a temporary data dir
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/converge_bench python bench/reminders.py

Part 1 plans reminders for 100,000 upcoming appointments (bound: 5 s).
Part 2 dispatches reminders through a local HTTP provider (Twilio's API shape) that answers after
50 ms, under a per-channel rate limit, and prints the achieved send rate as a share of the limit
(bound: 95–100 %: at the limit, never above it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def setup() -> None:
    os.environ.setdefault("CONVERGE_DATA_DIR", tempfile.mkdtemp(prefix="converge-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "converge.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        from django.db import connection

        with connection.cursor() as cursor:  # start from empty tables on a reused bench database
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def seed(appointments: int) -> None:
    from datetime import datetime
    from datetime import time as wall
    from zoneinfo import ZoneInfo

    from converge.core import clock
    from converge.patients.models import ContactPoint, Patient
    from converge.practices.services import practice_create
    from converge.scheduling.models import Appointment, AppointmentType, Provider

    practice = practice_create(name="Bench Clinic", slug="bench")
    visit = AppointmentType.objects.create(practice=practice, name="Visit", duration_minutes=20)
    patients = Patient.objects.bulk_create(
        [
            Patient(practice=practice, first_name=f"P{i}", last_name="Bench", preferred_channel="sms")
            for i in range(2000)
        ]
    )
    ContactPoint.objects.bulk_create(
        [
            ContactPoint(practice=practice, patient=p, kind="sms", address=f"+1555{4000000 + i:07d}")
            for i, p in enumerate(patients)
        ]
    )
    per_day = 24  # 09:00-17:00 in 20-minute visits
    days = 28
    providers_needed = -(-appointments // (per_day * days))
    providers = Provider.objects.bulk_create(
        [Provider(practice=practice, display_name=f"Dr. {i}") for i in range(providers_needed)]
    )
    zone = ZoneInfo(practice.time_zone)
    today = clock.now().astimezone(zone).date()
    rows = []
    n = 0
    for provider in providers:
        for d in range(1, days + 1):
            day = today + timedelta(days=d)
            for slot in range(per_day):
                if n >= appointments:
                    break
                start = datetime.combine(day, wall(9), tzinfo=zone) + timedelta(minutes=20 * slot)
                rows.append(
                    Appointment(
                        practice=practice,
                        patient=patients[n % len(patients)],
                        provider=provider,
                        appointment_type=visit,
                        start=start,
                        end=start + timedelta(minutes=20),
                        blocked_until=start + timedelta(minutes=20),
                    )
                )
                n += 1
    Appointment.objects.bulk_create(rows, batch_size=5000)


def bench_planning(count: int) -> float:
    from converge.reminders.services import reminders_plan_missing

    seed(count)
    started = time.perf_counter()
    planned = reminders_plan_missing(horizon=timedelta(days=60))
    elapsed = time.perf_counter() - started
    print(
        f"planning: {planned} reminders for {count} appointments in {elapsed:.1f} s (bound: 5 s) "
        f"{'OK' if elapsed < 5 else 'OVER'}"
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--skip-dispatch", action="store_true")
    args = parser.parse_args()
    setup()
    from django.db import connection

    print(f"database: {connection.vendor}")
    bench_planning(args.appointments)
    if not args.skip_dispatch:
        from bench.reminders_dispatch import bench_dispatch

        bench_dispatch()


if __name__ == "__main__":
    main()
