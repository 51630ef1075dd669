"""`serve --port` / `demo --port` without PUBLIC_BASE_URL: the links Converge hands out (portal
links, the website chat's script, webhook callbacks) follow the address actually served."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CONVERGE = Path(sys.executable).with_name("converge")


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8100, "http://127.0.0.1:8100"),
        ("localhost", 8000, "http://localhost:8000"),
        ("192.168.1.20", 9000, "http://192.168.1.20:9000"),
        # Every interface: the address this machine itself reaches (set PUBLIC_BASE_URL for others).
        ("0.0.0.0", 8100, "http://127.0.0.1:8100"),
        ("::", 8100, "http://127.0.0.1:8100"),
        ("", 8100, "http://127.0.0.1:8100"),
        ("::1", 8100, "http://[::1]:8100"),
    ],
)
def test_the_default_base_url_follows_the_host_and_port_served(host, port, expected):
    from converge.cli import default_public_base_url

    assert default_public_base_url(host, port) == expected


def test_an_explicit_public_base_url_is_kept(monkeypatch):
    from converge.cli import _public_base_url_default

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://clinic.example")
    _public_base_url_default("127.0.0.1", 8100)
    assert os.environ["PUBLIC_BASE_URL"] == "https://clinic.example"
    monkeypatch.delenv("PUBLIC_BASE_URL")
    _public_base_url_default("127.0.0.1", 8100)
    assert os.environ["PUBLIC_BASE_URL"] == "http://127.0.0.1:8100"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_demo_on_another_port_embeds_that_port_in_the_demo_site(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "PUBLIC_BASE_URL")
    }
    env.update(CONVERGE_DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    log = tmp_path / "demo.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            [str(CONVERGE), "demo", "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/demo-site/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.3)
        assert page.status_code == 200
        html = page.text
        assert f'src="http://127.0.0.1:{port}/widget.js"' in html
        assert ":8000" not in html
        assert "not on the chat's allowed list" not in html  # the widget is enabled on this page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
