"""Journey: a patient by SMS. A scheduler books two patients a visit two days ahead from the
calendar; the in-process worker sends each the 48 h reminder (read on the patient's phone, the
simulator's outbox); one patient replies 1 and one 3 from their phone (signed webhooks); the
calendar shows the visits Confirmed and Cancelled, and each patient got the answer by text."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.journeys.conftest import Demo
from tests.journeys.phone import (
    PRACTICE,
    PRACTICE_TZ,
    Patient,
    quiet_hours_off_if_quiet,
    sms_patients,
    texts_to,
    wait_for_text,
)


def book_from_calendar(page: Any, patient: Patient, provider: str, at: datetime) -> str:
    """As a scheduler: Calendar → Book → find the patient → type, provider, day → another time →
    Book (and, at a weekend or in the evening, book outside working hours with a reason)."""
    page.get_by_role("link", name="Calendar", exact=True).click()
    page.locator("#cal-panel").get_by_role("link", name="+ Book an appointment").click()
    page.fill("#book-q", patient.name)
    page.locator("#book-results .cal-pick", has_text=patient.name).click()
    expect(page.locator(".cal-chosen")).to_contain_text(patient.name)
    # Each change refreshes the panel (htmx): wait for it before the next one. The panel may
    # remember an earlier choice, and then nothing changes and nothing is asked.
    for selector, value in (
        ("#book-type", "Follow-up visit (20 min)"),
        ("#book-provider", provider),
        ("#book-date", at.date().isoformat()),
    ):
        field = page.locator(selector)
        shown = field.evaluate("e => e.tagName === 'SELECT' ? e.options[e.selectedIndex].text : e.value")
        if shown == value:
            continue
        with page.expect_response(lambda r: "/calendar/?" in r.url and r.request.method == "GET"):
            if selector == "#book-date":
                field.fill(value)
            else:
                field.select_option(label=value)
    expect(page.locator(".cal-book-form")).to_contain_text(at.strftime("%A %-d %b"))
    page.locator(".cal-book-form summary", has_text="Another time").click()
    page.fill("#book-other-time", at.strftime("%H:%M"))
    page.get_by_role("button", name="Book", exact=True).click()
    page.wait_for_load_state()
    override = page.locator("#book-override-hours")
    if override.count():
        # Refused once with a 409 and the reason; the browser logs that answer as a console error.
        expect(page.locator(".cal-error")).to_contain_text("outside")
        override.check()
        page.fill("#book-override-reason", "Patient can only come then")
        page.get_by_role("button", name="Book", exact=True).click()
    page.wait_for_url(re.compile(r"appointment=\d+"))
    panel = page.locator("#cal-panel")
    expect(panel.get_by_role("heading", name=patient.name)).to_be_visible()
    expect(panel.locator(".cal-status")).to_contain_text("Booked")
    return str(page.url)


def test_patient_confirms_and_cancels_by_sms_reply(demo: Demo, person: Any) -> None:
    quiet_hours_off_if_quiet(demo)
    confirmer, canceller = sms_patients(demo, 2)
    # Booked 47 h 50 min ahead: the 48 h reminder is ten minutes late, so the worker sends it now.
    at = (datetime.now(PRACTICE_TZ) + timedelta(hours=48) - timedelta(minutes=10)).replace(second=0, microsecond=0)

    scheduler = person("scheduler")
    page = scheduler.sign_in("Scheduler")
    urls = {}
    for patient, provider in ((confirmer, "Dr. Anika Patel"), (canceller, "Dr. Miguel Reyes")):
        urls[patient.id] = book_from_calendar(page, patient, provider, at)
    scheduler.errors[:] = [e for e in scheduler.errors if "status of 409" not in e]
    scheduler.shot("patient-sms-booked")

    when = f"{at:%A, %B} {at.day} at {at.hour % 12 or 12}:{at:%M %p}"
    for patient in (confirmer, canceller):
        reminder = wait_for_text(demo, patient.phone, lambda body: "a reminder of your appointment" in body)
        assert when in reminder, reminder
        assert "Reply 1 to confirm, 2 to reschedule, 3 to cancel." in reminder
    sent = {p.id: len(texts_to(demo, p.phone)) for p in (confirmer, canceller)}

    demo.simulate("--practice", PRACTICE, "--from", confirmer.phone, "1")
    demo.simulate("--practice", PRACTICE, "--from", canceller.phone, "3")

    confirmed = wait_for_text(demo, confirmer.phone, lambda b: "confirmed" in b, after=sent[confirmer.id])
    assert when in confirmed, confirmed
    cancelled = wait_for_text(demo, canceller.phone, lambda b: "cancel" in b.lower(), after=sent[canceller.id])
    assert when in cancelled, cancelled

    # The scheduler looks again at each visit on the calendar.
    page.goto(urls[confirmer.id])
    expect(page.locator("#cal-panel .cal-status")).to_contain_text("Confirmed")
    scheduler.shot("patient-sms-confirmed")
    page.goto(urls[canceller.id])
    expect(page.locator("#cal-panel .cal-status")).to_contain_text("Cancelled")
    scheduler.shot("patient-sms-cancelled")

    # The front desk, on a tablet, opens the confirming patient's page.
    desk = person("front desk", 768, 1024)
    tablet = desk.sign_in("Front desk")
    tablet.goto(f"{demo.url}/patients/{confirmer.id}/")
    expect(tablet.get_by_text("Confirmed").first).to_be_visible()
    desk.shot("patient-sms-patient-page")

    with demo.db() as db:
        statuses = dict(
            db.execute(
                "SELECT patient_id, status FROM scheduling_appointment"
                " WHERE patient_id IN (?, ?) AND start > datetime('now')",
                (confirmer.id, canceller.id),
            ).fetchall()
        )
    assert statuses == {confirmer.id: "confirmed", canceller.id: "cancelled"}
