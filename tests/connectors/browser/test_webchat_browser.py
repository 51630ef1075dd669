"""The chat widget in Debian's Chromium against a real `converge serve`: a visitor chats from the
sample practice website, staff answer, the reply appears live, the thread survives a reload, a
phone-sized screen works, and a website that is not on the list gets no chat.

Screenshots go to /tmp/shots (not committed)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from converge.connectors.webchat import webchat_channel_create, webchat_visitor_start
from converge.conversations.models import Message
from tests.conversations.test_outbox_processes import spawn, wait_healthy  # noqa: F401 -- the fixture
from tests.helpers import PASSWORD
from tests.providers.email.mailservers import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="needs Debian's chromium"),
]

SHOTS = Path("/tmp/shots")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BUBBLE = "converge-chat .bubble"
PANEL = "converge-chat .panel"


def wait_for(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("condition not met in time")


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def server(practice: Any, staff: Any, spawn: Any) -> Iterator[dict[str, Any]]:
    # Open around the clock, so the widget's notice does not depend on when the test runs.
    practice.business_hours = {str(day): [["00:00", "23:59"]] for day in range(7)}
    practice.save(update_fields=["business_hours"])
    # The server uses the production password hashers, not the test settings' fast MD5.
    staff.user.password = PBKDF2PasswordHasher().encode(PASSWORD, "browser-salt-01", iterations=1000)
    staff.user.save(update_fields=["password"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    channel = webchat_channel_create(practice=practice, origins=[base], actor=None)
    proc = spawn(
        "serve",
        "serve",
        "--port",
        str(port),
        PUBLIC_BASE_URL=base,
        SECRET_KEY=settings.SECRET_KEY,
        LOG_LEVEL="WARNING",
    )
    wait_healthy(proc, base)
    yield {"base": base, "channel": channel, "proc": proc, "staff": staff}


@pytest.fixture
def other_site(server: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """A website on another origin that copied the tag without being on the list."""
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><body><h1>Some other site</h1>"
        f'<script src="{server["base"]}/widget.js" data-channel="{server["channel"].key}" async></script>'
        "</body></html>"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def active_field(page: Any) -> str:
    return str(
        page.evaluate(
            "() => { const el = document.querySelector('converge-chat').shadowRoot.activeElement;"
            " return el ? (el.name || el.id || el.className) : ''; }"
        )
    )


def staff_reply(browser: Any, base: str, email: str, conversation_id: int, body: str) -> None:
    """A staff member signs in through the login page and answers through the JSON API with the
    browser session (the inbox UI is being rebuilt by another part of the project)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(c/\d+/)?$"))
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = context.request.post(
        f"{base}/api/v1/conversations/{conversation_id}/messages",
        data=json.dumps({"body": body}),
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Referer": f"{base}/"},
    )
    assert response.status == 201, response.text()
    context.close()


