"""Events published where no ASGI server runs (worker processes, uvicorn --workers) go through
the process's publisher thread on the Redis layer."""

from __future__ import annotations

import asyncio
import threading

from channels.layers import get_channel_layer

from converge.core import events
from tests.conftest import requires_redis

pytestmark = [requires_redis]


def test_event_from_a_plain_thread_reaches_a_subscriber_through_redis():
    layer = get_channel_layer()
    group = "test.publisher"

    async def scenario() -> dict[str, object]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            threads = [
                threading.Thread(target=events.publish_now, args=([group], {"type": "t", "n": n})) for n in range(3)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            received = [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(3)]
            return {"numbers": sorted(m["event"]["n"] for m in received)}
        finally:
            await layer.group_discard(group, channel)

    assert asyncio.run(scenario()) == {"numbers": [0, 1, 2]}
    assert events._publisher is not None and events._publisher.is_running()  # one loop, reused
