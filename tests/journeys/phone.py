"""The patient's side of the demo, for the patient journeys: who the patient is (read from the
demo's database, as the patient would simply know it) and what arrived on their phone (the
simulator's outbox file, <data_dir>/simulator/<channel key>.jsonl)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.journeys.conftest import CONVERGE, Demo, user_env

PRACTICE = "sunrise"
PRACTICE_TZ = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Patient:
    id: int
    name: str
    date_of_birth: date
    phone: str


def sms_patients(demo: Demo, count: int, *, skip: int = 0) -> list[Patient]:
    """English-speaking demo patients who prefer SMS, can be texted, have a name no other patient
    has (so a search shows just them), nothing booked ahead and no question of ours open.

    Picked from the end of the list so the other journeys, which take the first ones, do not
    share them; ``skip`` keeps two journeys of this suite apart."""
    with demo.db() as db:
        rows = db.execute(
            """
            SELECT p.id, p.first_name || ' ' || p.last_name, p.date_of_birth, c.address
            FROM patients_patient p
            JOIN patients_contactpoint c ON c.patient_id = p.id AND c.kind = 'sms'
            WHERE p.preferred_channel = 'sms' AND p.language = 'en' AND p.merged_into_id IS NULL
              AND c.opted_out_at IS NULL AND c.failing_since IS NULL AND c.address NOT LIKE '+1555000%'
              AND NOT EXISTS (SELECT 1 FROM reminders_patientprompt q
                              WHERE q.patient_id = p.id AND q.answered_at IS NULL)
              AND NOT EXISTS (SELECT 1 FROM scheduling_appointment a
                              WHERE a.patient_id = p.id AND a.start > datetime('now'))
              AND NOT EXISTS (SELECT 1 FROM conversations_conversation v
                              WHERE v.patient_id = p.id AND v.status != 'resolved')
              AND (SELECT count(*) FROM patients_patient o
                   WHERE o.first_name = p.first_name AND o.last_name = p.last_name) = 1
            ORDER BY p.id DESC
            """
        ).fetchall()
    chosen = rows[skip : skip + count]
    assert len(chosen) == count, f"the demo has only {len(rows)} suitable patients"
    return [Patient(pk, name, date.fromisoformat(dob), phone) for pk, name, dob, phone in chosen]


def channel_key(demo: Demo, kind: str = "sms") -> str:
    with demo.db() as db:
        row = db.execute(
            "SELECT key FROM connectors_channel WHERE kind = ? AND provider = 'simulator' ORDER BY id", (kind,)
        ).fetchone()
    assert row, f"the demo has no simulator {kind} channel"
    return str(row[0])


def texts_to(demo: Demo, number: str, kind: str = "sms") -> list[dict[str, Any]]:
    """Everything the practice has sent to ``number`` on the simulator, oldest first."""
    path = demo.data_dir / "simulator" / f"{channel_key(demo, kind)}.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [m for m in (json.loads(line) for line in lines if line.strip()) if m["to"] == number]


def wait_for_text(
    demo: Demo, number: str, wanted: Callable[[str], bool], *, after: int = 0, timeout: float = 40
) -> str:
    """The first text to ``number`` (past the first ``after`` of them) that ``wanted`` accepts."""
    deadline = time.monotonic() + timeout
    while True:
        for message in texts_to(demo, number)[after:]:
            if wanted(message["body"]):
                return str(message["body"])
        if time.monotonic() > deadline:
            got = [m["body"] for m in texts_to(demo, number)]
            raise AssertionError(f"no such text to {number} within {timeout} s; it got {got}")
        time.sleep(0.5)


def quiet_hours_off_if_quiet(demo: Demo, within: timedelta = timedelta(minutes=5)) -> None:
    """The demo keeps the default quiet hours (21:00–08:00 at the practice). A journey that needs a
    reminder to go out now cannot wait for the morning: when it runs at night, the practice has
    no quiet hours (set as an administrator would in a shell; there is no screen for it)."""
    now = datetime.now(PRACTICE_TZ)
    soon = now + within
    if 8 <= now.hour < 21 and 8 <= soon.hour < 21:
        return
    result = subprocess.run(
        [
            str(CONVERGE),
            "manage",
            "shell",
            "-c",
            "from converge.reminders.models import ReminderPolicy as P; "
            "from converge.practices.models import Practice; "
            "P.objects.update_or_create(practice=Practice.objects.get(slug='sunrise'), "
            "defaults={'quiet_start': '00:00', 'quiet_end': '00:00'})",
        ],
        env=user_env(demo.data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
