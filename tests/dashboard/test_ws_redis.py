"""Scale-out: a WebSocket event crossing two `converge serve` processes through Redis.

A signed-in staff member opens /ws/staff/ on server A; a patient message arrives by signed
webhook on server B; the `message.received` event reaches the browser on A. Nothing is shared
between the two processes except PostgreSQL (sessions included) and Redis.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect

from converge.conversations.models import Message
from converge.providers.simulator.connector import SIGNATURE_HEADER, sign
from tests.conftest import requires_postgres, requires_redis
from tests.conversations.test_outbox_processes import spawn, wait_healthy  # noqa: F401 -- the fixture
from tests.providers.email.mailservers import free_port

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]


def session_for(user: Any) -> str:
    """A session in the shared database, as the login page would leave it. (Not a POST to
    /login/: its rate limit is counted in Redis per client address, shared by every test run on
    this Redis.)"""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_event_from_a_webhook_on_server_b_reaches_a_websocket_on_server_a(staff, sms_channel, spawn):
    redis = {
        "REDIS_URL": settings.REDIS_URL,
        # A private prefix: other test runs on the same Redis must not hear this one.
        "CONVERGE_REDIS_PREFIX": f"converge-test-{uuid.uuid4().hex}",
    }
    port_a, port_b = free_port(), free_port()
    server_a = spawn("server-a", "serve", "--no-worker", "--port", str(port_a), **redis)
    # B runs its worker: the webhook there only queues the message, and B's worker lane stores it
    # and publishes the event, which reaches A only through Redis.
    server_b = spawn("server-b", "serve", "--port", str(port_b), **redis)
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    wait_healthy(server_a, url_a)
    wait_healthy(server_b, url_b)

    session_id = session_for(staff.user)
    provider_id = f"SM{uuid.uuid4().hex}"
    body = json.dumps({"from": "+15552017788", "text": "can I get a refill?", "id": provider_id}).encode()
    signature = sign(sms_channel.credentials()["webhook_secret"], body)

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with connect(
            f"ws://127.0.0.1:{port_a}/ws/staff/",
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_id}"},
            origin=url_a,  # type: ignore[arg-type]
            open_timeout=10,
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
            async with httpx.AsyncClient(base_url=url_b, timeout=10) as client:
                response = await client.post(
                    f"/webhooks/simulator/{sms_channel.key}",
                    content=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
                )
            assert response.status_code == 200, response.text
            assert response.json() == {"accepted": 1}
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(30):
                while True:
                    event = json.loads(await ws.recv())
                    seen.append(event)
                    if event.get("type") == "message.received":
                        return hello, seen

    # On a loop of its own thread: Playwright's sync API may have left a loop running on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        hello, seen = pool.submit(asyncio.run, scenario()).result(timeout=60)

    assert hello == {"type": "hello", "staff_id": staff.pk}
    message = Message.objects.get(channel=sms_channel, provider_message_id=provider_id)
    assert seen[-1] == {
        "type": "message.received",
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
    }
    for server in (server_a, server_b):
        assert server.popen.poll() is None
        assert "Traceback" not in server.output(), server.output()


def test_serve_with_workers_queues_the_webhook_and_its_worker_process_tells_the_browser(staff, sms_channel, spawn):
    """The production shape on one machine: two web processes on one port, the worker as its own
    (niced) process, webhooks answered from the inbound queue. The event comes from the worker
    process, through Redis, to a WebSocket on whichever web process holds it."""
    port = free_port()
    server = spawn(
        "server",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        REDIS_URL=settings.REDIS_URL,
        CONVERGE_REDIS_PREFIX=f"converge-test-{uuid.uuid4().hex}",
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(server, url)
    session_id = session_for(staff.user)
    provider_id = f"SM{uuid.uuid4().hex}"
    body = json.dumps({"from": "+15552017788", "text": "is the office open Friday?", "id": provider_id}).encode()
    signature = sign(sms_channel.credentials()["webhook_secret"], body)

    async def scenario() -> dict[str, Any]:
        async with connect(
            f"ws://127.0.0.1:{port}/ws/staff/",
            additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_id}"},
            origin=url,  # type: ignore[arg-type]
            open_timeout=10,
        ) as ws:
            await asyncio.wait_for(ws.recv(), timeout=5)  # hello
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                response = await client.post(
                    f"/webhooks/simulator/{sms_channel.key}",
                    content=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
                )
            assert response.status_code == 200, response.text
            assert response.json() == {"accepted": 1}
            async with asyncio.timeout(20):
                while True:
                    event = json.loads(await ws.recv())
                    if event.get("type") == "message.received":
                        return event

    with ThreadPoolExecutor(max_workers=1) as pool:
        event = pool.submit(asyncio.run, scenario()).result(timeout=60)

    message = Message.objects.get(channel=sms_channel, provider_message_id=provider_id)
    assert event["message_id"] == message.pk
    assert server.popen.poll() is None
    server.popen.terminate()  # the supervisor stops its web processes and the worker
    server.popen.wait(timeout=30)
    assert "Traceback" not in server.output(), server.output()
