"""Django's ASGI handler, with each request's synchronous part on a reused thread.

Django enters a fresh ThreadSensitiveContext per request, and asgiref gives every such context a new
single-thread executor, so every request started (and then stopped) an OS thread. Here each request
borrows an idle single-thread executor and hands it back: the same guarantees (one request's sync
code runs on one thread, away from the event loop) without a thread per request.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

MAX_IDLE_THREADS = 64


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        # Only the event loop's thread touches the list, so no lock is needed.
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, thread_name_prefix="converge-http")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # A request cancelled mid-call may still be running there; later work queues behind it.
            if len(self._idle) < MAX_IDLE_THREADS:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)
