"""The staff WebSocket (/ws/staff/) in process, through the real ASGI application: who may
connect, and which events reach whom. Runs on whichever channel layer the settings configure
(in-memory, or Redis when CONVERGE_TEST_REDIS_URL is set).

Each test body is a coroutine run on a fresh event loop in a thread of its own (`in_own_loop`), not
by pytest-asyncio on the main thread: Playwright's sync API, used by the browser tests in the same
session, leaves an event loop running there."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.test import Client

from converge.config.asgi import application
from converge.connectors.services import simulator_channel_create
from converge.dashboard.idle import LAST_ACTIVITY_KEY
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://127.0.0.1:8000"


@pytest.fixture(autouse=True)
def _private_channel_layer(settings: Any) -> None:
    """Tests sharing a Redis server must not hear each other's practice groups."""
    layers = dict(django_settings.CHANNEL_LAYERS)
    default = dict(layers["default"])
    if default["BACKEND"].startswith("channels_redis"):
        default["CONFIG"] = {**default.get("CONFIG", {}), "prefix": f"converge-test-{uuid.uuid4().hex}"}
        settings.CHANNEL_LAYERS = {**layers, "default": default}


def in_own_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop and thread. The consumer's and the test's sync code
    run on asgiref's one sync thread; its database connections are closed at the end, before the
    test database is flushed."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        async def main() -> None:
            try:
                await test(*args, **kwargs)
            finally:
                await sync_to_async(connections.close_all)()

        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, main()).result(timeout=60)

    return run


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


async def connect(session_key: str | None = None, origin: bytes = ORIGIN) -> tuple[WebsocketCommunicator, bool, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin)]
    if session_key:
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/staff/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def connect_staff(staff: Any) -> WebsocketCommunicator:
    key = await sync_to_async(session_cookie)(staff.user)
    communicator, connected, code = await connect(key)
    assert connected, code
    assert await communicator.receive_json_from(timeout=5) == {"type": "hello", "staff_id": staff.pk}
    return communicator


async def next_event(communicator: WebsocketCommunicator) -> dict[str, Any]:
    event: dict[str, Any] = await communicator.receive_json_from(timeout=5)
    return event


async def events_until_received(communicator: WebsocketCommunicator, message: Any) -> list[dict[str, Any]]:
    """Events up to the `message.received` for `message` (routing may publish others first, such
    as an automatic reply being queued)."""
    seen = []
    while True:
        event = await next_event(communicator)
        seen.append(event)
        if event.get("type") == "message.received" and event.get("message_id") == message.pk:
            assert event == {
                "type": "message.received",
                "conversation_id": message.conversation_id,
                "message_id": message.pk,
            }
            return seen


async def drain(communicator: WebsocketCommunicator, quiet: float = 0.3) -> list[dict[str, Any]]:
    events = []
    while not await communicator.receive_nothing(timeout=quiet):
        events.append(await next_event(communicator))
    return events


@in_own_loop
async def test_anonymous_connection_is_refused(db: Any) -> None:
    communicator, connected, code = await connect(None)
    assert not connected
    assert code == 4401


@in_own_loop
async def test_unknown_session_is_refused(db: Any) -> None:
    communicator, connected, code = await connect("not-a-session-key")
    assert not connected
    assert code == 4401


@in_own_loop
async def test_foreign_origin_is_refused(staff: Any) -> None:
    key = await sync_to_async(session_cookie)(staff.user)
    communicator, connected, _code = await connect(key, origin=b"https://evil.example")
    assert not connected


@in_own_loop
async def test_disabled_staff_member_is_refused(staff: Any) -> None:
    key = await sync_to_async(session_cookie)(staff.user)
    staff.is_active = False
    await sync_to_async(staff.save)(update_fields=["is_active"])
    communicator, connected, code = await connect(key)
    assert not connected
    assert code == 4401


