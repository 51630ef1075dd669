"""The journey suite: `converge demo` started as the README says (its own fresh data dir, SQLite,
the in-process worker, the production inbound mode), driven through Chromium as the people who
use it would — no API or database shortcuts for the steps under test. Patient messages arrive
the way they do in the demo: `converge simulate`, a signed webhook to the running server.

Each journey saves screenshots to /tmp/shots/journeys/ at 1280×800 (and 768×1024 where the
journey says so)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

# One Chromium set-up and port picker for both browser suites.
from tests.dashboard.browser.conftest import CHROMIUM, CHROMIUM_ARGS, CONVERGE, _free_port

SHOTS = Path("/tmp/shots/journeys")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/journeys" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed"))


def user_env(data_dir: Path) -> dict[str, str]:
    """A shell's environment: nothing of the test settings, a fresh data dir."""
    drop = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PUBLIC_BASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CONVERGE_")}
    env["CONVERGE_DATA_DIR"] = str(data_dir)
    return env


@dataclass
class Demo:
    url: str
    data_dir: Path
    password: str
    logins: dict[str, str]  # role label → first email with it, e.g. "Front desk" → maria@…
    log: Path
    popen: subprocess.Popen[bytes]
    emails: list[tuple[str, str, str]] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def simulate(self, *args: str) -> str:
        """`converge simulate …` as a person would type it (a signed webhook to this server)."""
        result = subprocess.run(
            [str(CONVERGE), "simulate", *args, "--server", self.url],
            env=user_env(self.data_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def db(self) -> sqlite3.Connection:
        """Read-only, for asserting what the journey left behind (never to drive it)."""
        return sqlite3.connect(f"file:{self.data_dir / 'converge.sqlite3'}?mode=ro", uri=True)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    data_dir = tmp_path_factory.mktemp("journey-data")
    port = _free_port()
    log = data_dir.parent / "demo.log"
    with open(log, "wb") as handle:
        popen = subprocess.Popen(
            [str(CONVERGE), "demo", "--port", str(port)],
            env=user_env(data_dir),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if popen.poll() is not None:
            pytest.fail(f"converge demo exited with {popen.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            popen.kill()
            pytest.fail(f"converge demo not up within 180 s:\n{log.read_text(errors='replace')}")
        time.sleep(0.3)
    text = log.read_text(errors="replace")
    password = re.search(r"password for all: (\S+)\)", text).group(1)  # type: ignore[union-attr]
    emails = re.findall(r"^\s+(\S+@\S+)\s+(.+?)\s{2,}(\S.*)$", text, re.M)
    logins: dict[str, str] = {}
    for email, _name, role in emails:
        logins.setdefault(role.strip(), email)
    demo = Demo(url, data_dir, password, logins, log, popen, emails)
    yield demo
    os.killpg(popen.pid, 15)
    try:
        popen.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, 9)
        popen.wait(timeout=10)
    assert "Traceback" not in demo.output(), demo.output()[-3000:]


@pytest.fixture(scope="module")
def chromium(demo: Demo) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Person:
    """One person's browser window: watches for script errors and answers of 500."""

    def __init__(self, context: Any, demo: Demo, name: str) -> None:
        self.context, self.demo, self.name = context, demo, name
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)

    def _console(self, message: Any) -> None:
        # Chromium logs every 4xx as a console error; a refusal the page shows the person (a
        # booking outside working hours: 409) is the product working. 5xx are caught above.
        if message.type == "error" and not message.text.startswith(
            "Failed to load resource: the server responded with a status of 4"
        ):
            self.errors.append(message.text)

    def sign_in(self, role: str) -> Any:
        page = self.page
        page.goto(f"{self.demo.url}/login/")
        page.fill("#email", self.demo.logins[role])
        page.fill("#password", self.demo.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.demo.url}/")
        page.wait_for_selector("body[data-live=connected]", timeout=20000)
        return page

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size or {"width": 0, "height": 0}
        path = SHOTS / f"{name}-{size['width']}x{size['height']}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


@pytest.fixture
def person(chromium: Any, demo: Demo) -> Iterator[Callable[..., Person]]:
    contexts: list[Any] = []
    people: list[Person] = []

    def open_window(name: str = "staff", width: int = 1280, height: int = 800) -> Person:
        context = chromium.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        people.append(Person(context, demo, name))
        return people[-1]

    yield open_window
    for context in contexts:
        context.close()
    problems = [f"{p.name}: {e}" for p in people for e in p.errors if "favicon" not in e]
    assert not problems, "\n".join(problems)
