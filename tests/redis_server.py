"""A Redis server of a test's own, on a loopback port: fault tests stop it mid-run and start it
again, which the shared Redis of CI must never see."""

from __future__ import annotations

import subprocess
import time

import redis

from tests.providers.email.mailservers import free_port


def start_redis(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """(the process, its URL) once it answers PING; `port` restarts one on the same address."""
    port = port or free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, url
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.05)


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)
