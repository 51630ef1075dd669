"""Test settings: the app's settings, pointed at a throwaway data dir and, when asked, at the
PostgreSQL / Redis given by CONVERGE_TEST_DATABASE_URL / CONVERGE_TEST_REDIS_URL."""

import os
import tempfile

os.environ["CONVERGE_DATA_DIR"] = os.environ.get("CONVERGE_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="converge-test-")
os.environ["DATABASE_URL"] = os.environ.get("CONVERGE_TEST_DATABASE_URL", "")
os.environ["REDIS_URL"] = os.environ.get("CONVERGE_TEST_REDIS_URL", "")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789")
# Each test run gets its own Redis key space (rate-limit counters, channel groups).
# Set, not defaulted: xdist workers inherit the controller's environment, and two workers must
# not share (and clear) each other's keys. Servers started by a test inherit this worker's value.
os.environ["CONVERGE_REDIS_PREFIX"] = f"converge-test-{os.getpid()}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"

from converge.config.settings import *  # noqa: F403
from converge.config.settings import DATA_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; argon2 is tested on its own
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, so worker subprocesses in tests can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    # Durability is not under test here; fsync on every commit only slows the suite down.
    DATABASES["default"]["OPTIONS"]["init_command"] = (  # type: ignore[index]
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA foreign_keys=ON;"
    )

# The test process runs no worker unless a test starts one: /readyz does not expect one here
# (tests/core/test_readyz.py turns it on).
WORKER_EXPECTED = False
