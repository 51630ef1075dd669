"""What the working-hours tests share: a Monday morning in New York, the clinic's patient, and
booking with the clinic's provider and visit type."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from converge.core import clock
from converge.scheduling.services import appointment_book
from tests.reminders.conftest import clinic, make_patient  # noqa: F401 -- shared fixtures

NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=NY)
THURSDAY = date(2026, 3, 5)
SATURDAY = date(2026, 3, 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY)


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with clock.frozen(MONDAY_9AM):
        yield


@pytest.fixture
def ana(clinic):  # type: ignore[no-untyped-def]
    return make_patient(clinic)


def book(clinic: Any, patient: Any, start: datetime, **kw: Any) -> Any:
    return appointment_book(patient=patient, provider=clinic.provider, start=start, appointment_type=clinic.visit, **kw)
