"""The staff WebSocket at /ws/staff/: pushes id-only events for the member's practice, teams
and self. Presence ("Maria is viewing/typing") rides on the practice group."""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from converge.connectors.webchat_availability import staff_presence_join, staff_presence_leave
from converge.core import events
from converge.core.metrics import WEBSOCKETS
from converge.dashboard.idle import session_is_idle

log = logging.getLogger(__name__)


class StaffConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]
    counted = False  # in the WebSocket gauge of /metrics

    async def connect(self) -> None:
        self.groups_joined = []
        info = await self._staff_info()
        if info is None:
            await self.close(code=4401)
            return
        self.staff_id, self.staff_name, practice_id, team_ids, user_id = info
        self.groups_joined = [
            events.practice_group(practice_id),
            events.user_group(user_id),
            *(events.team_group(t) for t in team_ids),
        ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.practice_group = events.practice_group(practice_id)
        await self.accept()
        WEBSOCKETS.labels(kind="staff").inc()
        self.counted = True
        await staff_presence_join(self, practice_id=practice_id, staff_id=self.staff_id)
        await self.send_json({"type": "hello", "staff_id": self.staff_id})

    @database_sync_to_async
    def _staff_info(self) -> tuple[int, str, int, list[int], int] | None:
        user = self.scope.get("user")
        session = self.scope.get("session")
        if user is None or not user.is_authenticated:
            return None
        staff = getattr(user, "staff", None)
        if staff is None or not staff.is_active:
            return None
        if session is not None and session_is_idle(session, staff.practice.idle_timeout_minutes):
            return None
        # A session that must still enrol a second factor gets no live data. (One that owes the
        # code of an enrolled device is not signed in at all: accounts/flow.py.)
        from converge.accounts import services as account_services

        if account_services.mfa_required(staff) and account_services.mfa_device(staff) is None:
            return None
        return (
            staff.pk,
            staff.display_name,
            staff.practice_id,
            list(staff.teams.values_list("id", flat=True)),
            user.pk,
        )

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            self.counted = False
            WEBSOCKETS.labels(kind="staff").dec()
        await staff_presence_leave(self)
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "team.typing":
            # Only to the people who can read that topic or direct conversation (teamchat decides).
            typing = await self._team_typing(content)
            if typing is not None:
                groups, event = typing
                for group in groups:
                    await self.channel_layer.group_send(group, {"type": "converge.event", "event": event})
            return
        if kind == "team.idle":
            # The page went idle or came back: away for colleagues (teamchat publishes it).
            await self._team_idle(content)
            return
        if kind in ("presence.viewing", "presence.typing", "presence.left"):
            conversation_id = content.get("conversation_id")
            if not isinstance(conversation_id, int):
                return
            if not await self._idle_ok():
                await self.close(code=4408)
                return
            await self.channel_layer.group_send(
                self.practice_group,
                {
                    "type": "converge.event",
                    "event": {
                        "type": kind,
                        "conversation_id": conversation_id,
                        "staff_id": self.staff_id,
                        "staff_name": self.staff_name,
                    },
                },
            )

    @database_sync_to_async
    def _team_typing(self, content: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
        from converge.teamchat.live import typing_event

        return typing_event(staff_id=self.staff_id, content=content)

    @database_sync_to_async
    def _team_idle(self, content: dict[str, Any]) -> bool:
        from converge.teamchat.live import idle_changed

        return idle_changed(staff_id=self.staff_id, content=content)

    @database_sync_to_async
    def _idle_ok(self) -> bool:
        session = self.scope.get("session")
        if session is None:
            return True
        session.load()
        user = self.scope["user"]
        return not session_is_idle(session, user.staff.practice.idle_timeout_minutes)

    async def converge_event(self, message: dict[str, Any]) -> None:
        if message["event"].get("type") == "session.ended":
            # The account was disabled (or signed out everywhere): this socket ends too.
            await self.close(code=4401)
            return
        try:
            await self.send_json(message["event"])
        except RuntimeError:
            # The browser went away between the group send and our disconnect handler; the
            # event is only a notification, so there is nothing to deliver it to.
            log.debug("event for a closed staff socket dropped")
