"""`converge simulate` delivers through the running server, as the README tells a new user to try it.

The bug (issue 13): the command ran the pipeline in its own process, so without Redis no event
reached the browsers and an urgent message raised no alert until a reload. Now it posts a signed
simulator webhook to PUBLIC_BASE_URL; these tests run it as a user does, a `converge serve`
subprocess and a `converge simulate` subprocess sharing the test database and data dir, with a
nurse's WebSocket open on the server.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect

from converge.cli import main
from converge.conversations.models import Direction, Message
from tests.conversations.test_outbox_processes import (  # noqa: F401 -- spawn is the fixture
    CONVERGE,
    spawn,
    subprocess_env,
    wait_healthy,
)
from tests.providers.email.mailservers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

URGENT = "I have crushing chest pain"


def simulate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # --wait: a server just started trains its triage classifier before its worker takes the first
    # message, which on a busy test machine takes longer than the default 10 s.
    return subprocess.run(
        [str(CONVERGE), "simulate", "--wait", "60", *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def session_for(user: Any) -> str:
    """A session in the database the server reads, as the login page would leave it."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def inbound(text: str) -> list[Message]:
    return [m for m in Message.objects.filter(direction=Direction.INBOUND) if m.body == text]


def test_an_urgent_simulated_message_reaches_a_nurse_websocket_on_the_server(practice, nurse, spawn):
    """Without Redis: the event can only come from the server's own process (its worker lanes)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # PUBLIC_BASE_URL unset: the server takes it from --port; the user gives it to simulate.
    server = spawn("server", "serve", "--port", str(port), PUBLIC_BASE_URL="")
    wait_healthy(server, url)
    session_id = session_for(nurse.user)

    async def scenario() -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        async with connect(
            f"ws://127.0.0.1:{port}/ws/staff/",
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_id}"},
            origin=url,  # type: ignore[arg-type]
            open_timeout=10,
        ) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), timeout=5))["type"] == "hello"
            done = await asyncio.to_thread(
                simulate,
                "--practice",
                practice.slug,
                "--from",
                "+15552017788",
                URGENT,
                PUBLIC_BASE_URL=url,
            )
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while {"message.received", "conversation.urgent"} - {e.get("type") for e in seen}:
                    seen.append(json.loads(await ws.recv()))
            return done, seen

    # On a loop of its own thread: Playwright's sync API may have left a loop running on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        done, seen = pool.submit(asyncio.run, scenario()).result(timeout=90)

    assert done.returncode == 0, done.stdout + done.stderr
    [message] = inbound(URGENT)  # stored once, by the server
    assert message.channel.provider == "simulator" and message.channel.kind == "sms"
    received = [e for e in seen if e["type"] == "message.received"]
    assert received == [
        {"type": "message.received", "conversation_id": message.conversation_id, "message_id": message.pk}
    ]
    assert {"type": "conversation.urgent", "conversation_id": message.conversation_id} in seen
    assert f"Sent to {url}/webhooks/simulator/{message.channel.key}" in done.stdout
    assert (
        f"Stored as message {message.pk} in conversation {message.conversation_id}, category urgent, urgent: yes"
        in done.stdout
    )
    assert URGENT not in done.stdout + done.stderr  # the text is the patient's: not echoed
    assert "note:" not in done.stdout  # nothing to warn about: the server told the browsers

    # The same provider id again: the server dedupes it and the command says so.
    again = simulate(
        "--practice", practice.slug, "--from", "+15552017788", "--id", message.provider_message_id, URGENT,
        PUBLIC_BASE_URL=url,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Duplicate, not stored again: this id is message {message.pk}" in again.stdout
    assert len(inbound(URGENT)) == 1
    assert server.popen.poll() is None
    assert "Traceback" not in server.output(), server.output()


def test_email_and_webchat_simulations_also_go_through_the_server(practice, spawn):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = spawn("server", "serve", "--port", str(port), PUBLIC_BASE_URL="")
    wait_healthy(server, url)
    for kind, sender in (("email", "pat@example.com"), ("webchat", "visitor-4711"), ("whatsapp", "+15552017789")):
        done = simulate(
            "--practice", practice.slug, "--channel", kind, "--from", sender, f"hello by {kind}", PUBLIC_BASE_URL=url
        )
        assert done.returncode == 0, done.stdout + done.stderr
        [message] = inbound(f"hello by {kind}")
        assert message.channel.kind == kind
        assert f"Sent to {url}/webhooks/simulator/{message.channel.key}" in done.stdout
        assert f"Stored as message {message.pk}" in done.stdout
    assert "Traceback" not in server.output(), server.output()


def test_no_server_is_a_clear_error_and_stores_nothing(practice):
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens
    done = simulate("--practice", practice.slug, "--from", "+15552017788", URGENT, PUBLIC_BASE_URL=url)
    assert done.returncode == 2
    assert f"no Converge server answered at {url}" in done.stderr
    assert "--direct" in done.stderr and "--server" in done.stderr
    assert "Traceback" not in done.stderr
    assert inbound(URGENT) == []


def test_direct_runs_the_pipeline_here_and_says_browsers_will_not_see_it_live(practice):
    done = simulate(
        "--practice", practice.slug, "--from", "+15552017788", "--direct", URGENT,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [message] = inbound(URGENT)
    assert f"Stored as message {message.pk} in conversation {message.conversation_id}" in done.stdout
    assert "urgent: yes" in done.stdout
    assert "without REDIS_URL" in done.stdout and "reload" in done.stdout


class _Answer(http.server.BaseHTTPRequestHandler):
    """A server that is not this Converge: answers every POST with the status and body it is given."""

    status = 404
    body = b'{"detail": "unknown channel"}'
    posts: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).posts.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Answer", (_Answer,), {"posts": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, b'{"detail": "unknown channel"}', "has no simulator channel"),
        (401, b'{"detail": "bad signature"}', "refused the signature"),
        (
            400,
            b'{"detail": "messages[0].id is required"}',
            "the server refused the message: messages[0].id is required",
        ),
        (502, b"<html>bad gateway</html>", "answered HTTP 502"),
        (200, b"<html>a web site</html>", "not as a Converge server"),
    ],
)
def test_a_server_that_refuses_or_is_not_converge_is_a_clear_error(
    practice, sms_channel, other_server, capsys, status, body, expected
):
    """What a server using another database (unknown channel, another secret) or another program
    on PUBLIC_BASE_URL answers: one line saying what to check, exit 2, nothing stored here."""
    url, handler = other_server
    handler.status, handler.body = status, body
    assert main(["simulate", "--practice", practice.slug, "--from", "+15552017788", "--server", url, URGENT]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    if status in (401, 404):
        assert "CONVERGE_DATA_DIR" in err and sms_channel.key in err
    assert handler.posts == [f"/webhooks/simulator/{sms_channel.key}"]
    assert inbound(URGENT) == []


def test_a_bad_sender_is_refused_before_anything_is_sent(practice, other_server, capsys):
    url, handler = other_server
    assert main(["simulate", "--practice", practice.slug, "--from", "garbage", "--server", url, "x"]) == 2
    assert "--from" in capsys.readouterr().err
    assert handler.posts == []
