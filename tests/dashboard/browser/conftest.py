"""Browser tests: a real `converge serve` on the test database, driven by Debian's Chromium
through Playwright. Skipped only when /usr/bin/chromium is missing.

The server is started once per session against the test database (SQLite file or PostgreSQL)
and the test data dir; tests use `transactional_db`, so what a test writes is committed and
visible to the server, and is flushed afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONVERGE = Path(sys.executable).with_name("converge")
SHOTS = Path("/tmp/shots")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/dashboard/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(port: int) -> dict[str, str]:
    """The environment of the test process, pointed at the test database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "converge.config.settings"
    if db["ENGINE"].endswith("postgresql"):
        auth = quote(db["USER"] or "")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"])
        host = db["HOST"] or "127.0.0.1"
        env["DATABASE_URL"] = f"postgresql://{auth}@{host}{':' + str(db['PORT']) if db['PORT'] else ''}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{Path(db['NAME']).resolve()}"
    env["CONVERGE_DATA_DIR"] = str(settings.DATA_DIR)
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["REDIS_URL"] = getattr(settings, "REDIS_URL", "") or ""
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    env["LOG_LEVEL"] = "WARNING"
    return env


class Server:
    """`converge serve` on the test database; `restart` stops it and starts it again on the same
    port (what a lost connection looks like to the browser)."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.url = f"http://127.0.0.1:{port}"
        self.popen: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        with open(self.log, "ab") as handle:
            self.popen = subprocess.Popen(
                [str(CONVERGE), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=server_env(self.port),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.popen.poll() is not None:
                pytest.fail(f"converge serve exited with {self.popen.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"converge serve not healthy within 60s:\n{self.output()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


@pytest.fixture(scope="session")
def server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from django.conf import settings

    port = _free_port()
    server = Server(port, Path(settings.DATA_DIR) / f"browser-serve-{port}.log")
    server.start()
    print(f"\nconverge serve log: {server.log}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    """Closed after each module: Playwright's sync API keeps an event loop on the main thread,
    which other modules' browsers and tests that call asyncio.run() cannot share."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20000)  # busy CI machines; a passing run does not wait this long

    # Playwright's sync API keeps an event loop on this thread; the test's own database calls
    # are still synchronous, so tell Django not to refuse them while the browser is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Browsing:
    """A browser context with what the tests watch for: console errors and dialogs."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.page = context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)

    def login(self, staff: Any) -> Any:
        page = self.page
        page.goto(f"{self.base_url}/login/")
        page.fill("#email", staff.user.email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.base_url}/")
        page.wait_for_selector("#conversation-list")
        wait_connected(page)
        return page


def wait_connected(page: Any) -> None:
    """live.js marks the body once its WebSocket is open."""
    page.wait_for_selector("body[data-live=connected]", timeout=20000)


@pytest.fixture
def browse(browser: Any, server: Server, transactional_db: Any) -> Iterator[Callable[..., Browsing]]:
    contexts: list[Any] = []

    def open_context(width: int = 1280, height: int = 800) -> Browsing:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        return Browsing(context, server.url)

    yield open_context
    for context in contexts:
        context.close()


from tests.helpers import PASSWORD  # noqa: E402


def server_password(staff: Any) -> None:
    """The server runs with the production hashers, not the test settings' fast MD5: give the
    account a cheap PBKDF2 hash it can verify."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    staff.user.password = PBKDF2PasswordHasher().encode(PASSWORD, uuid.uuid4().hex[:12], iterations=1000)
    staff.user.save(update_fields=["password"])


@pytest.fixture
def maria(staff: Any) -> Any:
    server_password(staff)
    return staff


@pytest.fixture
def grace(nurse: Any) -> Any:
    server_password(nurse)
    return nurse


def post_inbound(server: Server, channel: Any, sender: str, text: str, **extra: Any) -> dict[str, Any]:
    """A patient message through the signed simulator webhook of the running server, returned
    once the server's worker has put it in the inbox (the webhook only queues it)."""
    from converge.conversations.models import Message
    from converge.providers.simulator.connector import SIGNATURE_HEADER, sign

    payload = {"from": sender, "text": text, "id": f"browser-{uuid.uuid4()}", **extra}
    body = json.dumps(payload).encode()
    response = httpx.post(
        f"{server.url}/webhooks/simulator/{channel.key}",
        content=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(channel.credentials()["webhook_secret"], body),
        },
        timeout=30,  # generous: shared CI machines are sometimes very busy
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    # Generous: the server's worker trains its triage classifier before it takes the first message.
    deadline = time.monotonic() + 60
    while not Message.objects.filter(channel=channel, provider_message_id=payload["id"]).exists():
        assert time.monotonic() < deadline, f"the server's worker did not store the message:\n{server.output()}"
        time.sleep(0.05)
    return result


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
