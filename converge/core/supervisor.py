"""`converge serve --workers N`: keeping the worker process alive, and no process outliving it.

uvicorn's own supervisor restarts web processes that die. The worker process is ours: a thread of
the supervising process starts it, restarts it when it exits (backoff 1 s doubling to 30 s, reset
after a minute of running) and stops it (SIGTERM, then SIGKILL) at shutdown.

Every child dies with the supervisor, even when the supervisor is SIGKILLed: the supervisor puts
its pid in CONVERGE_SUPERVISOR_PID, and a process whose parent has that pid asks Linux for SIGTERM
when the parent goes (prctl PR_SET_PDEATHSIG) and also watches its parent pid (other systems, and
the moment before prctl took effect).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

log = logging.getLogger("converge.supervisor")

SUPERVISOR_ENV = "CONVERGE_SUPERVISOR_PID"
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
# A worker that ran this long before exiting starts the backoff again from the first step.
HEALTHY_RUN_SECONDS = 60.0
STOP_SECONDS = 15.0
_PR_SET_PDEATHSIG = 1


def supervised() -> bool:
    """True in a direct child of `converge serve --workers` (not in grandchildren)."""
    raw = os.environ.get(SUPERVISOR_ENV, "")
    return raw.isdigit() and os.getppid() == int(raw)


def exit_with_supervisor() -> None:
    """In a child of the supervisor: receive SIGTERM when it dies, however it dies."""
    if not supervised():
        return
    parent = int(os.environ[SUPERVISOR_ENV])
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="converge-parent-watch", daemon=True).start()


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerSupervisor:
    """Runs `argv` as a child process and starts it again whenever it exits, until `stop`."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.env[SUPERVISOR_ENV] = str(os.getpid())
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stop = threading.Event()
        # The thread that starts the child must live as long as the child: Linux sends the
        # parent-death signal when that thread ends, not only when the process does.
        self._thread = threading.Thread(target=self._run, name="converge-worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        delay = BACKOFF_FIRST
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.process = subprocess.Popen(self.argv, env=self.env)
                except OSError as exc:
                    log.error("could not start the worker process (%s)", type(exc).__name__)
                    code = None
                else:
                    while self.process.poll() is None and not self._stop.wait(0.2):
                        pass
                    if self._stop.is_set():
                        break
                    code = self.process.returncode
                if time.monotonic() - started >= HEALTHY_RUN_SECONDS:
                    delay = BACKOFF_FIRST
                what = describe_exit(code) if code is not None else "not started"
                log.error("worker process stopped (%s); restarting it in %g s", what, delay)
                if self._stop.wait(delay):
                    break
                delay = min(BACKOFF_MAX, delay * 2)
                self.restarts += 1
        finally:
            self._terminate()

    def _terminate(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("worker process did not stop within %g s; killing it", STOP_SECONDS)
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_SECONDS + 15)
