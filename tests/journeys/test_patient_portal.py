"""Journey: a patient in the secure portal. A patient texts about a lab result; a nurse answers in
the browser with clinical content; the PHI guard sends it through the portal, so the patient's
phone gets only a link; the patient opens it in their own browser, gives their date of birth,
reads the answer and replies there; the reply appears live in the nurse's open thread."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import expect

from tests.journeys.conftest import Demo
from tests.journeys.phone import PRACTICE, PRACTICE_TZ, sms_patients, texts_to, wait_for_text

QUESTION = "Hi, did my blood test from last week come back? What were the results?"
ANSWER = "Your HbA1c is 7.2, keep taking metformin twice a day with food."
REPLY = "Thank you. I will keep taking it and see you at my next visit."


def test_patient_reads_a_clinical_answer_and_replies_in_the_portal(demo: Demo, person: Any) -> None:
    (patient,) = sms_patients(demo, 1, skip=2)  # the SMS journey takes the last two

    nurse = person("nurse")
    inbox = nurse.sign_in("Nurse")
    demo.simulate("--practice", PRACTICE, "--from", patient.phone, QUESTION)

    # The nurse opens the new conversation from the list and answers it.
    row = inbox.locator("#conversation-list .row", has_text=patient.name)
    expect(row).to_be_visible()
    row.locator(".row-link").click()
    thread = inbox.locator("#thread-items")
    expect(thread).to_contain_text(QUESTION)
    sent_before = len(texts_to(demo, patient.phone))
    inbox.fill("#reply-body", ANSWER)
    notice = inbox.locator("#guard-preview .guard-notice")
    expect(notice).to_contain_text("This will go through the secure portal")
    nurse.shot("patient-portal-nurse-composing")
    inbox.locator("#reply-form button[type=submit]").click()
    expect(thread).to_contain_text(ANSWER)

    # On the patient's phone: a link, and nothing of the answer.
    text = wait_for_text(demo, patient.phone, lambda body: "new secure message" in body, after=sent_before)
    assert "HbA1c" not in text and "metformin" not in text and "7.2" not in text, text
    link = re.search(r"https?://\S+/portal/t/\S+", text)
    assert link, text
    assert link.group(0).startswith(demo.url), text

    # The patient opens it in their own browser, on a tablet.
    visitor = person("patient", 768, 1024)
    portal = visitor.page
    portal.goto(link.group(0))
    expect(portal.get_by_text("please confirm your date of birth")).to_be_visible()
    visitor.shot("patient-portal-dob")
    portal.get_by_label("Month").fill(str(patient.date_of_birth.month))
    portal.get_by_label("Day").fill(str(patient.date_of_birth.day))
    portal.get_by_label("Year").fill(str(patient.date_of_birth.year))
    portal.get_by_role("button", name="Continue").click()
    messages = portal.locator("ol.thread")
    expect(messages).to_contain_text(ANSWER)
    assert link.group(0).split("/portal/t/")[1] not in portal.url
    # Times read as the practice's clock, as the nurse sees them, not the server's UTC.
    with demo.db() as db:
        (created,) = db.execute(
            "SELECT m.created_at FROM conversations_message m JOIN connectors_channel c ON c.id = m.channel_id"
            " WHERE m.patient_id = ? AND c.kind = 'portal' AND m.direction = 'out' ORDER BY m.id DESC",
            (patient.id,),
        ).fetchone()
    sent_at = datetime.fromisoformat(created).replace(tzinfo=UTC).astimezone(PRACTICE_TZ)
    clock = f"{sent_at:%b} {sent_at.day}, {sent_at.hour % 12 or 12}:{sent_at:%M %p}"
    expect(messages.locator("li.msg.out", has_text=ANSWER).locator(".meta")).to_contain_text(clock)
    visitor.shot("patient-portal-read")

    portal.get_by_label("Your reply").fill(REPLY)
    portal.get_by_role("button", name="Send securely").click()
    expect(messages.locator("li.msg.in", has_text=REPLY)).to_be_visible()
    visitor.shot("patient-portal-replied")

    # The nurse never reloaded: the reply is in the open thread.
    expect(thread).to_contain_text(REPLY)
    nurse.shot("patient-portal-nurse-sees-reply")

    with demo.db() as db:
        kinds = db.execute(
            "SELECT c.kind, m.direction FROM conversations_message m JOIN connectors_channel c ON c.id = m.channel_id"
            " WHERE m.patient_id = ? ORDER BY m.id",
            (patient.id,),
        ).fetchall()
    assert ("portal", "out") in kinds and ("portal", "in") in kinds, kinds
