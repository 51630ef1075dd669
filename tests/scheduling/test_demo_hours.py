"""The demo practice has working hours for every provider, so its calendar offers free times."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from converge.core import clock
from converge.scheduling.models import Appointment, Provider, WorkingHours

NY = ZoneInfo("America/New_York")


@pytest.mark.django_db
def test_demo_providers_have_working_hours_and_the_calendar_offers_times():
    from converge.demo import ensure_demo
    from converge.practices.models import Practice, StaffMember
    from converge.scheduling.calendar_page import free_slots
    from converge.scheduling.models import AppointmentType
    from converge.scheduling.selectors import working_hours_problem

    with clock.frozen(datetime(2026, 3, 2, 7, 0, tzinfo=NY)):
        ensure_demo()
        practice = Practice.objects.get(slug="sunrise")
        providers = list(Provider.objects.filter(practice=practice))
        assert len(providers) == 3
        for provider in providers:
            rows = sorted(WorkingHours.objects.filter(provider=provider).values_list("weekday", "start", "end"))
            assert rows == [(d, time(8), time(17)) for d in range(5)]
        # Every seeded visit lies inside its provider's hours.
        for visit in Appointment.objects.filter(practice=practice).select_related(
            "provider__location", "provider__practice"
        ):
            assert (
                working_hours_problem(
                    provider=visit.provider, start=visit.start, end=visit.end, blocked_until=visit.blocked_until
                )
                is None
            ), visit.start
        kind = AppointmentType.objects.get(practice=practice, name="Follow-up visit")
        assert free_slots(practice, kind=kind, day=date(2026, 3, 3), providers=providers)
        # A demo made before hours were seeded gets them on its next start.
        WorkingHours.objects.filter(practice=practice).delete()
        ensure_demo()
        assert WorkingHours.objects.filter(practice=practice).count() == 15
        # Booking from the calendar works for the demo's front desk.
        maria = StaffMember.objects.get(practice=practice, user__email="maria@sunrise.example")
        client = Client()
        client.force_login(maria.user)
        html = client.get(
            "/calendar/", {"panel": "book", "type": kind.pk, "book_date": "2026-03-03", "date": "2026-03-03"}
        ).content.decode()
        assert "No free times" not in html and "free times on Tuesday 3 Mar" in html
