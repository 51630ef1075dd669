"""The staff inbox in a real browser against a real server: sign-in, live updates, replies and
their ticks, assignment, presence, escaping, keyboard, idle sign-out. Screenshots of the main
screens go to /tmp/shots."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect

from converge.conversations.inbound.pipeline import message_status_apply
from converge.conversations.models import Conversation, Message
from converge.dashboard.idle import LAST_ACTIVITY_KEY
from converge.patients.models import Patient
from converge.practices.models import Practice
from converge.providers.types import DeliveryStatus, StatusUpdate
from converge.replies.services import canned_response_create
from tests.dashboard.browser.conftest import post_inbound, shot, wait_connected

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


def expect_text(locator: Any, text: str, timeout: float = 20000) -> None:
    expect(locator).to_contain_text(text, timeout=timeout)


def mark_page(page: Any) -> None:
    """A marker that a reload would wipe: proves updates arrive without reloading."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.__noReload === true"), "the page reloaded"


def open_conversation(page: Any, name: str) -> None:
    page.locator("#conversation-list .row-link", has_text=name).first.click()
    page.wait_for_selector("#thread-items")
    expect_text(page.locator("#thread-title"), name)


def test_sign_in_shows_the_practice_and_the_inbox(browse, maria, practice):
    b = browse()
    page = b.page
    page.goto(f"{b.base_url}/login/")
    expect_text(page.locator("h1"), "Sunrise Family Clinic")
    shot(page, "login-1280x800")
    page.fill("#email", maria.user.email)
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect_text(page.locator(".error"), "do not match")
    b.errors.clear()  # the refused sign-in is a 401 response, which the console reports
    b.login(maria)
    expect_text(page.locator("#views-pane"), "All open")
    expect_text(page.locator(".topbar"), "Maria Lopez")
    page.click(".signout button")
    page.wait_for_url("**/login/")
    assert not b.errors, b.errors


def test_a_patient_message_appears_live_and_in_the_open_thread(browse, maria, server, sms_channel):
    b = browse()
    page = b.login(maria)
    mark_page(page)
    # An office question: a clinical one would be followed at once by the automatic portal
    # invitation, and the list shows the latest message.
    post_inbound(server, sms_channel, "+15552017788", "Do you take Aetna insurance?")
    expect_text(page.locator("#conversation-list"), "Do you take Aetna insurance?")
    expect_text(page.locator("#count-all"), "1")
    expect_text(page.locator("#count-unassigned"), "1")
    assert page.locator("#conversation-list .row.unread").count() == 1
    open_conversation(page, "Unknown +1 555-201-7788")
    post_inbound(server, sms_channel, "+15552017788", "It's the PPO plan")
    expect_text(page.locator("#thread-items"), "It's the PPO plan")
    assert_not_reloaded(page)
    assert not b.errors, b.errors


def test_reply_goes_out_and_its_ticks_update(browse, maria, server, sms_channel):
    """The in-process worker sends the reply through the simulator and publishes "sent": the
    single tick appears without a reload. A delivery report cannot be posted to the simulator
    over HTTP, so the test applies it in this process; with an in-memory channel layer that
    event stays here, so the proof for "delivered" is that the next real server event (the
    patient answering) makes the open thread re-read and show ✓✓ — which is how every update
    works (events are notifications; the page re-reads the database). With Redis the test
    process's own event reaches the browser directly."""
    post_inbound(server, sms_channel, "+15552017788", "Is my prescription ready?")
    b = browse()
    page = b.login(maria)
    open_conversation(page, "Unknown +1 555-201-7788")
    mark_page(page)
    page.fill("#reply-body", "Yes, it is ready for pickup.")
    page.keyboard.press("Control+Enter")
    bubble = page.locator("#thread-items .msg.out", has_text="ready for pickup")
    expect_text(bubble, "ready for pickup")
    assert page.input_value("#reply-body") == ""
    bubble.locator('.ticks[data-status="sent"]').wait_for(timeout=30000)
    message = Message.objects.get(direction="out", body="Yes, it is ready for pickup.")
    assert message.status == DeliveryStatus.SENT
    message_status_apply(
        channel=sms_channel,
        update=StatusUpdate(provider_message_id=message.provider_message_id, status=DeliveryStatus.DELIVERED),
    )
    if not settings.REDIS_URL:
        post_inbound(server, sms_channel, "+15552017788", "Thanks!")
        expect_text(page.locator("#thread-items"), "Thanks!")
    bubble.locator('.ticks[data-status="delivered"]').wait_for(timeout=10000)
    assert bubble.locator(".ticks").inner_text() == "✓✓Delivered" or "✓✓" in bubble.locator(".ticks").inner_text()
    assert_not_reloaded(page)
    assert not b.errors, b.errors


