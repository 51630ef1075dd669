"""Issue 17's journey in two real browsers against `converge serve`: the front desk asks the
nurses about a patient from the conversation ("Ask the team"), the nurse sees the topic appear
live and answers, and the front desk sees the answer live. Screenshots go to /tmp/shots/teamchat/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from converge.teamchat.models import Topic
from tests.dashboard.browser.conftest import CHROMIUM, wait_connected
from tests.helpers import receive

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]
SHOTS = Path("/tmp/shots/teamchat")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_front_desk_asks_the_nurses_and_sees_the_answer_live(browse, maria, grace, sms_channel):
    conversation = receive(sms_channel, "+15552017755", "Can I move my appointment to Friday?").message.conversation
    name = conversation.patient.display_name

    nurse = browse(1280, 800)
    nurse_page = nurse.login(grace)
    nurse_page.goto(f"{nurse.base_url}/team/")
    wait_connected(nurse_page)
    expect(nurse_page.locator("#team-sidebar")).to_contain_text("Nursing")

    front = browse(1280, 800)
    front_page = front.login(maria)
    front_page.goto(f"{front.base_url}/c/{conversation.pk}/")
    wait_connected(front_page)
    front_page.locator("#ask-team > summary").click()
    expect(front_page.locator("#ask-channel")).to_have_value(str(_nursing_channel_id(conversation)))
    front_page.fill("#ask-body", "She also asks whether she should still take her tablets the night before?")
    shot(front_page, "ask-the-team-1280x800")
    front_page.locator("#ask-send").click()

    # The nurse's sidebar shows the new topic without a reload.
    topic_link = nurse_page.locator("#team-sidebar .topic-link", has_text=f"Question about {name}")
    expect(topic_link).to_be_visible()
    expect(topic_link).to_contain_text("1")  # unread
    topic = Topic.objects.get()

    # The conversation lists the topic; the front desk opens it.
    linked = front_page.locator(f'#linked-topics [data-linked-topic="{topic.pk}"]')
    expect(linked).to_be_visible()
    linked.click()
    front_page.wait_for_url(f"**/team/t/{topic.pk}/")
    wait_connected(front_page)
    expect(front_page.locator("#team-link")).to_contain_text(name)

    topic_link.click()
    nurse_page.wait_for_url(f"**/team/t/{topic.pk}/")
    wait_connected(nurse_page)
    expect(nurse_page.locator("#team-messages")).to_contain_text("tablets the night before")
    nurse_page.locator("#team-body").fill("Yes, as usual. I'll call her this afternoon.")
    nurse_page.locator("#team-body").press("Enter")  # Enter sends
    expect(nurse_page.locator("#team-body")).to_have_value("")

    answer = front_page.locator("#team-messages .tmsg", has_text="I'll call her this afternoon")
    expect(answer).to_be_visible()
    expect(answer).to_contain_text(grace.display_name)
    shot(front_page, "topic-front-desk-1280x800")
    shot(nurse_page, "topic-nurse-1280x800")
    front_page.goto(f"{front.base_url}/team/")
    expect(front_page.locator("#team-sidebar")).to_contain_text("Ask another team")
    shot(front_page, "team-home-front-desk-1280x800")
    front_page.goto(f"{front.base_url}/team/c/{_nursing_channel_id(conversation)}/")
    expect(front_page.locator(".channel-topics")).to_contain_text(f"Question about {name}")
    shot(front_page, "channel-nursing-1280x800")

    tablet = browse(768, 1024)
    tablet_page = tablet.login(grace)
    tablet_page.goto(f"{tablet.base_url}/team/t/{topic.pk}/")
    expect(tablet_page.locator("#team-messages")).to_contain_text("call her this afternoon")
    shot(tablet_page, "topic-nurse-768x1024")
    tablet_page.goto(f"{tablet.base_url}/team/")
    shot(tablet_page, "team-home-768x1024")
    tablet_page.goto(f"{tablet.base_url}/c/{conversation.pk}/")
    expect(tablet_page.locator("#linked-topics")).to_contain_text(f"Question about {name}")
    tablet_page.locator("#ask-team > summary").click()
    expect(tablet_page.locator("#ask-send")).to_be_visible()
    shot(tablet_page, "conversation-ask-768x1024")
    assert not [e for e in front.errors + nurse.errors + tablet.errors if "favicon" not in e]


def _nursing_channel_id(conversation) -> int:
    from converge.teamchat.models import TeamChannel

    return TeamChannel.objects.get(practice_id=conversation.practice_id, team__slug="nursing").pk


def test_history_loads_as_one_scrolls_up_and_urgent_alerts(browse, maria, grace):
    nurse = grace
    from converge.teamchat import services
    from converge.teamchat.models import TeamChannel

    services.team_channels_ensure(practice_id=maria.practice_id)
    channel = TeamChannel.objects.get(practice_id=maria.practice_id, team__slug="front-desk")
    topic, _ = services.topic_start(actor=maria, channel=channel, title="Printer broken", body="message 0")
    for n in range(1, 70):
        services.message_post(actor=nurse if n % 3 else maria, topic=topic, body=f"message {n} @grace")
    front = browse(1280, 800)
    page = front.login(maria)
    page.goto(f"{front.base_url}/team/t/{topic.pk}/")
    messages = page.locator("#team-messages .tmsg")
    expect(messages).to_have_count(50)
    expect(page.locator("#team-messages .tmsg").last).to_be_in_viewport()  # newest at the bottom
    page.locator("#team-scroll").evaluate("el => { el.scrollTop = 0; }")
    expect(messages).to_have_count(70)
    expect(page.locator("#team-messages")).to_contain_text("message 0")
    shot(page, "topic-history-1280x800")
    page.locator("#team-body").fill("@gr")
    expect(page.locator("#mention-popup")).to_be_visible()
    shot(page, "mention-picker-1280x800")
    # An urgent team message raises its own banner on the recipient's page, live, until read.
    page.goto(f"{front.base_url}/patients/")
    wait_connected(page)
    colleague = browse(1280, 800)
    nurse_page = colleague.login(nurse)
    nurse_page.goto(f"{colleague.base_url}/team/t/{topic.pk}/")
    wait_connected(nurse_page)
    nurse_page.locator("#team-urgent-toggle").check()
    nurse_page.locator("#team-body").fill("Patient collapsed in room 2")
    nurse_page.locator("#team-body").press("Enter")
    banner = page.locator("#team-urgent .team-urgent-alert")
    expect(banner).to_contain_text(f"Urgent team message from {nurse.display_name}")
    expect(page.locator("#team-urgent")).not_to_contain_text("collapsed")  # who, never what
    shot(page, "team-urgent-banner-1280x800")
    banner.locator("a").click()
    page.wait_for_url(f"**/team/t/{topic.pk}/*")
    expect(page.locator("#team-urgent .team-urgent-alert")).to_have_count(0)
    assert not [e for e in front.errors if "favicon" not in e]
