"""Web hardening: headers, rate limits, deploy checks."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.test import Client

from tests.conftest import clear_cache

pytestmark = pytest.mark.django_db


def test_pages_carry_csp_without_inline_scripts_and_no_store(practice):
    response = Client().get("/login/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


def connect_src(response) -> str:
    directives = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    return directives["connect-src"]


@pytest.mark.parametrize(
    ("host", "secure", "expected"),
    [
        ("testserver", False, "'self' ws://testserver"),
        ("127.0.0.1:8000", False, "'self' ws://127.0.0.1:8000"),
        ("converge.example", True, "'self' wss://converge.example"),
        ("converge.example:8443", True, "'self' wss://converge.example:8443"),
    ],
)
def test_csp_lets_sockets_reach_this_origin_only(practice, settings, host, secure, expected):
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1", "converge.example"]
    response = Client().get("/login/", headers={"Host": host}, secure=secure)
    assert connect_src(response) == expected  # never bare ws: / wss:, which allow any host


def test_csp_of_a_request_for_a_foreign_host_names_no_socket_origin(practice):
    response = Client().get("/login/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert connect_src(response) == "'self'"


def test_no_inline_script_in_staff_pages(staff_client, sms_channel):
    import re

    from tests.helpers import receive

    conversation = receive(sms_channel, "+15552017788", "hi").message.conversation
    for url in ("/", f"/c/{conversation.pk}/", "/patients/", "/login/"):
        html = staff_client.get(url).content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, (url, tag)
        assert not re.search(r"\son[a-z]+=\"", html), url  # no inline event handlers


def test_webhook_flood_is_throttled(db, settings):
    clear_cache()
    from converge.core import throttle

    client = Client()
    limit = {prefix: n for prefix, n, _methods in throttle.LIMITS}["/portal/"]
    codes = [client.post("/portal/t/nope", {"year": "1"}).status_code for _ in range(limit + 3)]
    assert codes[0] == 400 and codes[-1] == 429
    assert client.get("/portal/t/nope").status_code == 404  # reading is not limited
    clear_cache()


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DEBUG")
    }
    env.update(
        CONVERGE_DATA_DIR=str(tmp_path),
        PUBLIC_BASE_URL="https://inbox.example.org",
        SECRET_KEY=secrets.token_urlsafe(50),
    )
    result = subprocess.run(
        [sys.executable, "-m", "converge.cli", "manage", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
