"""The patient's side of the secure portal in a real browser: open the link, pass the date of
birth check, read, reply — and the reply is in the staff's conversation."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from converge.conversations.models import Message
from converge.conversations.services import message_queue
from tests.dashboard.browser.conftest import shot

pytestmark = pytest.mark.browser


def test_patient_enters_the_portal_reads_and_replies(browse: Any, conversation: Any, grace: Any) -> None:
    patient = conversation.patient
    patient.date_of_birth = dt.date(1984, 3, 7)
    patient.save(update_fields=["date_of_birth"])
    # A nurse's clinical reply on SMS: the PHI guard delivers it in the portal and texts a link.
    secure = message_queue(
        conversation=conversation,
        channel=conversation.messages.first().channel,
        body="Your HbA1c result is 6.1; keep taking metformin 500 mg.",
        sender=grace,
    )
    notice = Message.objects.filter(conversation=conversation, body__contains="/portal/t/").get()
    link = re.search(r"https?://\S+/portal/t/\S+", notice.body).group(0)  # type: ignore[union-attr]
    assert secure.channel_id != notice.channel_id

    b = browse()
    page = b.page
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(b.base_url + urlsplit(link).path)  # the link names the test settings' host
    page.fill("input[name=month]", "3")
    page.fill("input[name=day]", "7")
    page.fill("input[name=year]", "1984")
    page.click("form.dob button[type=submit]")
    # Chromium sends "Origin: null" under a no-referrer policy and Django's CSRF check refuses it.
    expect(page.locator("body")).not_to_contain_text("CSRF")
    expect(page.locator("body")).to_contain_text("keep taking metformin")
    shot(page, "portal-thread-1280x800")

    page.fill("form.reply textarea", "Thank you, see you Friday")
    page.click("form.reply button[type=submit]")
    expect(page.locator("body")).to_contain_text("Thank you, see you Friday")
    assert Message.objects.filter(conversation__patient=patient, body="Thank you, see you Friday").exists()
    # /favicon.ico is still a 404 on the portal (issue 13, item 10).
    assert [url for url in failed if not url.endswith("/favicon.ico")] == []
