"""Journey: a nurse with the inbox open. An urgent message arrives from a new number (a signed
webhook through the simulator); the alert shows within 2 s without a reload, is still there
6 s later, and goes only when the nurse acknowledges it; the automatic safety reply (911) is in
the thread, and on the patient's phone."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from playwright.sync_api import expect

from tests.journeys.conftest import Demo
from tests.journeys.phone import PRACTICE, wait_for_text

URGENT = "I have crushing chest pain and my left arm is numb"


def test_urgent_message_alerts_the_nurse_until_acknowledged(demo: Demo, person: Any) -> None:
    # Never +1555000…: the simulator keeps those numbers unreachable (a 1-in-1,000 flake in CI).
    number = f"+1555{1_000_000 + secrets.randbelow(9_000_000):07d}"
    nurse = person("nurse")
    inbox = nurse.sign_in("Nurse")
    alerts = inbox.locator(".urgent-alert")
    already = alerts.count()

    demo.simulate("--practice", PRACTICE, "--from", number, URGENT)
    arrived = time.monotonic()
    with demo.db() as db:
        (conversation_id,) = db.execute(
            "SELECT m.conversation_id FROM conversations_message m"
            " JOIN patients_contactpoint c ON c.id = m.contact_point_id WHERE c.address = ? ORDER BY m.id",
            (number,),
        ).fetchone()
    alert = inbox.locator(f".urgent-alert[data-urgent-conversation='{conversation_id}']")
    expect(alert).to_be_visible(timeout=2000)
    assert time.monotonic() - arrived < 2.5
    expect(alerts).to_have_count(already + 1)
    nurse.shot("nurse-urgent-alert")

    inbox.wait_for_timeout(6000)
    expect(alert).to_be_visible(timeout=1)

    alert.get_by_role("link", name="Open").click()
    thread = inbox.locator("#thread-items")
    expect(thread).to_contain_text(URGENT)
    expect(thread).to_contain_text("911")
    nurse.shot("nurse-urgent-thread")
    safety = wait_for_text(demo, number, lambda body: "911" in body)
    assert "911" in safety

    inbox.locator(f".urgent-alert[data-urgent-conversation='{conversation_id}'] .urgent-ack").click()
    expect(inbox.locator(f".urgent-alert[data-urgent-conversation='{conversation_id}']")).to_have_count(0)
    expect(inbox.locator("#urgent-acks")).to_contain_text("Acknowledged by Grace Kim")
    expect(thread).to_contain_text(re.compile("urgent alert acknowledged by Grace Kim", re.I))
    nurse.shot("nurse-urgent-acknowledged")

    # Another clinician on a tablet sees it acknowledged, not raised again.
    colleague = person("provider", 768, 1024)
    tablet = colleague.sign_in("Provider")
    expect(tablet.locator(f".urgent-alert[data-urgent-conversation='{conversation_id}']")).to_have_count(0)
    colleague.shot("nurse-urgent-colleague")
