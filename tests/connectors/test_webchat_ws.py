"""The visitor WebSocket (/ws/webchat/<key>/) in process, through the real ASGI application:
origin and token checks, messages into the inbox, staff replies out live or from history, and
staff presence from the staff WebSocket."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client

from converge.config.asgi import application
from converge.connectors.models import StaffPresence
from converge.connectors.webchat import webchat_channel_create, webchat_visitor_start
from converge.conversations.models import Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import message_queue
from converge.providers.types import DeliveryStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SITE = "https://www.sunrise-clinic.example"
FORM = {"name": "Ana Torres", "phone": "", "email": "ana@example.com", "consent": True}


@pytest.fixture(autouse=True)
def _private_channel_layer(settings: Any) -> None:
    layers = dict(django_settings.CHANNEL_LAYERS)
    default = dict(layers["default"])
    if default["BACKEND"].startswith("channels_redis"):
        default["CONFIG"] = {**default.get("CONFIG", {}), "prefix": f"converge-test-{uuid.uuid4().hex}"}
        settings.CHANNEL_LAYERS = {**layers, "default": default}


@pytest_asyncio.fixture(autouse=True)
async def _close_sync_thread_connections() -> Any:
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def widget(practice: Any) -> Any:
    return webchat_channel_create(practice=practice, origins=[SITE], actor=None)


@pytest.fixture
def started(widget: Any) -> Any:
    return webchat_visitor_start(channel=widget, form=FORM, ip="203.0.113.9")


async def open_socket(key: str, token: str, origin: str = SITE) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(
        application,
        f"/ws/webchat/{key}/?token={token}",
        headers=[(b"host", b"inbox.example.org"), (b"origin", origin.encode())],
    )
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_a_website_not_on_the_list_is_refused_at_the_handshake(widget, started):
    communicator, connected, _code = await open_socket(widget.key, started.token, origin="https://evil.example")
    assert not connected
    communicator, connected, _code = await open_socket("no-such-key", started.token)
    assert not connected


async def test_a_bad_token_is_told_to_start_again(widget):
    communicator, connected, _ = await open_socket(widget.key, "v123.wrong")
    assert connected
    assert await communicator.receive_json_from(timeout=5) == {"type": "error", "code": "session"}
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_chat_both_ways_and_history_after_a_reconnect(widget, started, staff):
    communicator, connected, _ = await open_socket(widget.key, started.token)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["messages"] == [] and hello["visitor"] == {"name": "Ana Torres"}
    assert hello["availability"]["notice"]

    await communicator.send_json_to({"type": "message", "id": "c-1", "text": "Do you have Saturday hours?"})
    ack = await communicator.receive_json_from(timeout=5)
    assert ack["type"] == "ack" and ack["id"] == "c-1"
    assert ack["message"]["from"] == "visitor" and ack["message"]["text"] == "Do you have Saturday hours?"
    inbound = await sync_to_async(Message.objects.select_related("contact_point", "conversation").get)(
        pk=ack["message"]["id"]
    )
    assert inbound.contact_point.address == started.visitor.public_id
    assert inbound.metadata["claimed_email"] == "ana@example.com"

    # Staff answer from the inbox: the reply goes through the outbox and arrives live.
    reply = await sync_to_async(message_queue)(
        conversation=inbound.conversation, channel=widget, body="We are closed on Saturdays.", sender=staff
    )
    assert await sync_to_async(outbox_dispatch_batch)() == 1
    pushed = await communicator.receive_json_from(timeout=5)
    assert pushed["type"] == "message"
    assert pushed["message"] == {
        "id": reply.pk,
        "from": "practice",
        "text": "We are closed on Saturdays.",
        "at": pushed["message"]["at"],
    }
    await reply.arefresh_from_db()
    assert reply.status == DeliveryStatus.DELIVERED
    await communicator.disconnect()

    # While the visitor is away another reply is sent; it is in the history on reconnect.
    later = await sync_to_async(message_queue)(
        conversation=inbound.conversation, channel=widget, body="Call us Monday.", sender=staff
    )
    await sync_to_async(outbox_dispatch_batch)()
    await later.arefresh_from_db()
    assert later.status == DeliveryStatus.SENT
    communicator, connected, _ = await open_socket(widget.key, started.token)
    hello = await communicator.receive_json_from(timeout=5)
    assert [(m["from"], m["text"]) for m in hello["messages"]] == [
        ("visitor", "Do you have Saturday hours?"),
        ("practice", "We are closed on Saturdays."),
        ("practice", "Call us Monday."),
    ]
    await later.arefresh_from_db()
    assert later.status == DeliveryStatus.DELIVERED

    # A resend of an acknowledged id (the widget was unsure) does not store it twice.
    await communicator.send_json_to({"type": "message", "id": "c-1", "text": "Do you have Saturday hours?"})
    again = await communicator.receive_json_from(timeout=5)
    assert again["message"]["id"] == inbound.pk
    assert await sync_to_async(Message.objects.filter(direction="in").count)() == 1
    await communicator.disconnect()


async def test_another_visitor_never_sees_the_reply(widget, started, staff):
    other = await sync_to_async(webchat_visitor_start)(channel=widget, form=FORM, ip="203.0.113.10")
    mine, _, _ = await open_socket(widget.key, started.token)
    theirs, _, _ = await open_socket(widget.key, other.token)
    await mine.receive_json_from(timeout=5)
    await theirs.receive_json_from(timeout=5)
    await mine.send_json_to({"type": "message", "id": "a", "text": "hello"})
    ack = await mine.receive_json_from(timeout=5)
    inbound = await sync_to_async(Message.objects.select_related("conversation").get)(pk=ack["message"]["id"])
    await sync_to_async(message_queue)(conversation=inbound.conversation, channel=widget, body="Hi!", sender=staff)
    await sync_to_async(outbox_dispatch_batch)()
    assert (await mine.receive_json_from(timeout=5))["message"]["text"] == "Hi!"
    assert await theirs.receive_nothing(timeout=0.5)
    await mine.disconnect()
    await theirs.disconnect()


async def test_oversized_messages_are_refused_with_a_reason(widget, started):
    communicator, _, _ = await open_socket(widget.key, started.token)
    await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "message", "id": "big", "text": "x" * 2001})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["id"] == "big" and error["code"] == "too_long"
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_staff_websocket_presence_is_tracked(staff):
    client = Client()
    await sync_to_async(client.force_login)(staff.user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    communicator = WebsocketCommunicator(
        application,
        "/ws/staff/",
        headers=[
            (b"host", b"127.0.0.1:8000"),
            (b"origin", b"http://127.0.0.1:8000"),
            (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.receive_json_from(timeout=5)
    for _ in range(50):
        if await sync_to_async(StaffPresence.objects.filter(staff=staff).exists)():
            break
        await asyncio.sleep(0.05)
    assert await sync_to_async(StaffPresence.objects.filter(staff=staff).count)() == 1
    await communicator.disconnect()
    assert not await sync_to_async(StaffPresence.objects.exists)()
