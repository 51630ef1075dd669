"""A cleanly stopped worker removes its heartbeat row: `converge serve` (the worker in its process)
and `converge worker`, started for real and sent SIGTERM or SIGINT, exit 0 within a few seconds
and leave no row, so /readyz and the dashboard do not show a stopped worker as alive until its row
goes stale. The processes share the test database (committed data, hence `transactional_db`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from converge.core.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db(transaction=True)

CONVERGE = Path(sys.executable).with_name("converge")
STOPPED_WITHIN = 8.0  # seconds: the worker's own stop takes under one (its lanes are idle)


def subprocess_env() -> dict[str, str]:
    """A `converge` process on this test's database and data dir, beating every 0.2 s."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "converge.config.settings"
    if db["ENGINE"].endswith("postgresql"):
        auth = quote(db["USER"] or "")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"])
        port = f":{db['PORT']}" if db["PORT"] else ""
        env["DATABASE_URL"] = f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{Path(db['NAME']).resolve()}"
    env.update(
        CONVERGE_DATA_DIR=str(settings.DATA_DIR),
        REDIS_URL="",
        LOG_LEVEL="INFO",
        CONVERGE_WORKER_HEARTBEAT_SECONDS="0.2",
    )
    return env


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    """Start `converge <args>`; killed at teardown whatever happened."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{args[0]}.log"
        with open(log, "wb") as handle:
            popen = subprocess.Popen(
                [str(CONVERGE), *args],
                env=subprocess_env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=str(tmp_path),
                start_new_session=True,
            )
        procs.append(popen)
        return popen, log

    yield start
    for popen in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)


def wait_for_heartbeat(popen: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> str:
    """The worker id of the process's heartbeat row, once it is there."""
    deadline = time.monotonic() + timeout
    while True:
        row = WorkerHeartbeat.objects.filter(worker_id__contains=f":{popen.pid}:").first()
        if row is not None:
            return row.worker_id
        if popen.poll() is not None:
            pytest.fail(f"exited with {popen.returncode} before its heartbeat:\n{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"no heartbeat within {timeout}s:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize(
    "command", [("serve", "--port", "0", "--host", "127.0.0.1"), ("worker",)], ids=["serve", "worker"]
)
def test_a_stopped_worker_removes_its_heartbeat(
    spawn: Callable[..., tuple[subprocess.Popen[bytes], Path]], command: tuple[str, ...], sig: signal.Signals
) -> None:
    popen, log = spawn(*command)
    worker_id = wait_for_heartbeat(popen, log)
    time.sleep(0.5)  # a few beats: the heartbeat thread is running, not only the first row
    sent = time.monotonic()
    popen.send_signal(sig)
    try:
        code = popen.wait(timeout=STOPPED_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOPPED_WITHIN}s after {sig.name}:\n{log.read_text(errors='replace')}")
    took = time.monotonic() - sent
    output = log.read_text(errors="replace")
    assert code == 0, f"exit code {code} after {sig.name}:\n{output}"
    assert not WorkerHeartbeat.objects.filter(worker_id=worker_id).exists(), output
    assert "worker stopped" in output, output
    print(f"converge {command[0]}: stopped {took:.1f} s after {sig.name}, heartbeat row removed")


def test_a_stop_during_a_lanes_warm_up_does_not_wait_for_it() -> None:
    """The triage model loads for seconds at a worker's start and cannot be interrupted: a stop
    then (a deploy right after a start) is not held up by it, and the heartbeat row still goes."""
    import threading

    from converge.core.worker import Lane, run_worker

    loading, release, stop = threading.Event(), threading.Event(), threading.Event()
    steps: list[str] = []

    def warm() -> None:
        loading.set()
        release.wait(30)

    def step(worker_id: str, stop: threading.Event) -> int:
        steps.append(worker_id)
        return 0

    worker = threading.Thread(
        target=run_worker, args=(stop,), kwargs={"lanes": [Lane("slow", step, warm=warm)], "claims": [], "jobs": {}}
    )
    worker.start()
    try:
        assert loading.wait(10)
        assert WorkerHeartbeat.objects.exists()
        stop.set()
        started = time.monotonic()
        worker.join(timeout=5)
        assert not worker.is_alive()
        assert time.monotonic() - started < 2
        assert not WorkerHeartbeat.objects.exists()
        assert steps == []  # stopped before it was warm: no step taken
    finally:
        stop.set()
        release.set()
        worker.join(timeout=10)
