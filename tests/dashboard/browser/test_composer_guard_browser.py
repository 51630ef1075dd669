"""The composer tells staff before sending what the PHI guard will do (issue 13 #7): typing a
clinical reply on an SMS conversation shows, above Send, that it will go through the secure
portal and why; sending then does exactly that, and the notice goes away."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from converge.conversations.models import Message
from tests.dashboard.browser.conftest import post_inbound, shot

pytestmark = pytest.mark.browser

CLINICAL = "Your HbA1c is 7.2, keep taking metformin"


def test_the_guard_notice_appears_while_typing_and_the_send_follows_it(browse, maria, server, sms_channel):
    post_inbound(server, sms_channel, "+15552017788", "Do you take Aetna insurance?")
    b = browse()
    page = b.login(maria)
    page.locator("#conversation-list .row-link", has_text="Unknown +1 555-201-7788").first.click()
    page.wait_for_selector("#reply-body")
    notice = page.locator("#guard-preview .guard-notice")

    page.click("#reply-body")
    page.keyboard.type("See you on Tuesday")
    page.wait_for_timeout(1200)  # past the debounce: plain text gets no notice
    assert notice.count() == 0

    page.fill("#reply-body", "")
    page.keyboard.type(CLINICAL)
    expect(notice).to_contain_text("This will go through the secure portal because it mentions", timeout=10000)
    expect(notice).to_contain_text("HbA1c is 7.2")
    expect(notice).to_contain_text("metformin")
    expect(notice).to_contain_text("link on SMS")
    assert not Message.objects.filter(direction="out").exists()  # nothing was sent by looking
    # Above the Send button.
    notice_box, send_box = notice.bounding_box(), page.locator("#reply-form button[type=submit]").bounding_box()
    assert notice_box and send_box and notice_box["y"] + notice_box["height"] <= send_box["y"]
    shot(page, "composer-guard-notice-1280x800")

    page.click("#reply-form button[type=submit]")
    expect(page.locator("#thread-items")).to_contain_text("new secure message", timeout=20000)
    expect(notice).to_have_count(0)
    kinds = sorted(
        Message.objects.filter(direction="out", sender__isnull=False).values_list("channel__kind", flat=True)
    )
    assert kinds == ["portal"]  # the text went to the portal; SMS carried only the notice
    assert not b.errors, b.errors


def test_under_the_warn_policy_the_notice_asks_for_a_reason_and_keeps_it(browse, maria, server, sms_channel):
    from converge.core.localcache import TTL_SECONDS
    from converge.privacy.guard import privacy_settings

    settings = privacy_settings(sms_channel.practice_id)
    settings.standard_channel_policy = "warn"
    settings.save()
    post_inbound(server, sms_channel, "+15552017788", "Do you take Aetna insurance?")
    b = browse()
    page = b.login(maria)
    page.wait_for_timeout(TTL_SECONDS * 1000 + 200)  # the server's settings cache has caught up
    page.locator("#conversation-list .row-link", has_text="Unknown +1 555-201-7788").first.click()
    page.wait_for_selector("#reply-body")
    page.click("#reply-body")
    page.keyboard.type(CLINICAL)
    notice = page.locator("#guard-preview .guard-notice")
    expect(notice).to_contain_text("sending on SMS needs a reason", timeout=10000)
    page.fill("#phi-override-reason", "The patient asked for results by text")
    # More typing re-checks the draft; the same verdict leaves the reason as written.
    page.click("#reply-body")
    page.keyboard.press("End")
    page.keyboard.type(" every morning")
    page.wait_for_timeout(1200)
    assert page.input_value("#phi-override-reason") == "The patient asked for results by text"
    shot(page, "composer-guard-warn-1280x800")
    page.click("#reply-form button[type=submit]")
    expect(page.locator("#thread-items")).to_contain_text("every morning", timeout=20000)
    sent = Message.objects.get(direction="out", sender__isnull=False)
    assert sent.channel_id == sms_channel.pk and sent.body == CLINICAL + " every morning"
    expect(notice).to_have_count(0)
    assert not b.errors, b.errors