def test_assign_and_resolve_with_buttons_and_keys(browse, maria, server, sms_channel):
    post_inbound(server, sms_channel, "+15552017788", "Please call me back")
    b = browse()
    page = b.login(maria)
    open_conversation(page, "Unknown +1 555-201-7788")
    mark_page(page)
    page.click("#assign-me")
    expect_text(page.locator("#count-mine"), "1")
    expect(page.locator("#assign-select")).to_have_value(str(maria.pk))
    expect_text(page.locator("#thread-items"), "Assigned to Maria Lopez")
    page.locator("#thread-scroll").focus()
    page.keyboard.press("e")
    expect_text(page.locator("#thread-header .badges"), "Resolved")
    expect_text(page.locator("#count-all"), "0")
    expect_text(page.locator("#count-resolved"), "1")
    assert page.locator("#conversation-list .row").count() == 0
    conversation = Conversation.objects.get()
    assert conversation.status == "resolved" and conversation.assignee_id == maria.pk
    page.click("#resolve-button")  # now "Reopen"
    expect_text(page.locator("#thread-header .badges"), "Open")
    assert_not_reloaded(page)
    assert not b.errors, b.errors


def test_a_click_just_after_a_pane_is_redrawn_stays_in_the_page(browse, maria, server, sms_channel):
    """htmx binds the forms of swapped-in content when it settles. With its default 20 ms settle
    delay a click landing in between (a live update redraws the header as someone presses
    Resolve; a test clicking as soon as the thread shows) submitted the form natively and
    reloaded the page. The click here is the next task after the swap: inside that gap."""
    post_inbound(server, sms_channel, "+15552017788", "Please call me back")
    b = browse()
    page = b.login(maria)
    mark_page(page)
    page.evaluate(
        """() => document.body.addEventListener("htmx:afterSwap", (e) => {
            if (e.detail.target.id === "conversation-pane") {
                setTimeout(() => document.getElementById("assign-me").click(), 0);
            }
        })"""
    )
    open_conversation(page, "Unknown +1 555-201-7788")
    expect(page.locator("#assign-select")).to_have_value(str(maria.pk))
    assert Conversation.objects.get().assignee_id == maria.pk
    assert_not_reloaded(page)
    assert not b.errors, b.errors


def test_two_colleagues_see_each_others_presence(browse, maria, grace, server, sms_channel):
    post_inbound(server, sms_channel, "+15552017788", "Hello?")
    first, second = browse(), browse()
    maria_page, grace_page = first.login(maria), second.login(grace)
    open_conversation(maria_page, "Unknown +1 555-201-7788")
    open_conversation(grace_page, "Unknown +1 555-201-7788")
    expect_text(maria_page.locator("#presence"), "Grace Kim is viewing")
    expect_text(grace_page.locator("#presence"), "Maria Lopez is viewing")
    grace_page.click("#reply-body")
    grace_page.keyboard.type("We can")
    expect_text(maria_page.locator("#presence"), "Grace Kim is typing")
    assert not first.errors and not second.errors, (first.errors, second.errors)


def test_a_hostile_message_is_shown_as_text(browse, maria, server, sms_channel):
    post_inbound(server, sms_channel, "+15552017788", XSS, name=XSS)
    b = browse()
    page = b.login(maria)
    expect_text(page.locator("#conversation-list"), XSS)
    open_conversation(page, "Unknown +1 555-201-7788")
    expect_text(page.locator("#thread-items"), XSS)
    assert page.locator("#thread-items img, #conversation-list img").count() == 0
    page.fill("#search-input", "onerror")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=onerror")
    expect_text(page.locator("main"), XSS)
    page.wait_for_timeout(500)
    assert b.dialogs == [], b.dialogs
    assert not b.errors, b.errors


