"""A long conversation in a real browser: it opens on its newest page, earlier pages load as the
reader scrolls up (or presses "Load earlier messages") without moving what they were reading,
live updates keep what was loaded, and a link to an old message (a search result) loads pages
until it can show it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from converge.conversations.models import Message
from converge.conversations.selectors import THREAD_EARLIER_PAGE, THREAD_PAGE
from converge.providers.types import DeliveryStatus
from tests.dashboard.browser.conftest import post_inbound, shot

pytestmark = pytest.mark.browser

SENDER = "+15552016600"
EARLIER = 329  # with the message that opened it: 330, so four pages (50, 100, 100, 80)


def long_conversation(server: Any, channel: Any, staff: Any) -> tuple[Any, list[Message]]:
    """A conversation whose EARLIER older messages come before the patient's newest one; the
    messages oldest first."""
    post_inbound(server, channel, SENDER, "The newest message")
    newest = Message.objects.get(body="The newest message")
    conversation = newest.conversation
    Message.objects.bulk_create(
        [
            Message(
                practice_id=conversation.practice_id,
                conversation=conversation,
                patient_id=conversation.patient_id,
                channel=channel,
                direction="in" if k % 2 == 0 else "out",
                body=f"older message {k:03d}",
                status=DeliveryStatus.RECEIVED if k % 2 == 0 else DeliveryStatus.DELIVERED,
                sender=None if k % 2 == 0 else staff,
                created_at=newest.created_at - timedelta(minutes=EARLIER - k),
            )
            for k in range(EARLIER)
        ]
    )
    return conversation, list(Message.objects.filter(conversation=conversation).order_by("created_at", "id"))


def shown(page: Any) -> list[int]:
    return page.eval_on_selector_all(
        "#thread-items [data-message-id]", "els => els.map(e => Number(e.dataset.messageId))"
    )


def top_offset(page: Any, message_id: int) -> float:
    """How far below the top of the thread's visible area the message is (px)."""
    return float(
        page.evaluate(
            """id => {
                const s = document.getElementById("thread-scroll");
                return document.getElementById("m" + id).getBoundingClientRect().top - s.getBoundingClientRect().top;
            }""",
            message_id,
        )
    )


def test_a_long_thread_opens_on_its_newest_page_and_loads_earlier_ones(browse, maria, server, sms_channel):
    assert (THREAD_PAGE, THREAD_EARLIER_PAGE) == (50, 100)
    conversation, messages = long_conversation(server, sms_channel, maria)
    ids = [m.pk for m in messages]
    b = browse()
    page = b.login(maria)
    page.locator("#conversation-list .row-link").first.click()
    items = page.locator("#thread-items [data-message-id]")
    expect(items).to_have_count(50)
    assert shown(page) == ids[-50:]
    scroller = page.locator("#thread-scroll")
    # Opened at the bottom, on the newest message.
    assert scroller.evaluate("s => s.scrollHeight - s.scrollTop - s.clientHeight < 80")
    expect(page.locator(f"#m{ids[-1]}")).to_be_in_viewport()

    # Scrolling to the top loads the 100 before, and the message that was at the top stays put.
    first = ids[-50]
    scroller.evaluate("s => { s.scrollTop = 0; }")
    expect(items).to_have_count(150)
    assert shown(page) == ids[-150:]
    assert 0 <= top_offset(page, first) < 200, top_offset(page, first)
    page.wait_for_timeout(500)
    assert items.count() == 150  # it does not go on loading by itself

    # By keyboard: the button loads the next page and the focus moves to the next button.
    page.focus("#thread-items [data-load-earlier]")
    page.keyboard.press("Enter")
    expect(items).to_have_count(250)
    expect(page.locator("#thread-items [data-load-earlier]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(items).to_have_count(330)
    assert shown(page) == ids
    expect(page.locator("#thread-items [data-load-earlier]")).to_have_count(0)
    # Each day separator once, however the pages met.
    days = page.eval_on_selector_all("#thread-items > .day", "els => els.map(e => e.textContent)")
    assert len(days) == len(set(days))

    # A live update keeps everything loaded and adds the new message.
    post_inbound(server, sms_channel, SENDER, "Arrived while reading history")
    expect(page.locator("#thread-items")).to_contain_text("Arrived while reading history")
    expect(items).to_have_count(331)
    shot(page, "long-thread-1280x800")
    assert not b.errors, b.errors


def test_a_link_to_an_old_message_loads_earlier_pages_until_it_shows(browse, maria, server, sms_channel):
    conversation, messages = long_conversation(server, sms_channel, maria)
    old = messages[10]  # on the last of the four pages
    b = browse()
    page = b.login(maria)
    page.goto(f"{b.base_url}/c/{conversation.pk}/#m{old.pk}")
    target = page.locator(f"#m{old.pk}")
    expect(target).to_have_class(re.compile(r"\bflash-target\b"))
    expect(target).to_be_in_viewport()
    assert len(shown(page)) == 330
    assert not b.errors, b.errors