def test_a_visitor_chats_staff_answer_and_the_thread_survives_a_reload(browser, server):
    base, channel = server["base"], server["channel"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/demo-site/")
    page.wait_for_selector(BUBBLE, state="visible")
    assert page.get_attribute(BUBBLE, "aria-expanded") == "false"
    assert "Sunrise Family Clinic" in (page.get_attribute(BUBBLE, "aria-label") or "")
    page.screenshot(animations="disabled", path=str(SHOTS / "widget-closed.png"))

    # Keyboard: the bubble is reachable and opens the pre-chat form with focus in it.
    page.focus(BUBBLE)
    page.keyboard.press("Enter")
    page.wait_for_selector("converge-chat form.pre", state="visible")
    assert page.get_attribute(BUBBLE, "aria-expanded") == "true"
    wait_for(lambda: active_field(page) == "name")
    assert "call 911" in page.inner_text("converge-chat .sos")
    page.screenshot(animations="disabled", path=str(SHOTS / "widget-prechat.png"))

    page.click("converge-chat form.pre button[type=submit]")
    expect(page.locator("converge-chat form.pre .err")).to_contain_text("your name")
    assert page.get_attribute("converge-chat input[name=name]", "aria-invalid") == "true"
    page.fill("converge-chat input[name=name]", "Ana Torres")
    page.fill("converge-chat input[name=email]", "ana.torres@example.com")
    page.click("converge-chat form.pre button[type=submit]")
    expect(page.locator("converge-chat form.pre .err")).to_contain_text("agree")
    page.check("converge-chat input[name=consent]")
    page.click("converge-chat form.pre button[type=submit]")
    page.wait_for_selector("converge-chat .chat", state="visible")
    wait_for(lambda: active_field(page) == "text")

    page.keyboard.type("Hello, do you take new patients?")
    page.keyboard.press("Enter")
    page.wait_for_selector("converge-chat .log li.visitor >> text=Hello, do you take new patients?")
    page.wait_for_function(
        "() => !document.querySelector('converge-chat').shadowRoot.querySelector('.log').textContent.includes('Sending')"
    )
    inbound = wait_for(lambda: Message.objects.filter(channel=channel, direction="in").first())
    assert inbound.body == "Hello, do you take new patients?"
    assert inbound.metadata["claimed_email"] == "ana.torres@example.com"

    staff_reply(browser, base, server["staff"].user.email, inbound.conversation_id, "Yes, we do! What is your name?")
    page.wait_for_selector("converge-chat .log li.practice >> text=Yes, we do!", timeout=15000)
    page.screenshot(animations="disabled", path=str(SHOTS / "widget-open.png"))

    # Escape closes the chat and gives focus back to the bubble.
    page.focus("converge-chat textarea")
    page.keyboard.press("Escape")
    page.wait_for_selector(PANEL, state="hidden")
    wait_for(lambda: active_field(page) == "bubble")

    # A reload keeps the thread: the token is in localStorage and the history is re-read.
    page.reload()
    page.wait_for_selector(BUBBLE, state="visible")
    page.click(BUBBLE)
    page.wait_for_selector("converge-chat .log li.practice >> text=Yes, we do!")
    texts = page.locator("converge-chat .log li").all_inner_texts()
    assert [t.split("\n")[0] for t in texts] == [
        "You: Hello, do you take new patients?",
        "Sunrise Family Clinic: Yes, we do! What is your name?",
    ] or len(texts) == 2
    # The page's own styles did not reach the widget, and the widget's did not reach the page.
    assert page.evaluate("getComputedStyle(document.querySelector('main button')).borderStyle") == "dashed"
    assert (
        page.evaluate(
            "getComputedStyle(document.querySelector('converge-chat').shadowRoot.querySelector('.send')).borderStyle"
        )
        == "none"
    )
    assert errors == []
    context.close()


def test_the_widget_on_a_phone(browser, server):
    base = server["base"]
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        reduced_motion="reduce",
    )
    page = context.new_page()
    page.goto(f"{base}/demo-site/")
    page.wait_for_selector(BUBBLE, state="visible")
    page.screenshot(animations="disabled", path=str(SHOTS / "phone-closed.png"))
    page.tap(BUBBLE)
    page.wait_for_selector("converge-chat form.pre", state="visible")
    box = page.locator(PANEL).bounding_box()
    assert box is not None and (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
    page.screenshot(animations="disabled", path=str(SHOTS / "phone-prechat.png"))
    page.fill("converge-chat input[name=name]", "Luis Ortega")
    page.fill("converge-chat input[name=phone]", "555-201-4477")
    page.check("converge-chat input[name=consent]")
    page.tap("converge-chat form.pre button[type=submit]")
    page.wait_for_selector("converge-chat .chat", state="visible")
    page.fill("converge-chat textarea", "Can I book a flu shot?")
    page.tap("converge-chat .send")
    page.wait_for_selector("converge-chat .log li.visitor >> text=Can I book a flu shot?")
    page.screenshot(animations="disabled", path=str(SHOTS / "phone-chat.png"))
    page.tap("converge-chat .close")
    page.wait_for_selector(PANEL, state="hidden")
    context.close()


def test_a_website_not_on_the_list_gets_no_chat(browser, server, other_site):
    channel = server["channel"]
    token = webchat_visitor_start(
        channel=channel, form={"name": "X", "email": "x@example.com", "consent": True}, ip="1"
    )
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{other_site}/index.html")
    page.wait_for_function("() => !!document.querySelector('converge-chat')")
    page.wait_for_timeout(1500)
    assert not page.locator(BUBBLE).is_visible()
    # Even with a valid visitor token, the WebSocket handshake from this origin is refused.
    opened = page.evaluate(
        """([url]) => new Promise((resolve) => {
            const ws = new WebSocket(url);
            ws.onopen = () => { resolve(true); ws.close(); };
            ws.onerror = () => resolve(false);
        })""",
        [f"{server['base'].replace('http', 'ws')}/ws/webchat/{channel.key}/?token={token.token}"],
    )
    assert opened is False
    page.screenshot(animations="disabled", path=str(SHOTS / "other-origin.png"))
    context.close()


def test_the_settings_pages_for_a_manager(browser, server):
    from converge.practices.models import Role
    from tests.helpers import make_staff

    base, channel = server["base"], server["channel"]
    manager = make_staff(channel.practice, "Pat Manager", Role.MANAGER)
    manager.user.password = PBKDF2PasswordHasher().encode(PASSWORD, "browser-salt-02", iterations=1000)
    manager.user.save(update_fields=["password"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("#email", manager.user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/(c/\d+/)?$"))
    page.goto(f"{base}/settings/channels/webchat/{channel.pk}/")
    assert f'data-channel="{channel.key}"' in page.inner_text("pre")
    page.screenshot(path=str(SHOTS / "settings-webchat.png"), full_page=True)
    page.goto(f"{base}/settings/channels/email/new")
    page.fill("#address", "frontdesk@clinic.example")
    page.fill("#imap_host", "imap.clinic.example")
    page.fill("#imap_user", "frontdesk")
    page.fill("#imap_password", "pw-123")
    page.fill("#smtp_host", "smtp.clinic.example")
    page.uncheck("input[name=check]")
    page.screenshot(path=str(SHOTS / "settings-email-new.png"), full_page=True)
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/settings/channels/email/\d+/$"))
    assert "Mail that could not be read" in page.inner_text("main")
    page.screenshot(path=str(SHOTS / "settings-email.png"), full_page=True)
    context.close()


def test_the_portal_link_is_a_link_and_the_visitor_is_shown_by_name(browser, server):
    """Issue 13 #8: a clinical reply on web chat is converted by the PHI guard; the notice's
    portal link is clickable in the widget (the practice's own portal only, built with DOM
    calls), and staff see the visitor by the name they gave, marked unverified."""
    base, channel = server["base"], server["channel"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/demo-site/")
    page.click(BUBBLE)
    page.fill("converge-chat input[name=name]", "Ana <b>Torres</b>")
    page.fill("converge-chat input[name=email]", "ana.torres@example.com")
    page.check("converge-chat input[name=consent]")
    page.click("converge-chat form.pre button[type=submit]")
    page.wait_for_selector("converge-chat .chat", state="visible")
    page.fill("converge-chat textarea", "Are my lab results back?")
    page.keyboard.press("Enter")
    inbound = wait_for(lambda: Message.objects.filter(channel=channel, direction="in").first())

    email = server["staff"].user.email
    staff_reply(browser, base, email, inbound.conversation_id, "Your HbA1c is 7.2, keep taking metformin")
    # (The clinical question may already have brought an automatic portal invitation: the last
    # link is the converted reply's notice.)
    page.wait_for_selector("converge-chat .log li.practice >> text=new secure message", timeout=15000)
    link = page.locator("converge-chat .log li.practice", has_text="new secure message").last.locator("a")
    href = link.get_attribute("href") or ""
    assert href.startswith(f"{base}/portal/t/"), href
    assert link.inner_text() == href
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "")
    assert "HbA1c" not in page.inner_text("converge-chat .log")  # the guard converted it

    # Another site's link, even one with /portal/ in it, and markup stay plain text.
    staff_reply(browser, base, email, inbound.conversation_id, "See https://example.com/portal/x and <b>this</b>")
    page.wait_for_selector("converge-chat .log li.practice >> text=example.com/portal/x")
    hrefs = page.locator("converge-chat .log a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs and all(h.startswith(f"{base}/portal/") for h in hrefs), hrefs
    assert page.locator("converge-chat .log b").count() == 0
    page.screenshot(animations="disabled", path=str(SHOTS / "widget-portal-link.png"))

    # Staff see the name the visitor gave, marked unverified, as text.
    staff_page = context.new_page()
    staff_page.goto(f"{base}/login/")
    staff_page.fill("#email", email)
    staff_page.fill("#password", PASSWORD)
    staff_page.click("button[type=submit]")
    staff_page.wait_for_url(re.compile(r".*/(c/\d+/)?$"))
    staff_page.goto(f"{base}/c/{inbound.conversation_id}/")
    shown = "Ana <b>Torres</b> (web chat, unverified)"
    expect(staff_page.locator("#thread-title")).to_have_text(shown)
    expect(staff_page.locator("#conversation-list .row .name").first).to_have_text(shown)
    expect(staff_page.locator("#patient-panel .patient-name")).to_have_text(shown)
    assert staff_page.locator("#thread-title b, #conversation-list b, #patient-panel b").count() == 0
    staff_page.screenshot(path=str(SHOTS / "inbox-webchat-visitor.png"))
    assert errors == []
    context.close()
