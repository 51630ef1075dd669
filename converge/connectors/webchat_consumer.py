"""The visitor's WebSocket at /ws/webchat/<channel key>/?token=<visitor token>.

The handshake is refused (HTTP 403) unless the page's Origin is on the channel's allow-list; a
bad or expired token is accepted and then closed with code 4401 so the widget knows to show the
pre-chat form again. On connect the visitor gets the thread from the database (a reconnect
re-reads, so nothing is lost while offline), then live replies.

Frames from the widget: {"type": "message", "id": <client id>, "text": ...} and {"type": "ping"}.
Frames to it: hello (history + availability), ack, message, error, pong.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from converge.connectors.models import WebchatVisitor
from converge.connectors.webchat import (
    ip_hash,
    message_json,
    origin_allowed,
    rate_window_hit,
    webchat_history,
    webchat_message_for_visitor,
    webchat_message_receive,
    webchat_messages_delivered,
    webchat_visitor_for_token,
    widget_channel,
)
from converge.connectors.webchat_availability import practice_availability
from converge.connectors.webchat_sender import visitor_group
from converge.core.metrics import WEBSOCKETS
from converge.providers.webchat.protocol import WebchatError

log = logging.getLogger(__name__)

CONNECTS_PER_IP_PER_MINUTE = 30
CLOSE_BAD_TOKEN = 4401
CLOSE_RATE_LIMITED = 4429


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class WebchatConsumer(AsyncJsonWebsocketConsumer):
    visitor: WebchatVisitor | None = None
    group: str = ""
    ip: str = ""
    counted = False  # in the WebSocket gauge of /metrics

    async def connect(self) -> None:
        key = str(self.scope["url_route"]["kwargs"].get("key", ""))
        client = self.scope.get("client") or ("", 0)
        self.ip = str(client[0] or "")
        token = (parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("token") or [""])[0]
        verdict = await self._check(key, _header(self.scope, b"origin"), token)
        if verdict == "refuse":
            await self.close()  # before accept: the handshake fails with 403
            return
        await self.accept()
        WEBSOCKETS.labels(kind="webchat").inc()
        self.counted = True
        if verdict != "ok" or self.visitor is None:
            await self.send_json({"type": "error", "code": verdict})
            await self.close(code=CLOSE_RATE_LIMITED if verdict == "rate_limited" else CLOSE_BAD_TOKEN)
            return
        self.group = visitor_group(self.visitor.public_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(await self._hello())

    @database_sync_to_async
    def _check(self, key: str, origin: str | None, token: str) -> str:
        channel = widget_channel(key)
        if channel is None or not origin_allowed(channel, origin):
            log.info("webchat handshake refused channel_known=%s", channel is not None)
            return "refuse"
        if not rate_window_hit(f"webchat:connect:{ip_hash(self.ip)}", CONNECTS_PER_IP_PER_MINUTE, 60):
            return "rate_limited"
        self.visitor = webchat_visitor_for_token(channel=channel, token=token)
        return "ok" if self.visitor is not None else "session"

    @database_sync_to_async
    def _hello(self) -> dict[str, Any]:
        assert self.visitor is not None
        history = webchat_history(visitor=self.visitor)
        webchat_messages_delivered(visitor=self.visitor, message_ids=[m.pk for m in history if m.direction == "out"])
        channel = self.visitor.channel
        return {
            "type": "hello",
            "visitor": {"name": self.visitor.name},
            "messages": [message_json(m) for m in history],
            "availability": practice_availability(channel.practice).as_json(),
        }

    async def disconnect(self, code: int) -> None:
        if self.counted:
            self.counted = False
            WEBSOCKETS.labels(kind="webchat").dec()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.visitor is None or not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "message":
            client_id = content.get("id")
            try:
                message = await self._receive(content.get("text"), client_id)
            except WebchatError as exc:
                await self.send_json({"type": "error", "id": client_id, "code": exc.code, "detail": str(exc)})
                return
            await self.send_json({"type": "ack", "id": client_id, "message": message})

    @database_sync_to_async
    def _receive(self, text: Any, client_id: Any) -> dict[str, Any]:
        assert self.visitor is not None
        message = webchat_message_receive(visitor=self.visitor, text=text, client_id=client_id, ip=self.ip)
        return message_json(message)

    async def converge_event(self, message: dict[str, Any]) -> None:
        event = message.get("event") or {}
        if event.get("type") == "webchat.message" and isinstance(event.get("message_id"), int):
            payload = await self._outbound(event["message_id"])
            if payload is not None:
                await self.send_json({"type": "message", "message": payload})

    @database_sync_to_async
    def _outbound(self, message_id: int) -> dict[str, Any] | None:
        assert self.visitor is not None
        row = webchat_message_for_visitor(visitor=self.visitor, message_id=message_id)
        if row is None:
            return None
        webchat_messages_delivered(visitor=self.visitor, message_ids=[row.pk])
        return message_json(row)
