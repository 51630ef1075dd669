"""First run in a browser (issue 17): `converge serve` on an empty database prints a one-time
link; a browser that is not on the server (here: behind a proxy header) sees only "not set up"
until it opens the link, then creates the practice and its administrator, is signed in, and
walks through hours, teams and inviting the first staff member."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]
SHOTS = Path("/tmp/shots")
PASSWORD = "lantern-orchard-4471"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_first_run_from_elsewhere_with_the_printed_link(tmp_path: Any) -> None:
    from playwright.sync_api import expect, sync_playwright

    port = _port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "PUBLIC_BASE_URL")
    }
    env.update(CONVERGE_DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [sys.executable, "-m", "converge.cli", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        assert server.stdout is not None
        link = server.stdout.readline().split("link: ", 1)[1].strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "converge serve did not start"
            time.sleep(0.2)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # As a visitor from elsewhere (a proxy header: not "this machine").
            context = chromium.new_context(
                viewport={"width": 1280, "height": 800}, extra_http_headers={"X-Forwarded-For": "203.0.113.9"}
            )
            page = context.new_page()
            page.goto(f"{base}/")
            expect(page.get_by_role("heading", name="This server is not set up yet")).to_be_visible()
            page.goto(link)
            expect(page.get_by_role("heading", name="Set up Converge")).to_be_visible()
            page.get_by_label("Practice name").fill("Lakeside Clinic")
            page.get_by_label("Time zone").select_option("America/Chicago")
            page.get_by_label("Your name").fill("Ada Admin")
            page.get_by_label("Your email (you sign in with it)").fill("ada@lakeside.example")
            page.get_by_label("Choose a password").fill(PASSWORD)
            page.get_by_label("The same password again").fill(PASSWORD)
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / "first-run.png"), full_page=True)
            page.get_by_role("button", name="Create the practice").click()
            expect(page.get_by_role("heading", name="Welcome to Converge, Lakeside Clinic")).to_be_visible()
            page.get_by_label("Sat opens").fill("09:00")
            page.locator("input[name=open_5]").check()
            page.get_by_role("button", name="Save hours").click()
            expect(page.get_by_text("Opening hours saved.")).to_be_visible()
            page.get_by_label("Add a team").fill("Billing")
            page.get_by_role("button", name="Add team").click()
            expect(page.get_by_text("Team Billing added.")).to_be_visible()
            page.screenshot(path=str(SHOTS / "first-run-welcome.png"), full_page=True)
            page.get_by_role("link", name="Settings → Staff").click()
            page.get_by_label("Name", exact=True).fill("Nora Nurse")
            page.get_by_label("Email", exact=True).fill("nora@lakeside.example")
            page.get_by_label("Role", exact=True).select_option("nurse")
            page.get_by_role("button", name="Send invitation").click()
            expect(page.get_by_label("Invitation link")).to_have_value(re.compile(rf"^{base}/invite/.+"))
            invite_link = page.get_by_label("Invitation link").input_value()
            # The invitee signs up through the link and is in the team at once.
            newcomer_context = chromium.new_context(viewport={"width": 1280, "height": 800})
            newcomer = newcomer_context.new_page()
            newcomer.goto(invite_link)
            expect(newcomer.get_by_role("heading", name="Join Lakeside Clinic")).to_be_visible()
            newcomer.get_by_label("Choose a password").fill(PASSWORD + "-nora")
            newcomer.get_by_label("The same password again").fill(PASSWORD + "-nora")
            newcomer.get_by_role("button", name="Set password and sign in").click()
            expect(newcomer.get_by_text("Welcome to Lakeside Clinic, Nora Nurse.")).to_be_visible()
            page.goto(f"{base}/settings/staff/")
            row = page.get_by_role("row").filter(has_text="nora@lakeside.example")
            expect(row).to_contain_text("Active")
            page.screenshot(path=str(SHOTS / "first-run-staff.png"), full_page=True)
            # Disabling her ends her open page at once (its WebSocket is closed; it goes to sign-in).
            page.on("dialog", lambda dialog: dialog.accept())
            row.get_by_role("button", name="Disable").click()
            expect(page.get_by_text("disabled and signed out everywhere")).to_be_visible()
            expect(newcomer).to_have_url(re.compile(r"/login/"), timeout=15000)
            newcomer_context.close()
            context.close()
            # The first-run page is gone: the link is a 404 and / asks to sign in.
            assert httpx.get(link, timeout=5).status_code == 404
            other = chromium.new_context()
            fresh = other.new_page()
            fresh.goto(f"{base}/")
            assert "/login/" in fresh.url
            other.close()
            chromium.close()
        assert not (tmp_path / "setup_token").exists()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
        server.terminate()
        server.wait(timeout=20)
