"""Reading configuration from the environment (12-factor), with one-line errors naming the variable."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured):
    """A bad environment value; the CLI prints it as one line and exits."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}: expected true/false, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum:g}, got {value:g}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def data_dir() -> Path:
    """The data dir: the SQLite database, keys, stored files. Private to the user running
    Converge whatever the shell's umask (explicit modes, not a process umask: that would also
    reach files other programs are meant to read)."""
    path = Path(env_str("CONVERGE_DATA_DIR", "converge-data")).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"CONVERGE_DATA_DIR: cannot create {path}: {exc.strerror}") from None
    make_private(path, 0o700)
    return path


def make_private(path: Path, mode: int) -> None:
    """Take group and other access away from a path Converge owns (one made by an older
    version, or by hand)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if path.stat().st_mode & 0o077:
            path.chmod(mode)


def private_file(path: Path) -> Path:
    """Create path empty with mode 0600 if it is missing (so whatever writes it next, e.g.
    SQLite, keeps that mode), and tighten it if it exists."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    make_private(path, 0o600)
    return path


def secret_key(directory: Path) -> str:
    """SECRET_KEY from the environment, else generated once and kept in the data dir."""
    value = env_str("SECRET_KEY")
    if value:
        if len(value) < 32:
            raise ConfigError("SECRET_KEY: must be at least 32 characters")
        return value
    key_file = directory / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    value = secrets.token_urlsafe(50)
    private_file(key_file).write_text(value)
    return value


def database_config(directory: Path) -> dict[str, object]:
    pool = _pool_options()  # read (and checked) whatever the database, like every variable
    url = env_str("DATABASE_URL")
    if not url:
        # SQLite gives its -wal and -shm files the database file's mode.
        return sqlite_config(private_file(directory / "converge.sqlite3"))
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if not path:
            raise ConfigError("DATABASE_URL: sqlite URL needs a file path (sqlite:///path/db)")
        return sqlite_config(Path(path))
    if parsed.scheme in {"postgres", "postgresql"}:
        name = parsed.path.lstrip("/")
        if not name:
            raise ConfigError("DATABASE_URL: PostgreSQL URL needs a database name")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": parsed.username or "",
            "PASSWORD": parsed.password or "",
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            # Under ASGI every request may run on another thread: persistent connections would
            # pile up (one per thread) and exhaust the server. A pool per process hands each
            # request a warm connection instead of a new one (a new PostgreSQL backend is a fork).
            "CONN_MAX_AGE": 0,
            **pool,
        }
    raise ConfigError(f"DATABASE_URL: unsupported scheme {parsed.scheme!r} (use postgresql:// or sqlite://)")


def _pool_options() -> dict[str, object]:
    size = env_int("DATABASE_POOL_SIZE", 8)
    if size == 0:
        return {}
    return {"OPTIONS": {"pool": {"min_size": 1, "max_size": size, "timeout": 30}}}


def sqlite_config(path: Path) -> dict[str, object]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on busy_timeout
            # instead of failing with "database is locked" when upgrading a read transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        },
    }


def redis_url() -> str:
    url = env_str("REDIS_URL")
    if url and urlparse(url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(f"REDIS_URL: expected redis://, rediss:// or unix://, got {url!r}")
    return url


def public_base_url() -> str:
    url = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ConfigError(f"PUBLIC_BASE_URL: expected an http(s) URL, got {url!r}")
    return url
