"""Connections for the Redis channel layer that neither race its blocking pop nor lose a cancel.

channels_redis waits for a consumer's next event with BZPOPMIN and a 5 s server-side timeout,
and loops when the pop comes back empty. Two things went wrong with redis-py's defaults:

- The socket read timeout is 5 s too: a loaded process saw the client give up before the
  server's empty answer arrived, and the consumer died with ``redis.exceptions.TimeoutError``.
  The read timeout here outwaits the pop.
- redis-py writes every command under ``asyncio.wait_for``. On Python 3.11, ``wait_for`` returns
  the inner result and drops the caller's cancellation when the write finished in the same loop
  step as the cancel (CPython gh-86296, fixed in 3.12). A consumer cancelled then (its browser
  gone, or test shutdown) went on popping for ever: the 5 s read timeout used to end it with an
  error; with a longer read timeout nothing did, and shutdown hung. The connections here re-raise
  the lost cancellation, and drop the socket, because the command's reply is still unread.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
    parse_url,
)

POP_TIMEOUT = RedisChannelLayer.brpop_timeout
CONNECT_TIMEOUT = 5


class _CancelIsNeverLost(AbstractConnection):
    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        task = asyncio.current_task()
        requested = task.cancelling() if task is not None else 0
        await super().send_packed_command(command, check_health)
        if task is not None and task.cancelling() > requested:
            await self.disconnect(nowait=True)
            raise asyncio.CancelledError


class CancellableConnection(_CancelIsNeverLost, Connection):
    pass


class CancellableSSLConnection(_CancelIsNeverLost, SSLConnection):
    pass


class CancellableUnixConnection(_CancelIsNeverLost, UnixDomainSocketConnection):
    pass


_CANCELLABLE: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: CancellableConnection,
    SSLConnection: CancellableSSLConnection,
    UnixDomainSocketConnection: CancellableUnixConnection,
}


def layer_host(url: str, *, pop_timeout: float = POP_TIMEOUT) -> dict[str, Any]:
    """One entry of the layer's ``hosts``: the URL's options, with the connection class chosen
    by its scheme (redis, rediss, unix) and a read timeout that outwaits the blocking pop yet is
    finite, so a Redis that stops answering is noticed."""
    options: dict[str, Any] = dict(parse_url(url))
    options["connection_class"] = _CANCELLABLE[options.get("connection_class", Connection)]
    options["socket_timeout"] = 3 * pop_timeout
    options["socket_connect_timeout"] = CONNECT_TIMEOUT
    return options
