"""Importing appointment files into the database: upsert by external id, idempotent re-import,
row-level errors, and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from converge.cli import main
from converge.patients.models import Patient
from converge.scheduling.importers import parse_file
from converge.scheduling.imports import import_records
from converge.scheduling.models import Appointment

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["appointments.csv", "calendar.ics", "bundle.json", "siu_batch.hl7"])
def test_import_then_reimport_changes_nothing(practice, name):
    result = parse_file(FIXTURES / name, default_tz=practice.time_zone)
    first = import_records(practice=practice, result=result)
    assert first.created > 0
    snapshot = sorted(Appointment.objects.values_list("source", "external_id", "status", "start", "provider_id"))
    patients = Patient.objects.count()
    again = import_records(practice=practice, result=parse_file(FIXTURES / name, default_tz=practice.time_zone))
    assert again.created == 0 and again.updated == 0
    assert (
        sorted(Appointment.objects.values_list("source", "external_id", "status", "start", "provider_id")) == snapshot
    )
    assert Patient.objects.count() == patients


def test_csv_bad_rows_are_reported_and_good_rows_import(practice):
    result = parse_file(FIXTURES / "appointments.csv", default_tz=practice.time_zone)
    assert result.errors  # the fixture has bad rows
    report = import_records(practice=practice, result=result)
    assert report.created == len({r.external_id for r in result.records if r.status != "cancelled"})
    assert all(str(e).startswith("row ") for e in report.errors)


def test_hl7_events_apply_in_order(practice, tmp_path):
    for name in ("siu_s12.hl7", "siu_s13.hl7", "siu_s15.hl7"):
        result = parse_file(FIXTURES / name, default_tz=practice.time_zone)
        import_records(practice=practice, result=result)
    statuses = set(Appointment.objects.values_list("status", flat=True))
    assert "cancelled" in statuses


def test_double_booking_rows_are_rejected_not_half_stored(practice, tmp_path):
    csv = tmp_path / "clash.csv"
    csv.write_text(
        "external_id,first_name,last_name,phone,start,duration_minutes,provider\n"
        "A1,Ana,Diaz,415-867-5309,2030-03-04 09:00,30,Dr. Patel\n"
        "A2,Bo,Lee,415-867-5310,2030-03-04 09:15,30,Dr. Patel\n"
    )
    report = import_records(practice=practice, result=parse_file(csv, default_tz=practice.time_zone))
    assert report.created == 1
    assert [(e.row, e.field) for e in report.errors] == [(3, "start")]
    assert not Patient.objects.filter(last_name="Lee").exists()  # the rejected row left nothing behind


def test_cli_import(practice, tmp_path, capsys):
    assert main(["import-appointments", "--practice", "sunrise", str(FIXTURES / "calendar.ics")]) in (0, 1)
    out = capsys.readouterr().out
    assert "created" in out
    assert main(["import-appointments", "--practice", "sunrise", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_mllp_listener_answers_acks_and_imports(practice):
    import os
    import socket
    import subprocess
    import sys
    import time

    from django.conf import settings

    from converge.scheduling.importers import MllpDecoder, frame

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgresql://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "CONVERGE_DATA_DIR": str(settings.DATA_DIR)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "converge.cli", "mllp", "--practice", "sunrise", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode() if proc.poll() is not None else "no listener")
                time.sleep(0.2)
        with conn:
            conn.settimeout(20)
            decoder = MllpDecoder()
            replies: list[str] = []
            for message in (FIXTURES / "siu_s12.hl7").read_text().replace("\n", "\r").strip().split("\r\r"):
                conn.sendall(frame(message))
                while not replies:
                    replies.extend(decoder.feed(conn.recv(65536)))
            assert "MSA|AA" in replies[0]
            conn.sendall(frame("MSH|^~\\&|X|Y|Z|W|20260101||SIU^S12|1|P|2.5\rSCH|nothing useful"))
            error: list[str] = []
            while not error:
                error.extend(decoder.feed(conn.recv(65536)))
            assert "MSA|AE" in error[0]
    finally:
        proc.terminate()
        proc.wait(10)
    assert Appointment.objects.filter(source="hl7").count() == 1
