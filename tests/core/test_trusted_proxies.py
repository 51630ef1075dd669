"""X-Forwarded-For is believed only from configured reverse proxies, through a real server."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn

from converge.cli import _proxy_options, _uvicorn_options


def test_no_proxy_is_trusted_by_default(monkeypatch):
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    options = _uvicorn_options("127.0.0.1", 8000)
    assert options["proxy_headers"] is False


def test_named_proxies_are_passed_to_uvicorn():
    assert _proxy_options(" 10.0.0.5 , 127.0.0.1 ") == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.5,127.0.0.1",
    }


async def _client_seen(options: dict[str, object]) -> str:
    """The client address an ASGI app sees when a loopback caller sends X-Forwarded-For."""
    seen: list[str] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["client"][0])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", **options)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n")
    await writer.drain()
    await reader.read()
    writer.close()
    server.should_exit = True
    await task
    return seen[0]


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9"), ("10.9.9.9", "127.0.0.1")],
)
def test_forwarded_for_only_from_trusted_peer(trusted, expected):
    assert asyncio.run(_client_seen(_proxy_options(trusted))) == expected
