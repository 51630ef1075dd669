"""Journey: a visitor on the practice's website. They open the chat on the demo site, say who
they are, ask a question; a front desk member, in another window, sees it arrive live and answers;
the visitor sees the answer live, reloads the page and still has the conversation."""

from __future__ import annotations

import secrets
from typing import Any

from playwright.sync_api import expect

from tests.journeys.conftest import Demo

QUESTION = "Hello, are you taking new patients? I would like a check-up for my son."
ANSWER = "Yes, we are taking new patients. Would you like us to call you to find a time?"


def test_visitor_chats_from_the_website_and_keeps_the_thread(demo: Demo, person: Any) -> None:
    name = f"Dana Visitor {secrets.token_hex(2)}"
    desk = person("front desk")
    inbox = desk.sign_in("Front desk")

    visitor = person("visitor")
    site = visitor.page
    site.goto(f"{demo.url}/demo-site/")
    chat = site.locator("converge-chat")
    chat.locator("button.bubble").click()
    form = chat.locator("form.pre")
    expect(form).to_be_visible()
    form.get_by_label("Your name").fill(name)
    form.get_by_label("Mobile phone").fill("+1 555 301 7788")
    consent = form.locator("input[name=consent]")
    consent.check()
    visitor.shot("visitor-pre-chat")
    form.get_by_role("button", name="Start chat").click()
    log = chat.locator("ol.log")
    expect(chat.locator("#text")).to_be_visible()
    chat.locator("#text").fill(QUESTION)
    chat.get_by_role("button", name="Send message").click()
    expect(log.locator("li.visitor", has_text=QUESTION)).to_be_visible()

    # The front desk never reloads: the visitor's conversation arrives in the list.
    row = inbox.locator("#conversation-list .row", has_text=name)
    expect(row).to_be_visible()
    expect(row).to_contain_text("unverified")
    row.locator(".row-link").click()
    expect(inbox.locator("#thread-items")).to_contain_text(QUESTION)
    inbox.fill("#reply-body", ANSWER)
    inbox.locator("#reply-form button[type=submit]").click()
    expect(inbox.locator("#thread-items")).to_contain_text(ANSWER)
    desk.shot("visitor-front-desk-answered")

    # The visitor sees the answer without doing anything.
    expect(log.locator("li.practice", has_text=ANSWER)).to_be_visible(timeout=10000)
    visitor.shot("visitor-answered")

    site.reload()
    chat = site.locator("converge-chat")
    if not chat.locator("section.panel").is_visible():
        chat.locator("button.bubble").click()
    log = chat.locator("ol.log")
    expect(log.locator("li.visitor", has_text=QUESTION)).to_be_visible()
    expect(log.locator("li.practice", has_text=ANSWER)).to_be_visible()
    expect(chat.locator("form.pre")).to_be_hidden()
    visitor.shot("visitor-after-reload")

    # On a tablet, the same page with the chat open.
    tablet = person("visitor tablet", 768, 1024)
    tablet.page.goto(f"{demo.url}/demo-site/")
    tablet.page.locator("converge-chat button.bubble").click()
    expect(tablet.page.locator("converge-chat form.pre")).to_be_visible()
    tablet.shot("visitor-tablet-pre-chat")
