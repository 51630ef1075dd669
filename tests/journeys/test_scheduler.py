"""The scheduler's day: book a visit from the calendar, move it, cancel it with a reason — and the
freed time is offered to the waitlist, which the scheduler sees on the waitlist page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from playwright.sync_api import expect

PATIENT_SEARCH = "Walker"
REASON = "Patient asked to cancel, travelling"


def _next_weekday(after: date, skip: int) -> date:
    """The `skip`-th working day (Mon–Fri) after `after`."""
    day = after
    while skip:
        day += timedelta(days=1)
        if day.weekday() < 5:
            skip -= 1
    return day


def _settle(page: Any) -> None:
    """Wait for the panel's request to come back, as a person waits for the form to update."""
    page.wait_for_timeout(100)
    expect(page.locator(".htmx-request")).to_have_count(0)


def test_scheduler_books_moves_cancels_and_the_waitlist_gets_the_slot(demo: Any, person: Any) -> None:
    scheduler = person("scheduler")
    page = scheduler.sign_in("Scheduler")
    page.get_by_role("link", name="Calendar", exact=True).click()
    expect(page.locator("#cal-title")).to_be_visible()
    panel = page.locator("#cal-panel")

    # 1. Book: patient, type, day, a free time.
    page.locator(".cal-book").click()
    expect(panel.locator("#cal-panel-title")).to_have_text("Book an appointment")
    panel.locator("#book-q").fill(PATIENT_SEARCH)
    pick = panel.locator(".cal-pick").first
    expect(pick).to_be_visible()
    patient = pick.locator("strong").inner_text().strip()
    pick.click()
    _settle(page)
    expect(panel.locator(".cal-chosen")).to_contain_text(patient)
    panel.locator("#book-type").select_option(index=0)
    _settle(page)
    kind = panel.locator("#book-type option:checked").inner_text().split(" (")[0]
    provider = panel.locator("#book-provider option").nth(1).inner_text()
    panel.locator("#book-provider").select_option(label=provider)
    _settle(page)
    today = date.fromisoformat(page.locator("#cal-date").input_value())  # the practice's today
    book_day = _next_weekday(today, 2)
    panel.locator("#book-date").fill(book_day.isoformat())
    _settle(page)
    panel.get_by_role("button", name="Find free times").click()
    _settle(page)
    slots = panel.locator(".cal-book-form .cal-slot")
    expect(slots.first).to_be_visible()
    first_time = slots.nth(2).locator("span").first.inner_text()
    slots.nth(2).click()
    scheduler.shot("scheduler-1-book")
    panel.get_by_role("button", name="Book", exact=True).click()

    # The calendar shows the new visit, open in the panel.
    expect(panel.locator("#cal-panel-title")).to_have_text(patient)
    expect(panel.locator(".facts")).to_contain_text(first_time)
    expect(panel.locator(".facts")).to_contain_text(provider)
    expect(panel.locator(".facts")).to_contain_text(kind)
    appointment_id = int(re.search(r"appointment=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    block = page.locator(f".cal-appt[data-appointment='{appointment_id}']")
    expect(block).to_be_visible()

    # 2. Move it to another free time the next working day.
    move_day = _next_weekday(book_day, 1)
    panel.locator("#move-date").fill(move_day.isoformat())
    _settle(page)
    panel.get_by_role("button", name="Find free times").click()
    _settle(page)
    move_slots = panel.locator(".cal-move .cal-slot")
    expect(move_slots.first).to_be_visible()
    moved_time = move_slots.nth(4).locator("span").first.inner_text()
    move_slots.nth(4).click()
    panel.get_by_role("button", name="Move here").click()
    expect(panel.locator(".facts")).to_contain_text(move_day.strftime("%a %-d %b"))
    expect(panel.locator(".facts")).to_contain_text(moved_time)
    scheduler.shot("scheduler-2-moved")

    # 3. Cancel with a reason.
    panel.locator(".cal-cancel summary").click()
    panel.locator("#cancel-reason").fill(REASON)
    panel.get_by_role("button", name="Cancel this appointment").click()
    expect(panel.locator(".cal-status.is-large")).to_contain_text("Cancelled")
    scheduler.shot("scheduler-3-cancelled")

    # 4. The freed time goes to the waitlist: the scheduler sees the offer there.
    page.get_by_role("link", name="Waitlist", exact=True).click()
    offers = page.locator("section[aria-labelledby=offers-title] tbody tr")
    offer = offers.filter(has_text=f"{move_day.strftime('%a %-d %b')}, {moved_time}")
    expect(offer).to_have_count(1)
    expect(offer).to_contain_text(provider)
    # The worker sends the first batch: the row names whom it was offered to.
    for _ in range(20):
        if offer.locator(".recipients li").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(offer.locator(".recipients li").first).to_contain_text("Offered")
    scheduler.shot("scheduler-4-waitlist")

    with demo.db() as db:
        (status,) = db.execute("SELECT status FROM scheduling_appointment WHERE id = ?", (appointment_id,)).fetchone()
        details = [
            row[0]
            for row in db.execute(
                "SELECT detail FROM audit_auditevent WHERE object_type = 'scheduling.appointment' AND object_id = ?",
                (str(appointment_id),),
            )
        ]
    assert status == "cancelled"
    assert any(REASON in d for d in details), details

    tablet = person("scheduler tablet", 768, 1024)
    tablet.sign_in("Scheduler")
    tablet.page.goto(f"{demo.url}/calendar/?view=day&date={move_day.isoformat()}&appointment={appointment_id}")
    expect(tablet.page.locator("#cal-panel-title")).to_have_text(patient)
    tablet.shot("scheduler-5-calendar")
