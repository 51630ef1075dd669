"""Team messages over the staff WebSocket: a post reaches the channel's members as an id-only
event, and "typing" in a topic reaches only those who can read it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from converge.practices.models import Role
from converge.teamchat import services
from converge.teamchat.models import TeamChannel
from tests.dashboard.test_ws import _private_channel_layer, connect_staff, in_own_loop, next_event  # noqa: F401
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db(transaction=True)


@in_own_loop
async def test_posts_and_typing_reach_only_the_topic_readers(staff, nurse):
    outsider = await sync_to_async(make_staff)(
        staff.practice, "Sam Scheduler", Role.SCHEDULER, team_slugs=("scheduling",)
    )

    def start():
        services.team_channels_ensure(practice_id=staff.practice_id)
        channel = TeamChannel.objects.get(practice=staff.practice, team__slug="nursing")
        return services.topic_start(actor=staff, channel=channel, title="Q", body="Is Dr Patel in today?")

    nurse_ws = await connect_staff(nurse)
    outsider_ws = await connect_staff(outsider)
    topic, message = await sync_to_async(start)()
    event = await next_event(nurse_ws)
    assert event["type"] == "team.message" and event["message_id"] == message.pk and "body" not in event
    staff_ws = await connect_staff(staff)
    await staff_ws.send_json_to({"type": "team.typing", "topic_id": topic.pk})
    typing = await next_event(nurse_ws)
    assert typing == {"type": "team.typing", "topic_id": topic.pk, "staff_id": staff.pk, "staff_name": "Maria Lopez"}
    await outsider_ws.send_json_to({"type": "team.typing", "topic_id": topic.pk})  # not a reader: dropped
    assert await outsider_ws.receive_nothing(timeout=0.5)
    assert await nurse_ws.receive_nothing(timeout=0.5)
    for ws in (nurse_ws, outsider_ws, staff_ws):
        await ws.disconnect()


@in_own_loop
async def test_an_idle_page_shows_its_member_away_live(staff, nurse):
    from converge.teamchat import selectors

    nurse_ws = await connect_staff(nurse)
    staff_ws = await connect_staff(staff)
    await staff_ws.send_json_to({"type": "team.idle", "idle": True})
    assert await next_event(nurse_ws) == {"type": "team.presence", "staff_id": staff.pk}
    presence = await sync_to_async(selectors.presence_by_staff)(staff.practice_id)
    assert presence[staff.pk] == "away"
    await staff_ws.send_json_to({"type": "team.idle", "idle": "yes"})  # not a boolean: ignored
    assert await nurse_ws.receive_nothing(timeout=0.5)
    await staff_ws.send_json_to({"type": "team.idle", "idle": False})
    assert await next_event(nurse_ws) == {"type": "team.presence", "staff_id": staff.pk}
    assert (await sync_to_async(selectors.presence_by_staff)(staff.practice_id))[staff.pk] == "online"
    await nurse_ws.disconnect()
    await staff_ws.disconnect()
