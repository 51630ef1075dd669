"""Presence in two real browsers: a nurse says she is in a visit and the front desk sees it live
next to her name in the direct-message list and on her message; once her page has been idle for
five minutes she shows as away, and as online again when she is back."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from converge.teamchat import services
from tests.dashboard.browser.conftest import CHROMIUM, wait_connected

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
]
SHOTS = Path("/tmp/shots/teamchat")


def test_in_a_visit_and_idle_away_show_live_to_colleagues(browse, maria, grace):
    thread = services.direct_open(actor=maria, member_ids=[grace.pk])
    services.message_post(actor=grace, thread=thread, body="Ask me after 3")

    front = browse(1280, 800)
    front_page = front.login(maria)
    front_page.goto(f"{front.base_url}/team/d/{thread.pk}/")
    wait_connected(front_page)
    dm_dot = front_page.locator(f'#team-sidebar [data-thread-id="{thread.pk}"] .presence-dot')
    author_dot = front_page.locator(f'#team-messages [data-presence-staff="{grace.pk}"]').first

    nurse = browse(1280, 800)
    nurse_page = nurse.login(grace)
    nurse_page.goto(f"{nurse.base_url}/team/")
    wait_connected(nurse_page)
    nurse_page.select_option("#team-status-choice", "in_visit")

    expect(dm_dot).to_have_class("presence-dot in_visit")
    expect(front_page.locator(f'#team-sidebar [data-thread-id="{thread.pk}"]')).to_contain_text("In a visit")
    expect(author_dot).to_have_class("presence-dot in_visit")
    SHOTS.mkdir(parents=True, exist_ok=True)
    front_page.screenshot(path=str(SHOTS / "presence-in-a-visit-1280x800.png"))

    nurse_page.select_option("#team-status-choice", "online")
    expect(author_dot).to_have_class("presence-dot online")
    # Six minutes without a key press or click (idle.js keeps the time for all tabs).
    nurse_page.evaluate("localStorage.setItem('converge:last-activity', String(Date.now() - 6 * 60 * 1000))")
    expect(author_dot).to_have_class("presence-dot away", timeout=15000)
    expect(dm_dot).to_have_class("presence-dot away")
    nurse_page.evaluate("localStorage.setItem('converge:last-activity', String(Date.now()))")
    expect(author_dot).to_have_class("presence-dot online", timeout=15000)
