"""`converge backup` / `converge restore`: the database, the data dir's keys and its stored files in
one archive encrypted with a passphrase.

The archive is a tar stream (manifest.json first, then the members it lists) cut into 1 MiB
chunks, each sealed with AES-256-GCM under a key derived from the passphrase with scrypt. The
nonce of a chunk is a random prefix, the chunk's number and a last-chunk flag (the STREAM
construction), and every chunk authenticates the header: a chunk changed, reordered, dropped or
cut off, or a header changed, fails to open. The header also holds an HMAC made with a second
derived key, so a wrong passphrase is told apart from a damaged archive before anything is read.
Nothing is held in memory beyond one chunk.

The database is copied consistently while the server runs: SQLite with the online backup API,
PostgreSQL with `pg_dump --format=custom` inside an exported snapshot, so the row counts in the
manifest are those of the dump. Restore writes into an empty place only (unless forced): the
whole archive is decrypted and checked against the manifest in a staging directory first, so a
wrong passphrase, a truncated or corrupt archive writes nothing where the data lives.

The functions here do not load Django settings: settings create a data dir's keys when they are
missing, and restore must find the place it writes into as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"CNVGBAK\x00"
FORMAT_VERSION = 1
CHUNK = 1 << 20
SCRYPT_LOG2_N = 17  # 128 MiB, about half a second: a stolen archive is slow to guess at
SCRYPT_R = 8
SCRYPT_P = 1
_HEAD = struct.Struct(">8sBBBB16s7s")  # magic, version, log2 n, r, p, salt, nonce prefix
_TAG = 16
MIN_PASSPHRASE = 12
KEY_FILES = ("secret_key", "encryption_key")
MANIFEST = "manifest.json"
DB_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


class BackupError(Exception):
    """A user-facing failure (printed as one line by the CLI)."""


class WrongPassphrase(BackupError):
    pass


class CorruptArchive(BackupError):
    pass


# --- where the data lives ----------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A data dir and the database that goes with it (from the environment by default)."""

    data_dir: Path
    database: dict[str, Any]

    @property
    def engine(self) -> str:
        return "postgresql" if str(self.database["ENGINE"]).endswith("postgresql") else "sqlite"

    @property
    def media(self) -> Path:
        return self.data_dir / "media"

    @classmethod
    def from_environment(cls) -> Place:
        from converge.config import env

        directory = env.data_dir()
        return cls(directory, env.database_config(directory))


def _pg_env(db: dict[str, Any]) -> dict[str, str]:
    """libpq's variables: the password never appears on a command line."""
    out = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            out[var] = str(db[key])
    out["PGDATABASE"] = str(db["NAME"])
    return out


def _pg_connect(db: dict[str, Any]) -> Any:
    import psycopg

    params = {
        "dbname": db["NAME"],
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    try:
        return psycopg.connect(**{k: v for k, v in params.items() if v is not None})
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to PostgreSQL database {db['NAME']!r}: {str(exc).strip()}") from None


def _pg_tables(cursor: Any) -> list[str]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
    return [row[0] for row in cursor.fetchall()]


def _pg_counts(cursor: Any) -> dict[str, int]:
    from psycopg import sql

    counts = {}
    for table in _pg_tables(cursor):
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        counts[table] = int(cursor.fetchone()[0])
    return counts


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}  # noqa: S608


def database_counts(place: Place) -> dict[str, int]:
    """Rows per table of a place's database (empty when it has no tables)."""
    if place.engine == "postgresql":
        with _pg_connect(place.database) as conn, conn.cursor() as cursor:
            return _pg_counts(cursor)
    path = Path(str(place.database["NAME"]))
    if not path.exists() or path.stat().st_size == 0:
        return {}
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return _sqlite_counts(conn)


def _private_open(path: Path) -> IO[bytes]:
    path.unlink(missing_ok=True)
    return os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "wb")


# --- the encrypted stream ----------------------------------------------------------------------


