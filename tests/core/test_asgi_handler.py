"""Requests reuse the threads that run their synchronous part (Django's handler made one each)."""

from __future__ import annotations

import asyncio
import threading

import httpx

from converge.core.asgi_handler import PooledThreadASGIHandler


def run(handler: PooledThreadASGIHandler, requests: int, concurrency: int) -> list[int]:
    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            statuses: list[int] = []

            async def one() -> None:
                statuses.append((await client.get("/healthz")).status_code)

            for start in range(0, requests, concurrency):
                await asyncio.gather(*(one() for _ in range(min(concurrency, requests - start))))
            return statuses

    return asyncio.run(scenario())


def test_sequential_requests_share_one_thread():
    handler = PooledThreadASGIHandler()
    threads_before = threading.active_count()
    assert run(handler, 40, 1) == [200] * 40
    assert len(handler._idle) == 1  # one executor, lent and returned forty times
    assert threading.active_count() <= threads_before + 1


def test_concurrent_requests_borrow_at_most_one_thread_each():
    handler = PooledThreadASGIHandler()
    assert run(handler, 60, 6) == [200] * 60
    assert 1 <= len(handler._idle) <= 6
