"""First run (issue 17): on an empty database / creates the practice and its administrator,
only from this machine or with the one-time link `converge serve` prints; then it is gone."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from converge.accounts import firstrun
from converge.audit.models import AuditEvent
from converge.practices.models import Practice, Role, StaffMember, Team

pytestmark = pytest.mark.django_db

PASSWORD = "lantern-orchard-4471"
FORM = {
    "practice_name": "Lakeside Clinic",
    "time_zone": "America/Chicago",
    "admin_name": "Ada Admin",
    "email": "ada@lakeside.example",
    "password": PASSWORD,
    "password_again": PASSWORD,
}


@pytest.fixture(autouse=True)
def empty_server() -> Any:
    firstrun._practice_exists = False
    yield
    firstrun._practice_exists = False


def remote() -> Client:
    return Client(REMOTE_ADDR="203.0.113.9")


def test_from_this_machine_the_page_creates_the_practice_and_signs_in() -> None:
    client = Client(REMOTE_ADDR="127.0.0.1")
    page = client.get("/")
    assert page.status_code == 200 and "Set up Converge" in page.content.decode()
    done = client.post("/", FORM)
    assert done.status_code == 302 and done.url == "/welcome/"
    practice = Practice.objects.get()
    assert practice.name == "Lakeside Clinic" and practice.time_zone == "America/Chicago"
    admin = StaffMember.objects.get()
    assert admin.role == Role.ADMIN and admin.user.check_password(PASSWORD)
    welcome = client.get("/welcome/")
    assert welcome.status_code == 200 and "Opening hours" in welcome.content.decode()
    assert AuditEvent.objects.filter(action="practice.first_run").exists()
    # Gone once a practice exists: / is the inbox (or the sign-in), the link a 404.
    assert Client(REMOTE_ADDR="127.0.0.1").get("/").status_code == 302
    assert Client().get("/setup/anything").status_code == 404
    assert client.post("/", FORM).status_code != 200 and Practice.objects.count() == 1


def test_from_elsewhere_only_the_printed_link_opens_it(settings: Any) -> None:
    assert remote().get("/").status_code == 403
    assert remote().post("/", FORM).status_code == 403
    behind_proxy = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert behind_proxy.get("/").status_code == 403  # a local reverse proxy is not "this machine"
    link = firstrun.announce("http://converge.example")
    token = link.rsplit("/", 1)[1]
    assert remote().get("/setup/wrong-token").status_code == 404
    client = remote()
    opened = client.get(f"/setup/{token}")
    assert opened.status_code == 302 and opened.url == "/"
    assert client.get("/").status_code == 200
    assert token not in (settings.DATA_DIR / "setup_token").read_text()  # only its hash is kept
    assert client.post("/", FORM).status_code == 302
    assert not (settings.DATA_DIR / "setup_token").exists()
    assert remote().get(f"/setup/{token}").status_code == 404


def test_a_new_start_replaces_the_link() -> None:
    first = firstrun.announce("http://x").rsplit("/", 1)[1]
    second = firstrun.announce("http://x").rsplit("/", 1)[1]
    assert not firstrun.token_matches(first) and firstrun.token_matches(second)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"practice_name": ""}, "practice_name:"),
        ({"time_zone": "Mars/Olympus"}, "time_zone:"),
        ({"email": "nope"}, "email:"),
        ({"password_again": "other"}, "password:"),
        ({"password": "123", "password_again": "123"}, "password:"),
        ({"admin_name": "x" * 200}, "admin_name:"),
    ],
)
def test_refusals_name_the_field(change: dict[str, str], field: str) -> None:
    response = Client(REMOTE_ADDR="127.0.0.1").post("/", {**FORM, **change})
    assert response.status_code == 400 and field in response.content.decode()
    assert not Practice.objects.exists()


def test_the_post_needs_the_csrf_token() -> None:
    client = Client(REMOTE_ADDR="127.0.0.1", enforce_csrf_checks=True)
    assert client.post("/", FORM).status_code == 403
    assert not Practice.objects.exists()


def test_welcome_saves_hours_and_adds_a_team() -> None:
    client = Client(REMOTE_ADDR="127.0.0.1")
    client.post("/", FORM)
    hours = client.post("/welcome/hours", {"open_0": "on", "opens_0": "09:00", "closes_0": "13:00"})
    assert hours.status_code == 302
    practice = Practice.objects.get()
    assert practice.business_hours["0"] == [["09:00", "13:00"]] and practice.business_hours["1"] == []
    bad = client.post("/welcome/hours", {"open_2": "on", "opens_2": "17:00", "closes_2": "09:00"})
    assert bad.status_code == 400 and "closing must be after opening" in bad.content.decode()
    assert client.post("/welcome/teams", {"name": "Billing"}).status_code == 302
    assert client.post("/welcome/teams", {"name": "Billing"}).status_code == 400
    assert Team.objects.filter(practice=practice, slug="billing").exists()
    assert AuditEvent.objects.filter(action__in=["practice.hours", "practice.team_create"]).count() == 2


def test_serve_prints_the_one_time_link_on_an_empty_database(tmp_path: Any) -> None:
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "PUBLIC_BASE_URL")
    }
    env["CONVERGE_DATA_DIR"] = str(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "converge.cli", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert "one-time link" in first, first
        link = first.split("link: ", 1)[1].strip()
        assert link.startswith(f"http://127.0.0.1:{port}/setup/")
        assert firstrun._digest(link.rsplit("/", 1)[1]) == (tmp_path / "setup_token").read_text()
        assert oct((tmp_path / "setup_token").stat().st_mode & 0o777) == "0o600"
        assert "Converge is running" in server.stdout.readline()
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    assert "Set up Converge" in page.read().decode()
                break
            except OSError:
                import time

                time.sleep(0.1)
        else:
            raise AssertionError("the server did not answer")
    finally:
        server.terminate()
        server.wait(timeout=20)