def _derive(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int) -> tuple[bytes, bytes]:
    material = Scrypt(salt=salt, length=64, n=1 << log2_n, r=r, p=p).derive(passphrase)
    return material[:32], material[32:]


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class EncryptingWriter:
    """File-like sink: plaintext in, header and sealed chunks out to `out`."""

    def __init__(self, out: IO[bytes], passphrase: bytes) -> None:
        self.out = out
        salt, prefix = secrets.token_bytes(16), secrets.token_bytes(7)
        key, mac_key = _derive(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
        head = _HEAD.pack(MAGIC, FORMAT_VERSION, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, salt, prefix)
        self.header = head + hmac.new(mac_key, head, hashlib.sha256).digest()
        self.aead, self.prefix, self.counter = AESGCM(key), prefix, 0
        self.buffer = bytearray()
        self.digest = hashlib.sha256()
        self.size = 0
        self._emit(self.header)

    def _emit(self, data: bytes) -> None:
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)

    def _seal(self, plain: bytes, last: bool) -> None:
        sealed = self.aead.encrypt(_nonce(self.prefix, self.counter, last), plain, self.header)
        self._emit(struct.pack(">I", len(sealed)) + sealed)
        self.counter += 1
        if self.counter >= 1 << 32:
            raise BackupError("archive too large")

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= CHUNK:
            self._seal(bytes(self.buffer[:CHUNK]), last=False)
            del self.buffer[:CHUNK]
        return len(data)

    def close(self) -> None:
        self._seal(bytes(self.buffer), last=True)
        self.buffer.clear()


class DecryptingReader:
    """File-like source over an archive: checks the passphrase at once, then opens chunks as
    they are read. Raises WrongPassphrase / CorruptArchive."""

    def __init__(self, src: IO[bytes], passphrase: bytes) -> None:
        self.src = src
        head = src.read(_HEAD.size)
        if len(head) < _HEAD.size or not head.startswith(MAGIC):
            raise CorruptArchive("not a Converge backup (unknown file header)")
        _, version, log2_n, r, p, salt, prefix = _HEAD.unpack(head)
        if version != FORMAT_VERSION:
            raise CorruptArchive(f"backup format {version} is not supported by this version (expects {FORMAT_VERSION})")
        if not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
            raise CorruptArchive("damaged archive header")
        mac = src.read(32)
        if len(mac) < 32:
            raise CorruptArchive("archive truncated (header cut off)")
        key, mac_key = _derive(passphrase, salt, log2_n, r, p)
        if not hmac.compare_digest(hmac.new(mac_key, head, hashlib.sha256).digest(), mac):
            raise WrongPassphrase("wrong passphrase (or a damaged archive header): nothing was restored")
        self.header = head + mac
        self.aead, self.prefix, self.counter = AESGCM(key), prefix, 0
        self.buffer, self.pos = b"", 0
        self.done = False

    def _next(self) -> None:
        raw = self.src.read(4)
        if len(raw) < 4:
            raise CorruptArchive("archive truncated: it ends before its last chunk")
        (length,) = struct.unpack(">I", raw)
        if not _TAG <= length <= CHUNK + _TAG:
            raise CorruptArchive(f"archive corrupt at chunk {self.counter}")
        sealed = self.src.read(length)
        if len(sealed) < length:
            raise CorruptArchive("archive truncated: it ends before its last chunk")
        for last in (False, True):
            try:
                self.buffer = self.aead.decrypt(_nonce(self.prefix, self.counter, last), sealed, self.header)
                self.pos = 0
            except InvalidTag:
                continue
            self.done = last
            break
        else:
            raise CorruptArchive(f"archive corrupt: chunk {self.counter} fails its integrity check")
        self.counter += 1
        if self.done and self.src.read(1):
            raise CorruptArchive("archive corrupt: data after its last chunk")

    def read(self, size: int = -1) -> bytes:
        parts = []
        wanted = size if size >= 0 else sys.maxsize
        while wanted > 0:
            if self.pos >= len(self.buffer):
                if self.done:
                    break
                self._next()
                continue
            part = self.buffer[self.pos : self.pos + wanted]
            self.pos += len(part)
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)

    def drain(self) -> None:
        """Read to the end, so a cut-off last chunk is noticed even after the tar's end."""
        while self.read(CHUNK):
            pass


