"""The staff calendar: the grid, booking, moving and status changes through the services,
errors shown, permissions, tenant isolation and escaping; plus the grid's pure geometry."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.core import clock
from converge.practices.models import Role
from converge.scheduling import calendar_grid as grid
from converge.scheduling.models import Appointment, AppointmentType, FollowUpItem, Provider, ScheduleException
from converge.scheduling.services import appointment_book, appointment_set_status
from tests.helpers import make_staff
from tests.reminders.conftest import clinic, make_patient  # noqa: F401 -- fixtures shared with the reminder tests

NY = ZoneInfo("America/New_York")
MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=NY)
THURSDAY = date(2026, 3, 5)
HTMX = {"HX-Request": "true"}
SCHEDULING = Path(__file__).resolve().parents[2] / "converge" / "scheduling"


@pytest.fixture
def frozen():
    with clock.frozen(MONDAY_9AM):
        yield


@pytest.fixture
def client(clinic):
    staff = make_staff(clinic.practice, "Maria Lopez", Role.FRONT_DESK)
    client = Client()
    client.force_login(staff.user)
    client.staff = staff
    return client


@pytest.fixture
def ana(clinic):
    return make_patient(clinic)


def named(clinic, phone, first_name):
    from converge.patients.models import Patient

    patient = make_patient(clinic, phone=phone)
    Patient.objects.filter(pk=patient.pk).update(first_name=first_name)
    patient.first_name = first_name
    return patient


def book(clinic, patient, hour, minute=0, day=THURSDAY, **kw):
    return appointment_book(
        patient=patient,
        provider=clinic.provider,
        start=datetime.combine(day, time(hour, minute), tzinfo=NY),
        appointment_type=clinic.visit,
        **kw,
    )


def page(response) -> str:
    return response.content.decode()


def state(**extra) -> dict[str, str]:
    return {"view": "day", "date": THURSDAY.isoformat(), "provider": "all", **extra}


# The grid ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_day_view_shows_hours_blocks_and_every_status_in_words(client, clinic, ana, frozen):
    statuses = ["booked", "confirmed", "checked_in", "no_show", "completed", "cancelled"]
    for i, status in enumerate(statuses):
        appointment = book(clinic, named(clinic, f"+1555203{i + 10:04d}", f"P{i}"), 9 + i // 3, 20 * (i % 3))
        if status != "booked":
            appointment_set_status(appointment=appointment, status=status)
    response = client.get("/calendar/", {"date": THURSDAY.isoformat()})
    assert response.status_code == 200
    html = page(response)
    assert "Thursday 5 March 2026" in html
    assert html.count('class="cal-appt ') == 6
    for label in ("Booked", "Confirmed", "Checked in", "No-show", "Completed", "Cancelled"):
        assert re.search(
            rf'class="cal-appt [^"]*".*?<span aria-hidden="true">[^<]+</span> <span class="cal-status-label">{label}</span>',
            html,
            re.S,
        )
    # Working hours 9-12 and 13-17 are shaded; the grid runs 8 AM-6 PM.
    assert html.count('class="cal-open ') == 2
    assert ">8 AM<" in html and ">5 PM<" in html and ">6 PM<" not in html
    assert "Dr. Patel" in html
    # "Hide cancelled" leaves the cancelled visit out.
    assert (
        page(client.get("/calendar/", {"date": THURSDAY.isoformat(), "cancelled": "0"})).count('class="cal-appt ') == 5
    )


@pytest.mark.django_db
def test_all_providers_side_by_side_and_week_view_for_one(client, clinic, ana, frozen):
    other = Provider.objects.create(practice=clinic.practice, display_name="Dr. Okafor")
    ScheduleException.objects.create(
        practice=clinic.practice, provider=clinic.provider, day=THURSDAY, note="Conference"
    )
    html = page(client.get("/calendar/", {"date": THURSDAY.isoformat(), "provider": "all"}))
    assert html.count('<section class="cal-col') == 2
    assert "Dr. Okafor" in html and "Conference" in html and "Not working" in html
    book(clinic, ana, 10, day=date(2026, 3, 3))
    week = page(client.get("/calendar/", {"view": "week", "date": THURSDAY.isoformat(), "provider": str(other.pk)}))
    assert 'aria-current="page">Week<' in week
    # Dr. Okafor has no hours: only Monday-Friday show; Dr. Patel's visit is not in his week.
    assert week.count('<section class="cal-col') == 5
    assert "Ana Diaz" not in week
    # A week shows one provider: "all" becomes the first by name.
    week = page(client.get("/calendar/", {"view": "week", "date": THURSDAY.isoformat(), "provider": "all"}))
    assert f'<option value="{other.pk}" selected>Dr. Okafor' in week and "All providers" not in week
    week = page(
        client.get("/calendar/", {"view": "week", "date": THURSDAY.isoformat(), "provider": clinic.provider.pk})
    )
    assert "Ana Diaz" in week and week.count('<section class="cal-col') == 5


@pytest.mark.django_db
def test_times_are_shown_in_the_practice_time_zone(client, clinic, ana, frozen):
    book(clinic, ana, 15, 40)
    html = page(client.get("/calendar/", {"date": THURSDAY.isoformat()}))
    assert ">3:40<" in html and "3:40 PM–4:00 PM" in html


@pytest.mark.django_db
def test_empty_states(practice, frozen):
    staff = make_staff(practice, "Solo Admin", Role.ADMIN)
    solo = Client()
    solo.force_login(staff.user)
    assert "No providers yet" in page(solo.get("/calendar/"))
    Provider.objects.create(practice=practice, display_name="Dr. Quiet")
    assert "No appointments on this day" in page(solo.get("/calendar/"))


# Booking ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_book_from_the_calendar_through_the_service(client, clinic, ana, frozen):
    found = page(client.get("/calendar/", state(panel="book", q="Diaz")))
    assert f'name="patient" value="{ana.pk}"' in found
    assert AuditEvent.objects.filter(action="patient.search").exists()
    chosen = page(
        client.get("/calendar/", state(panel="book", patient=ana.pk, type=clinic.visit.pk, book_date="2026-03-05"))
    )
    slot = f"{clinic.provider.pk}|{datetime(2026, 3, 5, 14, 0, tzinfo=NY).astimezone(ZoneInfo('UTC')).isoformat()}"
    assert f'value="{slot}"' in chosen
    assert "free times on Thursday 5 Mar" in chosen
    response = client.post("/calendar/book", {**state(), "patient": ana.pk, "type": clinic.visit.pk, "slot": slot})
    assert response.status_code == 302
    appointment = Appointment.objects.get(patient=ana)
    assert appointment.start == datetime(2026, 3, 5, 14, 0, tzinfo=NY) and appointment.source == "staff"
    assert f"appointment={appointment.pk}" in response.url
    event = AuditEvent.objects.get(action="appointment.book")
    assert event.actor_user_id == client.staff.user_id
    assert appointment.reminders.count() == 2  # the service's hooks ran
    html = page(client.get(response.url))
    assert "Booked for Thu 5 Mar, 2:00 PM." in html
    assert 'class="cal-panel open"' in html and "Check in" in html


@pytest.mark.django_db
def test_double_booking_is_refused_with_a_clear_error(client, clinic, ana, frozen):
    book(clinic, named(clinic, "+15552019999", "Ben"), 14)
    slot = f"{clinic.provider.pk}|{datetime(2026, 3, 5, 14, 0, tzinfo=NY).isoformat()}"
    response = client.post("/calendar/book", {**state(), "patient": ana.pk, "type": clinic.visit.pk, "slot": slot})
    assert response.status_code == 409
    assert "That time is no longer free" in page(response) and 'role="alert"' in page(response)
    assert not Appointment.objects.filter(patient=ana).exists()
    missing = client.post("/calendar/book", {**state(), "type": clinic.visit.pk, "slot": slot})
    assert missing.status_code == 400 and "Choose a patient first." in page(missing)


@pytest.mark.django_db
def test_status_changes_and_a_refused_transition(client, clinic, ana, frozen):
    appointment = book(clinic, ana, 10)
    url = f"/calendar/appointments/{appointment.pk}/status"
    assert client.post(url, {**state(), "status": "checked_in"}).status_code == 302
    assert Appointment.objects.get(pk=appointment.pk).status == "checked_in"
    response = client.post(url, {**state(), "status": "cancelled"})
    assert response.status_code == 400
    assert "Cannot change a checked in appointment to cancelled." in page(response)
    assert client.post(url, {**state(), "status": "no_show"}).status_code == 302
    assert FollowUpItem.objects.filter(appointment=appointment, kind="no_show").exists()
    assert client.post(url, {**state(), "status": "rescheduled"}).status_code == 400  # not a staff button
    other = book(clinic, make_patient(clinic, phone="+15552018888"), 11)
    assert (
        client.post(
            f"/calendar/appointments/{other.pk}/status", {**state(), "status": "cancelled", "reason": "called"}
        ).status_code
        == 302
    )
    other.refresh_from_db()
    assert other.status == "cancelled"
    assert AuditEvent.objects.filter(action="appointment.status", object_id=str(other.pk)).exists()


@pytest.mark.django_db
def test_move_to_a_free_time(client, clinic, ana, frozen):
    appointment = book(clinic, ana, 10)
    panel = page(client.get("/calendar/", state(appointment=appointment.pk, move_date="2026-03-06")))
    assert "Move to another time" in panel and "free times on Friday 6 Mar" in panel
    new_start = datetime(2026, 3, 6, 9, 0, tzinfo=NY)
    slot = f"{clinic.provider.pk}|{new_start.isoformat()}"
    assert f'value="{clinic.provider.pk}|{new_start.astimezone(ZoneInfo("UTC")).isoformat()}"' in panel
    response = client.post(f"/calendar/appointments/{appointment.pk}/move", {**state(), "slot": slot})
    assert response.status_code == 302 and "date=2026-03-06" in response.url
    appointment.refresh_from_db()
    assert appointment.start == new_start
    blocker = book(clinic, make_patient(clinic, phone="+15552017777"), 11)
    taken = f"{clinic.provider.pk}|{new_start.isoformat()}"
    response = client.post(
        f"/calendar/appointments/{blocker.pk}/move", {**state(), "slot": taken, "move_date": "2026-03-06"}
    )
    assert response.status_code == 409 and "no longer free" in page(response) and "Move here" in page(response)


@pytest.mark.django_db
def test_htmx_gets_only_the_panel(client, clinic, ana, frozen):
    appointment = book(clinic, ana, 10)
    response = client.get("/calendar/", state(appointment=appointment.pk), headers={**HTMX, "HX-Target": "cal-panel"})
    html = page(response)
    assert html.lstrip().startswith('<aside id="cal-panel" class="cal-panel open"')
    assert "<html" not in html and "Ana Diaz" in html
    assert AuditEvent.objects.filter(action="appointment.read", patient_id=ana.pk).exists()


# Safety -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_practices_objects_are_404(client, clinic, other_practice, frozen):
    from converge.patients.models import Patient

    stranger = Patient.objects.create(practice=other_practice, first_name="Zed", last_name="Other")
    provider = Provider.objects.create(practice=other_practice, display_name="Dr. Other")
    kind = AppointmentType.objects.create(practice=other_practice, name="Visit")
    theirs = appointment_book(
        patient=stranger,
        provider=provider,
        start=datetime(2026, 3, 5, 10, tzinfo=NY),
        appointment_type=kind,
        override_hours=True,  # Dr. Other has no working hours
        override_reason="test visit",
    )
    assert client.get("/calendar/", state(appointment=theirs.pk)).status_code == 404
    for action, data in (("status", {"status": "cancelled"}), ("move", {"slot": "x"})):
        assert client.post(f"/calendar/appointments/{theirs.pk}/{action}", {**state(), **data}).status_code == 404
    slot = f"{clinic.provider.pk}|{datetime(2026, 3, 5, 14, tzinfo=NY).isoformat()}"
    assert (
        client.post("/calendar/book", {"patient": stranger.pk, "type": clinic.visit.pk, "slot": slot}).status_code
        == 404
    )
    other_slot = f"{provider.pk}|{datetime(2026, 3, 5, 14, tzinfo=NY).isoformat()}"
    own = make_patient(clinic, phone="+15552016666")
    assert (
        client.post("/calendar/book", {"patient": own.pk, "type": clinic.visit.pk, "slot": other_slot}).status_code
        == 400
    )
    theirs.refresh_from_db()
    assert theirs.status == "booked" and Appointment.objects.filter(provider=provider).count() == 1
    # Their provider id in the picker is ignored, their visit never shows.
    html = page(client.get("/calendar/", {"date": THURSDAY.isoformat(), "provider": provider.pk}))
    assert "Zed" not in html and "Dr. Other" not in html


@pytest.mark.django_db
def test_patient_text_is_escaped(client, clinic, frozen):
    evil = named(clinic, "+15552015555", "<img src=x onerror=alert(1)>")
    appointment = book(clinic, evil, 10)
    for params in ({"date": THURSDAY.isoformat()}, state(appointment=appointment.pk), state(panel="book", q="Diaz")):
        html = page(client.get("/calendar/", params))
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.django_db
def test_sign_in_and_permission_are_required(client, clinic, monkeypatch, frozen):
    anonymous = Client()
    assert anonymous.get("/calendar/").status_code == 302
    assert anonymous.get("/calendar/", headers=HTMX).status_code == 401
    assert anonymous.post("/calendar/book").status_code == 302
    from converge.practices import permissions

    reduced = {
        **permissions.MATRIX,
        Role.FRONT_DESK: frozenset(permissions.MATRIX[Role.FRONT_DESK] - {permissions.Perm.BOOK_APPOINTMENTS}),
    }
    monkeypatch.setattr(permissions, "MATRIX", reduced)
    assert client.get("/calendar/").status_code == 403
    assert client.post("/calendar/book", state()).status_code == 403
    for role in (Role.SCHEDULER, Role.NURSE, Role.PROVIDER, Role.MANAGER, Role.ADMIN):
        other = Client()
        other.force_login(make_staff(clinic.practice, f"{role} Person", role).user)
        assert other.get("/calendar/").status_code == 200, role


def test_templates_and_scripts_keep_the_csp_rules():
    templates = sorted((SCHEDULING / "templates").rglob("*.html"))
    assert templates
    for path in templates:
        text = path.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            assert "src=" in match.group(0), path.name
        assert not re.search(r"\son[a-z]+\s*=", text), path.name
        assert "style=" not in text and "hx-on" not in text and "javascript:" not in text, path.name
        assert "|safe" not in text and "autoescape off" not in text, path.name
    for path in (SCHEDULING / "static" / "converge").glob("*.js"):
        text = path.read_text()
        assert not re.search(r"\.(inner|outer)HTML\b", text), path.name
        for sink in ("insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, path.name


@pytest.mark.django_db
def test_static_files_are_served(client):
    for name in ("calendar.js", "calendar.css"):
        assert client.get(f"/static/converge/{name}").status_code == 200


@pytest.mark.django_db
def test_every_form_field_has_a_label(client, clinic, ana, frozen):
    appointment = book(clinic, ana, 10)
    for params in (
        {"date": THURSDAY.isoformat()},
        state(appointment=appointment.pk, move_date="2026-03-06"),
        state(panel="book", q="Diaz"),
        state(panel="book", patient=ana.pk),
    ):
        html = page(client.get("/calendar/", params))
        ids = set(re.findall(r'<label[^>]+for="([^"]+)"', html))
        for tag in re.finditer(r"<(input|select|textarea)\b([^>]*)>", html):
            attrs = tag.group(2)
            if re.search(r'type="(hidden|submit|checkbox|radio)"', attrs):
                continue
            field_id = re.search(r'id="([^"]+)"', attrs)
            assert (field_id and field_id.group(1) in ids) or "aria-label=" in attrs, tag.group(0)


# Geometry ---------------------------------------------------------------------------------


def test_overlapping_visits_share_the_column_in_lanes():
    now = datetime(2026, 3, 2, 7, tzinfo=NY)
    day = date(2026, 3, 2)

    def at(h, m):
        return datetime.combine(day, time(h, m), tzinfo=NY)

    bookings = [
        grid.Booking(ref=1, provider_id=1, start=at(9, 0), end=at(9, 30)),
        grid.Booking(ref=2, provider_id=1, start=at(9, 15), end=at(9, 45)),
        grid.Booking(ref=3, provider_id=1, start=at(9, 30), end=at(10, 0)),
        grid.Booking(ref=4, provider_id=1, start=at(11, 0), end=at(11, 20)),
    ]
    built = grid.build_grid(
        days=[day],
        provider_ids=[1],
        zone=NY,
        provider_zones={},
        hours={1: [grid.Hours(0, time(9), time(17))]},
        exceptions={},
        bookings=bookings,
        now=now,
    )
    assert (built.first_hour, built.last_hour) == (8, 18)
    items = {i.ref: i for i in built.columns[0].items}
    assert [(items[r].lane, items[r].lanes) for r in (1, 2, 3, 4)] == [(0, 2), (1, 2), (0, 2), (0, 1)]
    assert items[1].row == 13 and items[1].span == 6  # 9:00 is 12 five-minute rows after 8:00
    assert items[4].css == "at-37 span-4 lane-0 lanes-1"
    assert built.columns[0].open[0].row == 13 and built.columns[0].open[0].span == 96
    assert built.columns[0].now_row is None  # 7 AM is before the grid


def test_grid_widens_for_early_visits_and_follows_wall_clock_across_dst():
    day = date(2026, 3, 8)  # New York springs forward at 2 AM
    built = grid.build_grid(
        days=[day],
        provider_ids=[1],
        zone=NY,
        provider_zones={1: NY},
        hours={1: [grid.Hours(6, time(9), time(12))]},
        exceptions={},
        bookings=[
            grid.Booking(
                ref=1,
                provider_id=1,
                start=datetime(2026, 3, 8, 7, 10, tzinfo=NY),
                end=datetime(2026, 3, 8, 7, 30, tzinfo=NY),
            )
        ],
        now=datetime(2026, 3, 8, 10, 2, tzinfo=NY),
    )
    assert built.first_hour == 7 and built.hours[0].label == "7 AM"
    column = built.columns[0]
    assert column.open[0].row == 25  # 9:00 local, two hours after 7:00 on the wall clock
    assert column.items[0].row == 3 and column.now_row == 37


def test_placement_css_covers_every_row():
    css = (SCHEDULING / "static" / "converge" / "calendar.css").read_text()
    assert grid.css_rules() in css
