"""`converge backup` / `converge restore`: a seeded practice is backed up while its database is
live, restored into an empty data dir (SQLite) and, when the run has PostgreSQL, an empty database;
every patient, message, appointment and audit row comes back, the attachment decrypts to the same
bytes and the audit chain verifies. A wrong passphrase, a truncated or a damaged archive and a
place that is not empty are refused with one line, writing nothing."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from converge.config.env import sqlite_config
from converge.core import backup
from tests.conftest import requires_postgres

PASSPHRASE = "a long backup passphrase 42"
NY = ZoneInfo("America/New_York")
ATTACHMENT = b"%PDF-1.4 lab result " + bytes(range(256)) * 64
TABLES = ("patients_patient", "conversations_message", "scheduling_appointment", "audit_auditevent")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "CONVERGE_DATA_DIR")
        and not k.startswith("CONVERGE_TEST_")
    }
    return subprocess.run(
        [sys.executable, "-m", "converge.cli", *args],
        env={**base, "CONVERGE_BACKUP_PASSPHRASE": PASSPHRASE, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


# --- the whole round trip, through the command ------------------------------------------------


def seed(practice, sms_channel, staff) -> dict[str, object]:
    from converge.audit.services import audit_record, audit_seal
    from converge.conversations.services import message_queue
    from converge.core import storage
    from converge.practices.models import Location
    from converge.scheduling.models import AppointmentType, Provider
    from converge.scheduling.services import appointment_book
    from tests.helpers import receive

    location = Location.objects.create(practice=practice, name="Main Street", address="120 Main St")
    provider = Provider.objects.create(practice=practice, display_name="Dr. Patel", location=location)
    visit = AppointmentType.objects.create(practice=practice, name="Follow-up", duration_minutes=20)
    for i in range(3):
        message = receive(sms_channel, f"+1555201{i:04d}", f"Message {i} from a patient").message
        message_queue(conversation=message.conversation, channel=sms_channel, body=f"Reply {i}", sender=staff)
        appointment_book(
            patient=message.patient,
            provider=provider,
            start=datetime.combine(datetime.now(NY).date() + timedelta(days=7 + i), time(10), tzinfo=NY),
            appointment_type=visit,
            override_hours=True,
            override_reason="backup test",
        )
    for i in range(5):
        audit_record(practice_id=practice.pk, actor=staff, action="test.backup", detail={"n": i})
    audit_seal()
    return {"attachment": storage.save_encrypted(practice.pk, ATTACHMENT, suffix=".pdf")}


def table_rows(url: str, table: str) -> list[tuple[object, ...]]:
    if url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return [tuple(r) for r in conn.execute(f'SELECT * FROM "{table}" ORDER BY id')]
    import psycopg

    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(f'SELECT * FROM "{table}" ORDER BY id')]


def source_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def fresh_postgres_database():
    """An empty database next to the test database, dropped afterwards."""
    import psycopg

    base = source_url().rsplit("/", 1)[0]
    name = f"converge_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check_restored(data_dir: Path, url: str, src_url: str, attachment: str, env: dict[str, str]) -> None:
    for table in TABLES:
        expected = table_rows(src_url, table)
        assert expected, table
        assert table_rows(url, table) == expected, table
    for name in ("encryption_key",):
        assert (data_dir / name).is_file() and private(data_dir / name)
    assert private(data_dir / "media" / attachment)
    if url.startswith("sqlite:"):
        assert private(Path(url.removeprefix("sqlite:///")))
    read = (
        "import hashlib, sys, django; django.setup();"
        "from converge.core.storage import read_decrypted;"
        f"sys.stdout.write(hashlib.sha256(read_decrypted({attachment!r})).hexdigest())"
    )
    done = subprocess.run(
        [sys.executable, "-c", read],
        env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "converge.config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == hashlib.sha256(ATTACHMENT).hexdigest()
    verified = run_cli("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain ok" in verified.stdout


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_keep_everything(tmp_path, settings, practice, sms_channel, staff):
    seeded = seed(practice, sms_channel, staff)
    src_url = source_url()
    archive = tmp_path / "nightly.cbak"
    made = run_cli(
        "backup", "--out", str(archive), env={"CONVERGE_DATA_DIR": str(settings.DATA_DIR), "DATABASE_URL": src_url}
    )
    assert made.returncode == 0, made.stderr
    assert "wrote" in made.stdout and "sha256" in made.stdout
    assert "SECRET_KEY is set in the environment" in made.stdout  # the test settings set it
    assert private(archive)
    assert PASSPHRASE.encode() not in archive.read_bytes()
    assert b"Message 0 from a patient" not in archive.read_bytes()
    assert not list(tmp_path.glob(".converge-backup-*")) and not list(tmp_path.glob("*.part"))

    checked = run_cli("restore", "--check", str(archive), env={"CONVERGE_DATA_DIR": str(tmp_path / "unused")})
    assert checked.returncode == 0, checked.stderr
    assert "archive ok" in checked.stdout

    attachment = str(seeded["attachment"])
    if src_url.startswith("sqlite:"):
        target = tmp_path / "restored"
        env = {"CONVERGE_DATA_DIR": str(target)}
        restored = run_cli("restore", str(archive), env=env)
        assert restored.returncode == 0, restored.stderr
        assert "counts match" in restored.stdout
        check_restored(target, f"sqlite:///{target / 'converge.sqlite3'}", src_url, attachment, env)
        assert not list(target.glob(".restore-*"))
        again = run_cli("restore", str(archive), env=env)
        assert again.returncode == 2 and "not empty" in again.stderr and "--force" in again.stderr
        forced = run_cli("restore", "--force", str(archive), env=env)
        assert forced.returncode == 0, forced.stderr
        check_restored(target, f"sqlite:///{target / 'converge.sqlite3'}", src_url, attachment, env)
    else:
        with fresh_postgres_database() as url:
            target = tmp_path / "restored-pg"
            env = {"CONVERGE_DATA_DIR": str(target), "DATABASE_URL": url}
            restored = run_cli("restore", str(archive), env=env)
            assert restored.returncode == 0, restored.stderr
            check_restored(target, url, src_url, attachment, env)
            again = run_cli("restore", str(archive), env=env)
            assert again.returncode == 2 and "not empty" in again.stderr
            forced = run_cli("restore", "--force", str(archive), env=env)
            assert forced.returncode == 0, forced.stderr
            check_restored(target, url, src_url, attachment, env)
            wrong_engine = run_cli("restore", str(archive), env={"CONVERGE_DATA_DIR": str(tmp_path / "sqlite-place")})
            assert wrong_engine.returncode == 2 and "postgresql database" in wrong_engine.stderr


@requires_postgres
def test_postgres_run_is_covered():
    """On PostgreSQL the round trip above restores into a fresh PostgreSQL database (a marker that
    the CI configuration exercises that branch)."""
    assert os.environ["CONVERGE_TEST_DATABASE_URL"].startswith("postgres")


# --- refusals, in process on a small SQLite place ---------------------------------------------


def small_place(root: Path, *, files: int = 3) -> backup.Place:
    root.mkdir(mode=0o700)
    db = root / "converge.sqlite3"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO note (body) VALUES (?)", [(f"note {i}",) for i in range(500)])
        conn.commit()
    (root / "secret_key").write_text("k" * 50)
    (root / "encryption_key").write_text("e" * 44)
    for i in range(files):
        path = root / "media" / "1" / f"f{i}.enc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(300_000 * (i + 1)))  # several 1 MiB chunks in all
    return backup.Place(root, sqlite_config(db))


def empty_place(root: Path) -> backup.Place:
    root.mkdir(mode=0o700)
    return backup.Place(root, sqlite_config(root / "converge.sqlite3"))


def nothing_written(place: backup.Place) -> bool:
    db = Path(str(place.database["NAME"]))
    leftovers = [p.name for p in place.data_dir.iterdir() if p != db]
    return not leftovers and (not db.exists() or db.stat().st_size == 0)


@pytest.fixture
def archive(tmp_path) -> Path:
    out = tmp_path / "b.cbak"
    backup.backup_create(out, PASSPHRASE.encode(), place=small_place(tmp_path / "src"))
    return out


def test_round_trip_keeps_bytes_and_modes(tmp_path, archive):
    source = backup.Place(tmp_path / "src", sqlite_config(tmp_path / "src" / "converge.sqlite3"))
    # Written while a writer holds an open transaction on the source (WAL): the copy is consistent.
    with contextlib.closing(sqlite3.connect(source.database["NAME"])) as live:
        live.execute("BEGIN IMMEDIATE")
        live.execute("INSERT INTO note (body) VALUES ('uncommitted')")
        backup.backup_create(tmp_path / "live.cbak", PASSPHRASE.encode(), place=source)
        live.rollback()
    target = empty_place(tmp_path / "dst")
    result = backup.backup_restore(tmp_path / "live.cbak", PASSPHRASE.encode(), place=target)
    assert result.manifest["database"]["tables"] == {"note": 500}
    assert backup.database_counts(target) == {"note": 500}
    for name in ("secret_key", "encryption_key"):
        assert (target.data_dir / name).read_bytes() == (source.data_dir / name).read_bytes()
        assert private(target.data_dir / name)
    for path in sorted((source.data_dir / "media").rglob("*.enc")):
        copy = target.data_dir / path.relative_to(source.data_dir)
        assert copy.read_bytes() == path.read_bytes() and private(copy)
    members = {m["name"]: m for m in result.manifest["members"]}
    assert set(members) == {"database.sqlite3", "keys/secret_key", "keys/encryption_key"} | {
        f"media/1/f{i}.enc" for i in range(3)
    }
    assert members["media/1/f0.enc"]["sha256"] == hashlib.sha256((source.media / "1/f0.enc").read_bytes()).hexdigest()
    assert result.manifest["counts"]["files"] == 3 and result.manifest["converge_version"]


def test_wrong_passphrase_is_refused_and_writes_nothing(tmp_path, archive):
    target = empty_place(tmp_path / "dst")
    with pytest.raises(backup.WrongPassphrase, match="wrong passphrase"):
        backup.backup_restore(archive, b"not the passphrase at all", place=target)
    assert nothing_written(target)


def test_wrong_passphrase_through_the_command(tmp_path, archive):
    target = tmp_path / "dst"
    phrase = tmp_path / "phrase"
    phrase.write_text("not the passphrase at all\n")
    phrase.chmod(0o600)
    done = run_cli("restore", "--passphrase-file", str(phrase), str(archive), env={"CONVERGE_DATA_DIR": str(target)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "converge: error: wrong passphrase (or a damaged archive header): nothing was restored"
    ]
    assert not (target / "encryption_key").exists() and not (target / "media").exists()
    # The right one from a file (trailing newline dropped) works.
    phrase.write_text(PASSPHRASE + "\n")
    done = run_cli(
        "restore",
        "--passphrase-file",
        str(phrase),
        str(archive),
        env={"CONVERGE_DATA_DIR": str(target), "CONVERGE_BACKUP_PASSPHRASE": ""},
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("cut", [10, 60, 100_000, -1, -17])
def test_truncated_archive_is_refused(tmp_path, archive, cut):
    data = archive.read_bytes()
    damaged = tmp_path / "cut.cbak"
    damaged.write_bytes(data[:cut])
    target = empty_place(tmp_path / "dst")
    with pytest.raises(backup.CorruptArchive, match=r"truncated|corrupt|header"):
        backup.backup_restore(damaged, PASSPHRASE.encode(), place=target)
    assert nothing_written(target)


@pytest.mark.parametrize("where", [200, 1_500_000, -5])
def test_damaged_archive_is_refused(tmp_path, archive, where):
    data = bytearray(archive.read_bytes())
    data[where] ^= 0x40
    damaged = tmp_path / "bad.cbak"
    damaged.write_bytes(bytes(data))
    target = empty_place(tmp_path / "dst")
    with pytest.raises(backup.CorruptArchive, match="corrupt"):
        backup.backup_restore(damaged, PASSPHRASE.encode(), place=target)
    assert nothing_written(target)
    with pytest.raises(backup.CorruptArchive):
        backup.backup_check(damaged, PASSPHRASE.encode())


def test_trailing_data_is_refused(tmp_path, archive):
    damaged = tmp_path / "long.cbak"
    damaged.write_bytes(archive.read_bytes() + b"\0" * 20)
    with pytest.raises(backup.CorruptArchive, match="after its last chunk"):
        backup.backup_check(damaged, PASSPHRASE.encode())


def test_not_empty_place_needs_force(tmp_path, archive):
    target = small_place(tmp_path / "dst", files=1)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.backup_restore(archive, PASSPHRASE.encode(), place=target)
    backup.backup_restore(archive, PASSPHRASE.encode(), place=target, force=True)
    assert sorted(p.name for p in (target.media / "1").iterdir()) == ["f0.enc", "f1.enc", "f2.enc"]
    assert not list(target.data_dir.glob(".restore-*"))


def test_passphrase_is_never_an_argument_and_must_be_long(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVERGE_BACKUP_PASSPHRASE", raising=False)
    with pytest.raises(backup.BackupError, match="no passphrase"):
        backup.read_passphrase(None, creating=True)
    monkeypatch.setenv("CONVERGE_BACKUP_PASSPHRASE", "short")
    with pytest.raises(backup.BackupError, match="at least"):
        backup.read_passphrase(None, creating=True)
    done = run_cli("backup", "--out", str(tmp_path / "x"), "--passphrase", "p", env={})
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