def test_keyboard_moves_opens_and_never_fires_while_typing(browse, maria, server, sms_channel):
    for n in range(3):
        post_inbound(server, sms_channel, f"+155520177{n:02d}", f"message number {n}")
    b = browse()
    page = b.login(maria)
    page.keyboard.press("j")
    page.keyboard.press("j")
    selected = page.locator("#conversation-list .row.selected")
    assert selected.count() == 1
    expected = selected.locator(".name").inner_text()
    page.keyboard.press("Enter")
    expect_text(page.locator("#thread-title"), expected)
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.keyboard.type("just jk typing e")
    assert page.input_value("#reply-body") == "just jk typing e"
    assert Conversation.objects.filter(status="resolved").count() == 0
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "note-body"
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    dialog = page.locator("#shortcuts-dialog")
    expect_text(dialog, "Keyboard shortcuts")
    assert dialog.evaluate("d => d.open")
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-input"
    assert not b.errors, b.errors


def test_canned_response_is_rendered_before_sending(browse, maria, practice, server, sms_channel):
    canned_response_create(
        practice_id=practice.pk,
        actor=None,
        shortcut="hours",
        title="Office hours",
        body="Hi {{patient.first_name}}, {{practice.name}} is open 8-5. — {{staff.first_name}}",
    )
    result = post_inbound(server, sms_channel, "+15552017788", "When are you open?")
    assert result["accepted"] == 1
    Patient.objects.filter(contact_points__address="+15552017788").update(first_name="Ana", is_verified=True)
    b = browse()
    page = b.login(maria)
    open_conversation(page, "Ana")
    page.click("#reply-body")
    page.keyboard.type("/ho")
    popup = page.locator("#canned-popup")
    expect_text(popup, "/hours")
    page.keyboard.press("Enter")
    expect_value = "Hi Ana, Sunrise Family Clinic is open 8-5. — Maria"
    page.wait_for_function(
        "expected => document.getElementById('reply-body').value === expected", arg=expect_value, timeout=5000
    )
    assert popup.is_hidden()
    assert not b.errors, b.errors


def test_bulk_resolve_from_the_list(browse, maria, server, sms_channel):
    for n in range(3):
        post_inbound(server, sms_channel, f"+155520178{n:02d}", f"bulk {n}")
    b = browse()
    page = b.login(maria)
    checks = page.locator("#conversation-list .row-check")
    checks.nth(0).check()
    checks.nth(1).check()
    expect_text(page.locator("#bulk-count"), "2 selected")
    page.click("#bulk-bar button[value=resolve]")
    expect_text(page.locator("#toast"), "Resolved 2 conversations.")
    expect_text(page.locator("#count-all"), "1")
    assert Conversation.objects.filter(status="resolved").count() == 2
    assert not b.errors, b.errors