# --- backup ------------------------------------------------------------------------------------


@dataclass
class Member:
    name: str  # path inside the archive
    path: Path
    size: int = 0
    sha256: str = ""


@dataclass
class BackupResult:
    path: Path
    size: int
    sha256: str
    manifest: dict[str, Any] = field(default_factory=dict)


def _sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _dump_sqlite(place: Place, target: Path) -> dict[str, Any]:
    source = Path(str(place.database["NAME"]))
    if not source.exists():
        raise BackupError(f"no database at {source}")
    with (
        contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)  # one step: a consistent copy, writers (WAL) are not held up
        dst.execute("PRAGMA journal_mode=DELETE")
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the database copy fails SQLite's check: {check}")
        counts = _sqlite_counts(dst)
    target.chmod(0o600)
    return {"engine": "sqlite", "sqlite_version": sqlite3.sqlite_version, "tables": counts}


def _dump_postgres(place: Place, target: Path) -> dict[str, Any]:
    if shutil.which("pg_dump") is None:
        raise BackupError("pg_dump not found on PATH (install the PostgreSQL client tools)")
    db = place.database
    with _pg_connect(db) as conn:
        with conn.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cursor.fetchone()
            # pg_dump reads the very snapshot these counts are taken in.
            done = subprocess.run(
                ["pg_dump", "--format=custom", f"--snapshot={snapshot}", "--file", str(target)],
                env=_pg_env(db),
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
            counts = _pg_counts(cursor)
        conn.rollback()
    version = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    target.chmod(0o600)
    return {"engine": "postgresql", "server_version": server_version, "pg_dump": version, "tables": counts}


def _media_files(media: Path) -> Iterator[Path]:
    if not media.is_dir():
        return
    for path in sorted(media.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.startswith(".part-"):
            yield path


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("converge")
    except PackageNotFoundError:
        return "unknown"


def backup_create(out: Path, passphrase: bytes, *, place: Place | None = None) -> BackupResult:
    """Write the archive to `out` (via a temporary name: a half-written archive never has it)."""
    place = place or Place.from_environment()
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converge-backup-", dir=out.parent))
    part = out.with_name(out.name + ".part")
    try:
        db_path = staging / DB_MEMBERS[place.engine]
        database = _dump_postgres(place, db_path) if place.engine == "postgresql" else _dump_sqlite(place, db_path)
        members = [Member(DB_MEMBERS[place.engine], db_path)]
        keys = [name for name in KEY_FILES if (place.data_dir / name).is_file()]
        members += [Member(f"keys/{name}", place.data_dir / name) for name in keys]
        media = list(_media_files(place.media))
        members += [Member("media/" + p.relative_to(place.media).as_posix(), p) for p in media]
        for member in members:
            member.size, member.sha256 = _sha256_file(member.path)
        manifest = {
            "format": "converge-backup",
            "format_version": FORMAT_VERSION,
            "converge_version": _version(),
            "python": sys.version.split()[0],
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": {**database, "member": DB_MEMBERS[place.engine]},
            "counts": {
                "tables": len(database["tables"]),
                "rows": sum(database["tables"].values()),
                "keys": len(keys),
                "files": len(media),
                "file_bytes": sum(m.size for m in members if m.name.startswith("media/")),
            },
            "keys": keys,
            "keys_from_environment": [
                var for var in ("SECRET_KEY", "CONVERGE_ENCRYPTION_KEYS") if os.environ.get(var, "").strip()
            ],
            "members": [{"name": m.name, "size": m.size, "sha256": m.sha256} for m in members],
        }
        with _private_open(part) as handle:
            writer = EncryptingWriter(handle, passphrase)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                blob = json.dumps(manifest, indent=1, sort_keys=True).encode()
                tar.addfile(_info(MANIFEST, len(blob)), _BytesSource(blob))
                for member in members:
                    _add(tar, member)
            writer.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, out)
        return BackupResult(out, writer.size, writer.digest.hexdigest(), manifest)
    finally:
        part.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


class _BytesSource:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        part, self.pos = self.data[self.pos : end], min(end, len(self.data))
        return part


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(datetime.now(UTC).timestamp())
    return info


class _HashingSource:
    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _add(tar: tarfile.TarFile, member: Member) -> None:
    try:
        handle = member.path.open("rb")
    except FileNotFoundError:
        raise BackupError(f"{member.name} disappeared during the backup: run it again") from None
    with handle:
        source = _HashingSource(handle)
        tar.addfile(_info(member.name, member.size), source)  # type: ignore[arg-type]
        if source.size != member.size or source.digest.hexdigest() != member.sha256 or handle.read(1):
            raise BackupError(f"{member.name} changed during the backup: run it again")


# --- restore -----------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    written: bool


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or name != path.as_posix():
        raise CorruptArchive(f"archive member with an unsafe name: {name!r}")
    return path


def place_contents(place: Place) -> list[str]:
    """What is already in a place (empty list: safe to restore into)."""
    found = [name for name in KEY_FILES if (place.data_dir / name).exists()]
    if any(_media_files(place.media)):
        found.append("media/")
    try:
        tables = database_counts(place)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot read the database at {place.database['NAME']}: {exc}") from None
    if tables:
        found.append(f"database ({len(tables)} tables, {sum(tables.values())} rows)")
    return found


def _extract(reader: DecryptingReader, staging: Path | None, place: Place | None) -> dict[str, Any]:
    """Read the whole archive, checking each member against the manifest; write members under
    staging (None: only check)."""
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            manifest: dict[str, Any] | None = None
            expected: dict[str, dict[str, Any]] = {}
            seen: set[str] = set()
            for info in tar:
                if manifest is None:
                    if info.name != MANIFEST or not info.isfile() or info.size > 64 << 20:
                        raise CorruptArchive("archive corrupt: it does not start with its manifest")
                    handle = tar.extractfile(info)
                    assert handle is not None
                    manifest = json.loads(handle.read())
                    if manifest.get("format") != "converge-backup":
                        raise CorruptArchive("not a Converge backup (no manifest)")
                    if manifest.get("format_version") != FORMAT_VERSION:
                        raise CorruptArchive(f"backup format {manifest.get('format_version')} is not supported")
                    expected = {m["name"]: m for m in manifest["members"]}
                    engine = manifest["database"]["engine"]
                    if place is not None and engine != place.engine:
                        raise BackupError(
                            f"this backup holds a {engine} database and the place to restore into uses {place.engine}:"
                            " set DATABASE_URL to match"
                        )
                    continue
                name = _safe_name(info.name).as_posix()
                entry = expected.get(name)
                if entry is None or not info.isfile() or name in seen:
                    raise CorruptArchive(f"archive corrupt: unexpected member {name!r}")
                seen.add(name)
                source = tar.extractfile(info)
                assert source is not None
                digest, size = hashlib.sha256(), 0
                target = None
                if staging is not None:
                    target = staging / name
                    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                with _private_open(target) if target is not None else contextlib.nullcontext() as sink:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        size += len(block)
                        if sink is not None:
                            sink.write(block)
                if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
                    raise CorruptArchive(f"archive corrupt: {name} does not match its checksum")
        reader.drain()
    except tarfile.TarError as exc:
        raise CorruptArchive(f"archive corrupt: {exc}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CorruptArchive(f"archive corrupt: bad manifest ({exc})") from None
    if manifest is None:
        raise CorruptArchive("archive corrupt: it holds no manifest")
    missing = set(expected) - seen
    if missing:
        raise CorruptArchive(f"archive incomplete: {len(missing)} members missing (e.g. {sorted(missing)[0]})")
    return manifest


def _open(archive: Path) -> IO[bytes]:
    try:
        return archive.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror}") from None


def backup_check(archive: Path, passphrase: bytes) -> dict[str, Any]:
    """Decrypt and check the whole archive, writing nothing; returns its manifest."""
    with _open(archive) as src:
        return _extract(DecryptingReader(src, passphrase), None, None)


def _restore_sqlite(staged: Path, place: Place) -> None:
    target = Path(str(place.database["NAME"]))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restore")
    shutil.copyfile(staged, tmp)
    tmp.chmod(0o600)
    # A -wal left by the database being replaced would be replayed into the restored one.
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, target)


