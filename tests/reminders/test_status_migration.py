"""The migration that renamed a reminder's "sent" status to "queued" converts stored rows both
ways, and leaves the other statuses alone."""

from __future__ import annotations

import importlib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from converge.core import clock
from converge.reminders.models import Reminder
from converge.scheduling.services import appointment_book

pytestmark = pytest.mark.django_db

migration = importlib.import_module("converge.reminders.migrations.0005_reminder_status_queued")


def test_sent_rows_become_queued_and_back(clinic, patient):
    with clock.frozen(datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("America/New_York"))):
        appointment = appointment_book(
            patient=patient,
            provider=clinic.provider,
            start=datetime(2026, 3, 5, 10, tzinfo=ZoneInfo("America/New_York")),
        )
    rows = {r.kind: r.pk for r in Reminder.objects.filter(appointment=appointment)}
    assert set(rows) == {"48h", "24h"}
    Reminder.objects.filter(pk=rows["48h"]).update(status="sent")
    Reminder.objects.filter(pk=rows["24h"]).update(status="skipped")

    def statuses() -> dict[str, str]:
        return {r.kind: r.status for r in Reminder.objects.filter(appointment=appointment)}

    migration.sent_to_queued(apps, None)
    assert statuses() == {"48h": "queued", "24h": "skipped"}
    migration.queued_to_sent(apps, None)
    assert statuses() == {"48h": "sent", "24h": "skipped"}