@in_own_loop
async def test_idle_session_is_refused(staff: Any) -> None:
    def idle_session() -> str:
        key = session_cookie(staff.user)
        session = SessionStore(session_key=key)
        session[LAST_ACTIVITY_KEY] = time.time() - 3600  # the practice's timeout is 15 minutes
        session.save()
        return key

    key = await sync_to_async(idle_session)()
    communicator, connected, code = await connect(key)
    assert not connected
    assert code == 4401


@in_own_loop
async def test_session_still_owing_its_second_factor_is_refused(staff: Any) -> None:
    """After the password step of an enrolled person the session is not signed in (it holds
    only who is pending: accounts/flow.py). The WebSocket must not be a way around it."""

    def password_only_session() -> str:
        from django.test import Client

        from converge.accounts import services as account_services
        from tests.helpers import PASSWORD

        device = account_services.mfa_enrollment_start(staff)
        device.confirmed = True
        device.save()
        client = Client()
        assert client.post("/login/", {"email": staff.user.email, "password": PASSWORD}).url == "/login/verify"
        return str(client.cookies["sessionid"].value)

    key = await sync_to_async(password_only_session)()
    communicator, connected, code = await connect(key)
    assert not connected
    assert code == 4401


@in_own_loop
async def test_staff_receive_their_practices_messages_and_never_another_practices(
    practice: Any, other_practice: Any, staff: Any
) -> None:
    other_staff = await sync_to_async(make_staff)(other_practice, "Omar Reyes")
    ours = await sync_to_async(simulator_channel_create)(practice=practice, kind="sms")
    theirs = await sync_to_async(simulator_channel_create)(practice=other_practice, kind="sms")
    mine = await connect_staff(staff)
    other = await connect_staff(other_staff)
    try:
        theirs_received = (await sync_to_async(receive)(theirs, "+15552017788", "harbor patient")).message
        seen_by_other = await events_until_received(other, theirs_received)
        assert {e.get("conversation_id") for e in seen_by_other} == {theirs_received.conversation_id}

        ours_received = (await sync_to_async(receive)(ours, "+15552017799", "sunrise patient")).message
        # Events on one connection arrive in order: had anything about the other practice's
        # message reached us, it would come before our own message's events.
        seen_by_mine = await events_until_received(mine, ours_received)
        assert {e.get("conversation_id") for e in seen_by_mine} == {ours_received.conversation_id}
        assert await drain(mine) == []
        assert [e for e in await drain(other) if e.get("conversation_id") != theirs_received.conversation_id] == []
    finally:
        await mine.disconnect()
        await other.disconnect()


@in_own_loop
async def test_presence_is_relayed_to_colleagues_of_the_same_practice_only(
    practice: Any, other_practice: Any, staff: Any, nurse: Any
) -> None:
    outsider = await sync_to_async(make_staff)(other_practice, "Omar Reyes")
    maria = await connect_staff(staff)
    grace = await connect_staff(nurse)
    omar = await connect_staff(outsider)
    try:
        await maria.send_json_to({"type": "presence.viewing", "conversation_id": 42})
        assert await next_event(grace) == {
            "type": "presence.viewing",
            "conversation_id": 42,
            "staff_id": staff.pk,
            "staff_name": staff.display_name,
        }
        # Malformed presence and anything that is not presence are dropped, not relayed: a
        # consumer handles one client's frames in order, so grace's next event is the "left".
        await maria.send_json_to({"type": "presence.viewing", "conversation_id": "42; DROP"})
        await maria.send_json_to({"type": "message.received", "conversation_id": 1, "message_id": 1})
        await maria.send_json_to(["presence.typing", 42])
        await maria.send_json_to({"type": "presence.left", "conversation_id": 42})
        assert await next_event(grace) == {
            "type": "presence.left",
            "conversation_id": 42,
            "staff_id": staff.pk,
            "staff_name": staff.display_name,
        }
        assert await grace.receive_nothing(timeout=0.3)
        assert await omar.receive_nothing(timeout=0.3)
    finally:
        await maria.disconnect()
        await grace.disconnect()
        await omar.disconnect()
