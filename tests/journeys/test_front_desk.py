"""Front desk's morning: triage from the list, answer with a canned response, assign, resolve —
while a new patient writes in and shows up in the list without a reload."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

QUESTION = "Do you take Blue Cross PPO? My employer switched plans."
NEWCOMER = "+15550142277"
NEWCOMER_TEXT = "Hello, is there parking at the Eastside office? Which door do I use?"


def test_front_desk_answers_assigns_and_resolves_while_new_messages_arrive(demo: Any, person: Any) -> None:
    desk = person("front desk")
    page = desk.sign_in("Front desk")

    # Front desk looks at what nobody has picked up yet; the list shows what the patient wrote,
    # not the automatic reply.
    page.locator("a.view-unassigned").click()
    expect(page.locator(".view-unassigned")).to_have_attribute("aria-current", "page")
    rows = page.locator("#conversation-list li.row")
    row = rows.filter(has_text=QUESTION).first
    expect(row).to_contain_text("Unassigned")
    expect(row).to_be_visible()
    expect(row.locator(".preview")).not_to_contain_text("You:")
    patient_name = row.locator(".name").inner_text().strip()
    conversation_id = int(row.get_attribute("data-conversation-id") or 0)
    desk.shot("front-desk-1-inbox")

    # A new patient writes in while front desk works: the row appears live.
    demo.simulate("--practice", "sunrise", "--from", NEWCOMER, NEWCOMER_TEXT)
    newcomer = rows.filter(has_text=NEWCOMER_TEXT[:30])
    expect(newcomer).to_have_count(1, timeout=10000)
    expect(newcomer.locator(".preview")).to_contain_text("is there parking at the Eastside office?")

    # Open the conversation from the list.
    row.locator("a.row-link").click()
    expect(page.locator("#thread-title")).to_have_text(patient_name)
    expect(page.locator("#conversation-pane")).to_contain_text(QUESTION)

    # Answer with a canned response: "/" opens the picker, Enter takes the highlighted one.
    body = page.locator("#reply-body")
    body.click()
    body.press_sequentially("/insur")
    popup = page.locator("#canned-popup")
    expect(popup).to_be_visible()
    expect(popup.locator(".popup-item").first).to_contain_text("Insurance we accept")
    desk.shot("front-desk-2-canned-picker")
    body.press("Enter")
    expect(body).to_have_value(re.compile(r"^We accept most major plans, including Blue Cross"))
    # Each channel that cannot reach the patient is explained once, not once per channel of a kind.
    reasons = page.locator("#channel-reasons li").all_inner_texts()
    assert len(reasons) == len(set(reasons)), reasons
    page.locator("#reply-form button[type=submit]", has_text="Send").click()
    thread = page.locator("#conversation-pane")
    expect(thread.locator("li.msg.out").filter(has_text="We accept most major plans")).to_be_visible()
    expect(body).to_have_value("")

    # Assign to me, then resolve.
    page.locator("#assign-me").click()
    expect(page.locator("#assign-me")).to_be_disabled()
    expect(page.locator("#assign-select option:checked")).to_have_text("Maria Lopez")
    desk.shot("front-desk-3-answered")
    page.locator("#resolve-button").click()
    expect(page.locator(".thread-header .badges")).to_contain_text("Resolved")
    expect(page.locator("#resolve-button")).to_have_attribute("data-action", "reopen")
    desk.shot("front-desk-4-resolved")

    # The newcomer is still waiting in the list, which was never reloaded.
    expect(newcomer).to_have_count(1)

    # What the journey left behind.
    with demo.db() as db:
        status, assignee = db.execute(
            "SELECT c.status, u.email FROM conversations_conversation c"
            " JOIN practices_staffmember s ON s.id = c.assignee_id JOIN auth_user u ON u.id = s.user_id"
            " WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
    assert (status, assignee) == ("resolved", demo.logins["Front desk"])

    # On a tablet the same inbox still reads.
    tablet = person("front desk tablet", 768, 1024)
    tablet.sign_in("Front desk")
    expect(tablet.page.locator("#conversation-list li.row").filter(has_text=NEWCOMER_TEXT[:30])).to_have_count(1)
    tablet.shot("front-desk-5-inbox")
