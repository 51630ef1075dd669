"""Booking and moving keep to the provider's working hours: the service refuses a time outside
them with the reason, and staff may override only explicitly, with a reason that the audit row
keeps."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from converge.audit.models import AuditEvent
from converge.practices.models import Role
from converge.scheduling import slots
from converge.scheduling.models import Appointment, Provider, ScheduleException
from converge.scheduling.services import (
    BookingError,
    OutsideHoursError,
    appointment_move,
    appointment_reschedule,
)
from tests.helpers import make_staff
from tests.reminders.conftest import clinic, make_patient  # noqa: F401 -- shared fixtures
from tests.scheduling.hours_scaffold import (  # noqa: F401 -- shared fixtures
    MONDAY_9AM,
    NY,
    SATURDAY,
    THURSDAY,
    UTC,
    ana,
    at,
    book,
    frozen,
)

# The pure check -----------------------------------------------------------------------------


def test_hours_conflict_pure():
    hours = [slots.WorkingHours(3, time(9), time(12)), slots.WorkingHours(3, time(13), time(17))]
    check = {"tz": "America/New_York", "hours": hours, "exceptions": []}
    twenty = timedelta(minutes=20)
    assert slots.hours_conflict(**check, start=at(THURSDAY, 9), end=at(THURSDAY, 9) + twenty) is None
    # The last visit may end at closing time; its buffer may run past it.
    last = at(THURSDAY, 16, 40)
    assert slots.hours_conflict(**check, start=last, end=last + twenty, blocked_until=last + 2 * twenty) is None
    assert slots.hours_conflict(**check, start=at(THURSDAY, 11, 50), end=at(THURSDAY, 12, 10)) == "outside"
    assert slots.hours_conflict(**check, start=at(THURSDAY, 8, 50), end=at(THURSDAY, 9, 10)) == "outside"
    assert slots.hours_conflict(**check, start=at(SATURDAY, 10), end=at(SATURDAY, 10) + twenty) == "outside"
    day_off = [slots.DateException(THURSDAY, None, None, False)]
    start = at(THURSDAY, 10)
    assert slots.hours_conflict(**{**check, "exceptions": day_off}, start=start, end=start + twenty) == "outside"
    blocked = [slots.DateException(THURSDAY, time(10, 10), time(10, 30), False)]
    assert slots.hours_conflict(**{**check, "exceptions": blocked}, start=start, end=start + twenty) == "blocked"
    special = [slots.DateException(SATURDAY, time(9), time(11), True)]
    sat = at(SATURDAY, 10)
    assert slots.hours_conflict(**{**check, "exceptions": special}, start=sat, end=sat + twenty) is None
    with pytest.raises(ValueError):
        slots.hours_conflict(**check, start=datetime(2026, 3, 5, 10), end=datetime(2026, 3, 5, 11))


# The service --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_booking_outside_hours_is_refused_naming_the_hours(clinic, ana, frozen):
    with pytest.raises(OutsideHoursError) as refused:
        book(clinic, ana, at(THURSDAY, 12, 10))
    text = str(refused.value)
    assert "outside Dr. Patel's working hours (Thu 09:00–12:00, 13:00–17:00)" in text
    assert text.startswith("Thu 5 Mar 12:10")
    with pytest.raises(OutsideHoursError, match=r"not working Sat"):
        book(clinic, ana, at(SATURDAY, 10))
    ScheduleException.objects.create(
        practice=clinic.practice, provider=clinic.provider, day=THURSDAY, start=time(10), end=time(11), note="Meeting"
    )
    with pytest.raises(OutsideHoursError, match=r"blocked Thu 5 Mar 10:00–11:00: Meeting"):
        book(clinic, ana, at(THURSDAY, 10, 20))
    ScheduleException.objects.create(practice=clinic.practice, provider=clinic.provider, day=date(2026, 3, 6))
    with pytest.raises(OutsideHoursError, match=r"day off on Fri 6 Mar"):
        book(clinic, ana, at(date(2026, 3, 6), 10))
    assert not Appointment.objects.filter(patient=ana).exists()
    assert book(clinic, ana, at(THURSDAY, 9)).start == at(THURSDAY, 9)


@pytest.mark.django_db
def test_override_needs_a_reason_and_is_audited(clinic, ana, frozen):
    staff = make_staff(clinic.practice, "Maria Lopez", Role.FRONT_DESK)
    for reason in ("", "   "):
        with pytest.raises(BookingError, match="override_reason"):
            book(clinic, ana, at(SATURDAY, 10), override_hours=True, override_reason=reason)
    appointment = book(
        clinic, ana, at(SATURDAY, 10), override_hours=True, override_reason=" Urgent wound check ", actor=staff
    )
    event = AuditEvent.objects.get(action="appointment.book", object_id=str(appointment.pk))
    assert event.detail["override_hours"] is True
    assert event.detail["override_reason"] == "Urgent wound check"
    # An override never books over another visit.
    with pytest.raises(BookingError, match="no longer available"):
        book(
            clinic,
            make_patient(clinic, phone="+15552014444"),
            at(SATURDAY, 10),
            override_hours=True,
            override_reason="x",
        )
    # Inside hours nothing is recorded as an override.
    inside = book(
        clinic, make_patient(clinic, phone="+15552013333"), at(THURSDAY, 9), override_hours=True, override_reason="x"
    )
    assert "override_hours" not in AuditEvent.objects.get(action="appointment.book", object_id=str(inside.pk)).detail


@pytest.mark.django_db
def test_move_and_reschedule_keep_to_hours_unless_overridden(clinic, ana, frozen):
    appointment = book(clinic, ana, at(THURSDAY, 9))
    with pytest.raises(OutsideHoursError):
        appointment_move(appointment=appointment, start=at(THURSDAY, 18))
    appointment.refresh_from_db()
    assert appointment.start == at(THURSDAY, 9)
    okafor = Provider.objects.create(practice=clinic.practice, display_name="Dr. Okafor")
    with pytest.raises(OutsideHoursError, match=r"Dr\. Okafor's working hours"):
        appointment_move(appointment=appointment, start=at(THURSDAY, 10), provider=okafor)
    with pytest.raises(BookingError, match="override_reason"):
        appointment_move(appointment=appointment, start=at(THURSDAY, 18), override_hours=True)
    appointment_move(appointment=appointment, start=at(THURSDAY, 18), override_hours=True, override_reason="late lab")
    event = AuditEvent.objects.get(action="appointment.move", object_id=str(appointment.pk))
    assert event.detail == {"override_hours": True, "override_reason": "late lab"}
    with pytest.raises(OutsideHoursError):
        appointment_reschedule(appointment=appointment, start=at(SATURDAY, 9))
    new = appointment_reschedule(appointment=appointment, start=at(date(2026, 3, 6), 9))
    assert new.start == at(date(2026, 3, 6), 9)
