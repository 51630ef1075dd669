"""The calendar in a real browser against a real server: book an appointment from the grid with
the patient search and a free time, then cancel it; keyboard opening and closing of the panel.
Screenshots of the calendar, figures and waitlist pages at desktop and tablet sizes go to
/tmp/shots."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from converge.conversations.models import Conversation, Message
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Location, Practice, Role, Team
from converge.reminders.models import Reminder
from converge.reminders.waitlist import waitlist_add, waitlist_send_batches
from converge.scheduling.models import (
    Appointment,
    AppointmentType,
    FollowUpItem,
    Provider,
    ScheduleException,
    WorkingHours,
)
from converge.scheduling.services import appointment_book, appointment_set_status
from tests.dashboard.browser.conftest import server_password, shot
from tests.helpers import make_staff

pytestmark = pytest.mark.browser

SIZES = ((1280, 800), (768, 1024))


def expect_text(locator: Any, text: str, timeout: float = 10000) -> None:
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=timeout)


def tomorrow(practice: Practice) -> date:
    return clock.now().astimezone(ZoneInfo(practice.time_zone)).date() + timedelta(days=1)


def patient(practice: Practice, first: str, last: str, phone: str, **kw: Any) -> Patient:
    person = Patient.objects.create(
        practice=practice, first_name=first, last_name=last, is_verified=True, preferred_channel="sms", **kw
    )
    ContactPoint.objects.create(practice=practice, patient=person, kind="sms", address=phone, is_verified=True)
    return person


def clinic(practice: Practice) -> dict[str, Any]:
    location = Location.objects.create(practice=practice, name="Main Street")
    patel = Provider.objects.create(practice=practice, display_name="Dr. Patel", location=location)
    okafor = Provider.objects.create(practice=practice, display_name="Dr. Okafor", location=location)
    for weekday in range(7):  # every day, so the test does not depend on when it runs
        WorkingHours.objects.create(practice=practice, provider=patel, weekday=weekday, start=time(9), end=time(12))
        WorkingHours.objects.create(practice=practice, provider=patel, weekday=weekday, start=time(13), end=time(17))
        WorkingHours.objects.create(practice=practice, provider=okafor, weekday=weekday, start=time(8), end=time(16))
    visit = AppointmentType.objects.create(practice=practice, name="Follow-up visit", duration_minutes=20)
    new = AppointmentType.objects.create(practice=practice, name="New patient", duration_minutes=40)
    ana = patient(practice, "Ana", "Diaz", "+15552010001")
    return {"patel": patel, "okafor": okafor, "visit": visit, "new": new, "ana": ana}


def test_book_and_cancel_from_the_calendar(browse, maria, sms_channel):
    practice = maria.practice
    c = clinic(practice)
    day = tomorrow(practice)
    b = browse()
    page = b.login(maria)
    page.goto(f"{b.base_url}/calendar/?date={day.isoformat()}&provider={c['patel'].pk}")
    page.wait_for_selector(".cal-col")
    expect_text(page.locator(".cal-col-title"), "Dr. Patel")
    expect_text(page.locator(".cal-none"), "No appointments on this day")
    # The keyboard opens the booking panel; the search finds the patient as one types.
    page.locator("#cal-title").click()
    page.keyboard.press("b")
    page.wait_for_selector("#cal-panel.open #book-q")
    page.locator("#book-q").press_sequentially("Dia", delay=40)
    pick = page.locator(".cal-pick", has_text="Ana Diaz")
    pick.wait_for(timeout=10000)
    pick.click()
    expect_text(page.locator(".cal-chosen"), "Ana Diaz")
    shot(page, "calendar-book-panel-1280x800")
    page.locator(".cal-slot", has_text="9:00 AM").click()
    page.get_by_role("button", name="Book", exact=True).click()
    expect_text(page.locator(".flash"), "Booked for")
    block = page.locator(".cal-appt", has_text="Ana Diaz")
    expect_text(block, "Booked")
    expect_text(page.locator("#cal-panel"), "Check in")
    appointment = Appointment.objects.get(patient=c["ana"])
    local = appointment.start.astimezone(ZoneInfo(practice.time_zone))
    assert (local.date(), local.time()) == (day, time(9)) and appointment.status == "booked"
    # Esc closes the panel; the block opens it again (via htmx, no reload).
    page.keyboard.press("Escape")
    page.wait_for_selector("#cal-panel:not(.open)")
    block.click()
    page.wait_for_selector("#cal-panel.open .cal-cancel")
    page.locator(".cal-cancel summary").click()
    page.fill("#cancel-reason", "patient called")
    page.get_by_role("button", name="Cancel this appointment").click()
    expect_text(page.locator(".flash"), "Appointment cancelled.")
    expect_text(page.locator(".cal-appt", has_text="Ana Diaz"), "Cancelled")
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"
    assert not b.errors, b.errors


def test_book_outside_working_hours_needs_the_checkbox_and_a_reason(browse, maria, sms_channel):
    practice = maria.practice
    c = clinic(practice)
    day = tomorrow(practice)
    b = browse()
    page = b.login(maria)
    page.goto(
        f"{b.base_url}/calendar/?date={day.isoformat()}&provider={c['patel'].pk}&panel=book&patient={c['ana'].pk}"
    )
    page.wait_for_selector("#cal-panel.open .cal-book-form")
    page.locator(".cal-other-time summary").click()
    page.fill("#book-other-time", "18:00")
    page.get_by_role("button", name="Book", exact=True).click()
    expect_text(page.locator(".cal-error"), "outside Dr. Patel's working hours")
    expect_text(page.locator(".cal-override"), "Book outside working hours")
    shot(page, "calendar-book-outside-hours-1280x800")
    assert not Appointment.objects.filter(patient=c["ana"]).exists()
    page.locator("#book-override-hours").check()
    page.fill("#book-override-reason", "Only time after work")
    page.get_by_role("button", name="Book", exact=True).click()
    expect_text(page.locator(".flash"), "Booked for")
    appointment = Appointment.objects.get(patient=c["ana"])
    assert appointment.start.astimezone(ZoneInfo(practice.time_zone)).time() == time(18)
    # The refused post answers 409, which the browser logs; nothing else went wrong.
    assert all("status of 409" in e for e in b.errors), b.errors


def _busy_day(practice: Practice, c: dict[str, Any], day: date) -> None:
    zone = ZoneInfo(practice.time_zone)
    people = [
        patient(practice, first, last, f"+155520200{i:02d}")
        for i, (first, last) in enumerate(
            [("Ben", "Okoye"), ("Chloe", "Martin"), ("Dev", "Sharma"), ("Elena", "Ruiz"), ("Farah", "Haddad"),
             ("Gus", "Lindqvist"), ("Hana", "Sato"), ("Ivan", "Petrov"), ("Jo", "Nakamura"), ("Kemi", "Adeyemi")]
        )
    ]  # fmt: skip
    plan = [
        (c["patel"], time(9, 0), c["visit"], "confirmed"),
        (c["patel"], time(9, 20), c["visit"], "checked_in"),
        (c["patel"], time(9, 40), c["new"], "booked"),
        (c["patel"], time(10, 40), c["visit"], "completed"),
        (c["patel"], time(11, 0), c["visit"], "no_show"),
        (c["patel"], time(13, 30), c["visit"], "cancelled"),
        (c["patel"], time(13, 30), c["new"], "booked"),
        (c["okafor"], time(8, 30), c["new"], "confirmed"),
        (c["okafor"], time(10, 0), c["visit"], "booked"),
        (c["okafor"], time(14, 0), c["visit"], "booked"),
    ]
    for person, (provider, at, kind, status) in zip(people, plan, strict=True):
        appointment = appointment_book(
            patient=person, provider=provider, start=datetime.combine(day, at, tzinfo=zone), appointment_type=kind
        )
        if status != "booked":
            appointment_set_status(appointment=appointment, status=status)
    ScheduleException.objects.create(
        practice=practice, provider=c["okafor"], day=day, start=time(12), end=time(13), note="Team meeting"
    )


def _history(practice: Practice, sms_channel: Any, c: dict[str, Any]) -> None:
    """Eight weeks of visits, reminders and conversations, so the figures have something to show."""
    zone = ZoneInfo(practice.time_zone)
    today = clock.now().astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    teams = list(Team.objects.filter(practice=practice).order_by("id"))
    person = c["ana"]
    for week in range(8):
        start_day = monday - timedelta(weeks=7 - week)
        for i in range(5 + week % 3 * 2):
            start = datetime.combine(start_day + timedelta(days=i % 5), time(9 + i % 7), tzinfo=zone)
            status = ("completed", "completed", "no_show", "completed", "cancelled")[(i + week) % 5]
            appointment = Appointment.objects.create(
                practice=practice, patient=person, provider=c["okafor"], appointment_type=c["visit"], start=start,
                end=start + timedelta(minutes=20), blocked_until=start + timedelta(minutes=20), status=status,
                confirmed_at=start - timedelta(days=1) if (i + week) % 3 else None,
            )  # fmt: skip
            conversation = Conversation.objects.create(
                practice=practice, patient=person, team=teams[i % len(teams)], status="resolved",
                resolved_at=start + timedelta(days=2 + i % 9), created_at=start - timedelta(hours=3),
                updated_at=start, last_message_at=start,
            )  # fmt: skip
            first_in = start - timedelta(hours=3)
            for direction, when, automatic in (
                ("in", first_in, False),
                ("out", first_in + timedelta(minutes=1), True),
                ("out", first_in + timedelta(minutes=5 + 17 * ((i * 7 + week * 3) % 9)), False),
            ):
                Message.objects.create(
                    practice=practice, conversation=conversation, patient=person, channel=sms_channel,
                    direction=direction, body="…", status="delivered", is_automatic=automatic, created_at=when,
                )  # fmt: skip
            if status != "cancelled":
                for kind, hours in (("48h", 48), ("24h", 24)):
                    message = Message.objects.create(
                        practice=practice, conversation=conversation, patient=person, channel=sms_channel,
                        direction="out", body="Reminder", status="delivered" if (i + hours) % 4 else "sent",
                        is_automatic=True, created_at=start - timedelta(hours=hours),
                    )  # fmt: skip
                    Reminder.objects.create(
                        practice=practice, appointment=appointment, kind=kind, status="queued", message=message,
                        due_at=start - timedelta(hours=hours), planned_for_start=start,
                    )  # fmt: skip


def test_screens(browse, maria, sms_channel):
    """Not a behaviour test: the main screens at 1280x800 and 768x1024 for a person to look at."""
    practice = maria.practice
    c = clinic(practice)
    day = tomorrow(practice)
    _busy_day(practice, c, day)
    _history(practice, sms_channel, c)
    for i, (first, last) in enumerate((("Lena", "Vogel"), ("Marco", "Rossi"))):
        waitlist_add(
            patient=patient(practice, first, last, f"+155520300{i:02d}"), actor=None, weekdays=[0, 2, 4] if i else []
        )
    offered = appointment_book(
        patient=patient(practice, "Nora", "Quinn", "+15552030099"),
        provider=c["patel"],
        start=datetime.combine(day, time(15), tzinfo=ZoneInfo(practice.time_zone)),
        appointment_type=c["visit"],
    )
    appointment_set_status(appointment=offered, status="cancelled")
    waitlist_send_batches()
    FollowUpItem.objects.create(
        practice=practice, patient=c["ana"], kind="recall", note="Annual check-up due", created_at=clock.now()
    )
    manager = make_staff(practice, "Mia Manager", Role.MANAGER)
    server_password(manager)
    b = browse()
    page = b.login(manager)
    base = f"{b.base_url}"
    pages = {
        "calendar-day": f"/calendar/?date={day.isoformat()}&provider=all",
        "calendar-week": f"/calendar/?view=week&date={day.isoformat()}&provider={c['patel'].pk}",
        "calendar-appointment": f"/calendar/?date={day.isoformat()}&provider=all&appointment="
        + str(Appointment.objects.filter(status="checked_in").first().pk),
        "figures": "/figures/",
        "waitlist": "/waitlist/",
        "recall": "/recall/?mode=due",
    }
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        for name, path in pages.items():
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            shot(page, f"{name}-{width}x{height}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(base + pages["recall"])
    page.get_by_role("button", name="Send recall").click()
    expect_text(page.locator(".recall-result"), "Queued")
    shot(page, "recall-result-1280x800")
    assert Message.objects.filter(metadata__recall_batch__isnull=False).count() == 1
    assert not b.errors, b.errors
