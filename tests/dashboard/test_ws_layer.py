"""The Redis channel layer under a slow Redis and under cancellation (converge/core/redis_layer.py).

Each test starts a Redis of its own, so these run with or without CONVERGE_TEST_REDIS_URL.

- The race: channels_redis's blocking pop and the socket read timeout were both 5 s, so any
  latency on the empty answer killed the consumer with redis.exceptions.TimeoutError. A proxy on
  loopback that delays Redis's replies reproduces it every time (with a 1 s pop, to be quick).
- The hang: Python 3.11's asyncio.wait_for, under which redis-py writes each command, drops a
  cancel that lands as the write completes; the cancelled receive then popped for ever.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from channels_redis.core import RedisChannelLayer
from redis.asyncio.connection import Connection

from converge.config.settings import redis_channel_layer
from converge.core.redis_layer import CancellableConnection, CancellableSSLConnection, layer_host
from tests.redis_server import start_redis, stop_redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    proc, url = start_redis()
    yield url
    stop_redis(proc)


class QuickPopLayer(RedisChannelLayer):
    brpop_timeout = 1


async def delaying_proxy(redis_port: int, delay: float) -> tuple[asyncio.Server, int]:
    """Loopback TCP proxy that holds each reply from Redis for `delay` seconds: a loaded machine."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: float) -> None:
        try:
            while data := await reader.read(65536):
                if hold:
                    await asyncio.sleep(hold)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", redis_port)
        await asyncio.gather(pipe(client_reader, server_writer, 0), pipe(server_reader, client_writer, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def connection_options(url: str) -> dict[str, Any]:
    """The layer's options for one connection made by hand (a pool takes the class apart)."""
    options = layer_host(url)
    del options["connection_class"]
    return options


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def test_a_read_timeout_equal_to_the_pop_kills_the_receive_when_redis_answers_late(redis_url: str) -> None:
    """The reproduction of the race, with the timeouts channels_redis and redis-py gave us."""

    async def scenario() -> None:
        server, port = await delaying_proxy(port_of(redis_url), delay=0.3)
        layer = QuickPopLayer(hosts=[{"address": f"redis://127.0.0.1:{port}/0", "socket_timeout": 1}], prefix="race")
        try:
            channel = await layer.new_channel()
            with pytest.raises(redis.exceptions.TimeoutError):
                await layer.receive(channel)
        finally:
            await layer.close_pools()
            server.close()

    run(scenario())


def test_the_layers_connections_outwait_empty_pops_answered_late_and_still_deliver(redis_url: str) -> None:
    async def scenario() -> None:
        server, port = await delaying_proxy(port_of(redis_url), delay=0.3)
        layer = QuickPopLayer(hosts=[layer_host(f"redis://127.0.0.1:{port}/0", pop_timeout=1)], prefix="outwait")
        try:
            channel = await layer.new_channel()
            receiving = asyncio.ensure_future(layer.receive(channel))
            await asyncio.sleep(2.8)  # two empty pops, each answered 0.3 s late
            assert not receiving.done(), receiving
            await layer.send(channel, {"type": "converge.event", "event": {"type": "ping"}})
            assert await asyncio.wait_for(receiving, timeout=5) == {"type": "converge.event", "event": {"type": "ping"}}
        finally:
            await layer.close_pools()
            server.close()

    run(scenario())


async def cancel_as_the_write_completes(connection: Connection) -> asyncio.Task[None]:
    """Send PING and cancel the sender in the loop step in which its socket write completes: the
    interleaving in which Python 3.11's wait_for returns normally and forgets the cancel."""
    await connection.connect()
    sender = asyncio.ensure_future(connection.send_command("PING"))
    await asyncio.sleep(0)  # the sender now waits in wait_for on the write task
    (write,) = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").endswith("_send_packed_command")
    ]
    write.add_done_callback(lambda _: sender.cancel())
    await asyncio.wait([sender])
    return sender


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12's wait_for keeps the cancel (gh-86296)")
def test_redis_pys_own_connection_loses_a_cancel_that_lands_as_its_write_completes(redis_url: str) -> None:
    """The upstream fault the layer's connections work around, so a Python or redis-py upgrade
    that fixes it shows here."""

    async def scenario() -> None:
        connection = Connection(**connection_options(redis_url))
        sender = await cancel_as_the_write_completes(connection)
        assert not sender.cancelled()
        await connection.disconnect()

    run(scenario())


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the write is no separate task on 3.12")
def test_the_layers_connection_keeps_that_cancel_and_drops_the_socket_with_its_unread_reply(redis_url: str) -> None:
    async def scenario() -> None:
        connection = CancellableConnection(**connection_options(redis_url))
        sender = await cancel_as_the_write_completes(connection)
        assert sender.cancelled()
        assert not connection.is_connected  # the PING's reply must not answer the next command
        await connection.connect()
        await connection.send_command("ECHO", "next")
        assert await connection.read_response() == b"next"
        await connection.disconnect()

    run(scenario())


def test_a_receive_cancelled_at_any_step_ends_at_once(redis_url: str) -> None:
    """A consumer is cancelled when its socket closes, at whatever point its receive is: while
    connecting, writing the pop or waiting on it. Sweep the first loop steps of a fresh receive,
    as test_ws.py's consumers refused at connect were (the 20-minute CI stall)."""

    async def cancel_after(steps: int) -> float:
        config = redis_channel_layer(redis_url, prefix=f"sweep-{steps}")["CONFIG"]
        layer = RedisChannelLayer(**config)
        try:
            receiving = asyncio.ensure_future(layer.receive(await layer.new_channel()))
            for _ in range(steps):
                await asyncio.sleep(0)
            started = time.monotonic()
            receiving.cancel()
            done, _pending = await asyncio.wait([receiving], timeout=2)
            assert done, f"a receive cancelled after {steps} loop steps was still running 2 s later"
            return time.monotonic() - started
        finally:
            await layer.close_pools()

    async def scenario() -> None:
        for steps in range(40):
            assert await cancel_after(steps) < 1

    run(scenario())


def test_the_settings_layer_uses_those_connections_for_every_scheme() -> None:
    config = redis_channel_layer("redis://127.0.0.1:6379/3", prefix="clinic-a")["CONFIG"]
    (host,) = config["hosts"]
    assert host["connection_class"] is CancellableConnection
    assert host["db"] == 3 and config["prefix"] == "clinic-a"
    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout
    assert host["socket_connect_timeout"] is not None
    assert layer_host("rediss://cache.example:6380/0")["connection_class"] is CancellableSSLConnection