def test_idle_session_is_signed_out_on_the_next_action(browse, maria, practice, server, sms_channel):
    Practice.objects.filter(pk=practice.pk).update(idle_timeout_minutes=1)
    post_inbound(server, sms_channel, "+15552017788", "Anyone there?")
    b = browse()
    page = b.login(maria)
    open_conversation(page, "Unknown +1 555-201-7788")
    page.wait_for_load_state("networkidle")  # no request of the page may save the session after us
    key = next(c["value"] for c in b.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    session = SessionStore(session_key=key)
    session[LAST_ACTIVITY_KEY] = time.time() - 120
    session.save()
    page.click("#assign-me")
    page.wait_for_url("**/login/?idle=1")
    expect_text(page.locator(".notice"), "signed out after a period of inactivity")
    assert Conversation.objects.get().assignee_id is None


def test_the_page_signs_itself_out_when_idle(browse, maria, practice):
    Practice.objects.filter(pk=practice.pk).update(idle_timeout_minutes=1)
    b = browse()
    b.page.clock.install()
    page = b.login(maria)
    page.clock.fast_forward("00:30")
    page.clock.run_for(1500)
    assert page.locator("#idle-banner").is_visible()
    page.clock.fast_forward("00:40")
    page.clock.run_for(1500)
    page.wait_for_url("**/login/?idle=1", timeout=10000)


def test_screens_at_desktop_and_tablet_sizes(browse, maria, practice, server, sms_channel, whatsapp_channel):
    post_inbound(server, whatsapp_channel, "+15552017701", "Hola, ¿puedo cambiar mi cita del martes?")
    post_inbound(server, sms_channel, "+15552017788", "Can I get a refill of my lisinopril?")
    post_inbound(server, sms_channel, "+15552017799", "My son has had a fever since Monday")
    Patient.objects.filter(contact_points__address="+15552017788").update(
        first_name="Ana", last_name="Reyes", is_verified=True
    )
    for width, height in ((1280, 800), (768, 1024)):
        b = browse(width, height)
        page = b.login(maria)
        size = f"{width}x{height}"
        shot(page, f"inbox-{size}")
        open_conversation(page, "Ana Reyes")
        page.fill("#reply-body", f"We sent it to your pharmacy ({size}).")
        page.click("#reply-form button[type=submit]")
        sent = page.locator("#thread-items .msg.out", has_text=f"pharmacy ({size})")
        sent.locator('.ticks[data-status="sent"]').wait_for(timeout=30000)
        page.click("[data-tab=note]")
        page.fill("#note-body", "Called CVS to confirm.")
        page.click("#note-form button[type=submit]")
        expect_text(page.locator("#thread-items"), "Called CVS")
        page.click("[data-tab=reply]")
        shot(page, f"conversation-{size}")
        if width < 1200:
            page.click("#thread-header [data-panel-toggle]")
            shot(page, f"patient-panel-{size}")
            page.click("#patient-panel .panel-close")
        page.keyboard.press("Escape")
        page.locator("#thread-scroll").focus()
        page.keyboard.press("?")
        shot(page, f"shortcuts-{size}")
        page.keyboard.press("Escape")
        page.goto(f"{b.base_url}/search?q=refill")
        shot(page, f"search-{size}")
        page.goto(f"{b.base_url}/patients/")
        shot(page, f"patients-{size}")
        page.goto(f"{b.base_url}/settings/replies/")
        shot(page, f"replies-{size}")
        unknown = Patient.objects.filter(is_verified=False).first()
        assert unknown is not None
        page.goto(f"{b.base_url}/patients/{unknown.pk}/")
        shot(page, f"patient-{size}")
        wait_connected(page)
        assert not b.errors, b.errors


def test_a_lost_connection_shows_a_banner_and_resyncs(browse, maria, server, sms_channel):
    from tests.helpers import receive

    post_inbound(server, sms_channel, "+15552017788", "Before the outage")
    b = browse()
    page = b.login(maria)
    open_conversation(page, "Unknown +1 555-201-7788")
    mark_page(page)
    server.stop()
    expect(page.locator("#connection-banner")).to_be_visible(timeout=10000)
    # Written while the page could not hear about it (straight into the database).
    receive(sms_channel, "+15552017788", "Sent during the outage")
    server.start()
    expect(page.locator("#connection-banner")).to_be_hidden(timeout=30000)
    expect_text(page.locator("#thread-items"), "Sent during the outage")
    assert_not_reloaded(page)
    # While the server was down the browser logged failed requests; those are the point.
    expected = ("WebSocket", "ERR_CONNECTION_REFUSED", "htmx:sendError", "htmx:afterRequest")
    b.errors[:] = [e for e in b.errors if not any(text in e for text in expected)]
    assert not b.errors, b.errors


def test_switching_views_keeps_the_menu_and_address_in_step(browse, maria, server, sms_channel):
    b = browse()
    page = b.login(maria)
    page.click("#views-pane .view-unassigned")
    expect_text(page.locator("#list-title"), "Unassigned")
    expect(page.locator("#views-pane .view-unassigned")).to_have_attribute("aria-current", "page")
    assert page.url.endswith("/?view=unassigned")
    mark_page(page)
    post_inbound(server, sms_channel, "+15552017788", "New while on Unassigned")
    expect_text(page.locator("#conversation-list"), "New while on Unassigned")
    expect_text(page.locator("#count-unassigned"), "1")
    # The live re-read of the counts keeps the view that is being shown marked.
    expect(page.locator("#views-pane .view-unassigned")).to_have_attribute("aria-current", "page")
    assert_not_reloaded(page)
    assert not b.errors, b.errors
