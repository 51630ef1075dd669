"""The Redis channel layer's connections must outwait its own blocking reads.

channels_redis waits for a consumer's next event with BZPOPMIN and a 5-second server-side
timeout; redis-py 8 gives every connection a 5-second socket read timeout by default. With
both at 5 s, a loaded machine let the client give up first: the consumer died with
`redis.exceptions.TimeoutError` and the browser's WebSocket dropped without a close frame.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer
from channels_redis.utils import create_pool

from converge.config.settings import redis_channel_layer


def test_the_socket_read_timeout_outlasts_the_blocking_pop() -> None:
    config = redis_channel_layer("redis://127.0.0.1:6379/0", prefix="converge-test")
    layer = RedisChannelLayer(**config["CONFIG"])
    pool = create_pool(layer.hosts[0])
    read_timeout = pool.connection_kwargs.get("socket_timeout")
    assert read_timeout is not None, "a dead Redis must not hang a consumer for ever"
    assert read_timeout >= 2 * layer.brpop_timeout
    assert pool.connection_kwargs.get("socket_connect_timeout") is not None


def test_the_layer_keeps_the_url_and_prefix() -> None:
    config = redis_channel_layer("redis://127.0.0.1:6379/3", prefix="clinic-a")
    layer = RedisChannelLayer(**config["CONFIG"])
    assert layer.prefix == "clinic-a"
    assert create_pool(layer.hosts[0]).connection_kwargs["db"] == 3