def _restore_postgres(staged: Path, place: Place, *, force: bool) -> None:
    if shutil.which("pg_restore") is None:
        raise BackupError("pg_restore not found on PATH (install the PostgreSQL client tools)")
    command = ["pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
    if force:
        command += ["--clean", "--if-exists"]
    done = subprocess.run(
        [*command, "--dbname", str(place.database["NAME"]), str(staged)],
        env=_pg_env(place.database),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise BackupError(f"pg_restore failed, the database is unchanged: {last}")


def backup_restore(
    archive: Path,
    passphrase: bytes,
    *,
    place: Place | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RestoreResult:
    place = place or Place.from_environment()
    say = progress or (lambda _text: None)
    if not force and (found := place_contents(place)):
        raise BackupError(
            f"{place.data_dir} is not empty ({', '.join(found)}): restore into an empty data dir and database,"
            " or give --force to replace what is there"
        )
    with _open(archive) as src:
        reader = DecryptingReader(src, passphrase)  # a wrong passphrase stops here
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=place.data_dir))
        try:
            manifest = _extract(reader, staging, place)
            say(f"archive checked: {len(manifest['members'])} members match the manifest")
            db_member = staging / manifest["database"]["member"]
            if place.engine == "postgresql":
                _restore_postgres(db_member, place, force=force)
            else:
                _restore_sqlite(db_member, place)
            counts = database_counts(place)
            wanted = manifest["database"]["tables"]
            wrong = {t: (n, counts.get(t)) for t, n in wanted.items() if counts.get(t) != n}
            if wrong:
                table, (n, got) = next(iter(wrong.items()))
                raise BackupError(f"restored database differs from the backup: {table} has {got} rows, expected {n}")
            say(f"database restored: {len(wanted)} tables, {sum(wanted.values())} rows, counts match")
            for name in manifest["keys"]:
                os.replace(staging / "keys" / name, place.data_dir / name)
            if (staging / "media").is_dir():
                if place.media.exists():
                    os.replace(place.media, staging / "media.replaced")
                os.replace(staging / "media", place.media)
                place.media.chmod(0o700)
            say(f"keys restored: {', '.join(manifest['keys']) or 'none'}; files: {manifest['counts']['files']}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(manifest, True)


def read_passphrase(passphrase_file: str | None, *, creating: bool) -> bytes:
    """From --passphrase-file or CONVERGE_BACKUP_PASSPHRASE (never a command-line argument,
    which other users of the machine can read in the process list)."""
    if passphrase_file:
        path = Path(passphrase_file)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BackupError(f"--passphrase-file: cannot read {path}: {exc.strerror}") from None
        if path.stat().st_mode & 0o077:
            print(f"warning: {path} can be read by other users (chmod 600 it)", file=sys.stderr)
        value = raw.rstrip(b"\r\n")
    else:
        value = os.environ.get("CONVERGE_BACKUP_PASSPHRASE", "").encode()
    if not value:
        raise BackupError("no passphrase: give --passphrase-file FILE or set CONVERGE_BACKUP_PASSPHRASE")
    if creating and len(value) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")
    return value
