"""The figures a practice manager watches: reminders, confirmations, no-shows, waitlist refills,
by week (weeks start on Monday in the practice's time zone)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count
from django.db.models.functions import TruncWeek

from converge.core import clock
from converge.practices.models import Practice
from converge.reminders.models import Reminder, ReminderStatus
from converge.scheduling.models import Appointment, AppointmentStatus, SlotOffer


@dataclass
class WeekFigures:
    week: date
    reminders_planned: int = 0
    reminders_queued: int = 0
    reminders_delivered: int = 0
    appointments: int = 0
    confirmed: int = 0
    no_shows: int = 0
    attended: int = 0
    waitlist_refills: int = 0

    @property
    def confirmation_rate(self) -> float | None:
        return round(self.confirmed / self.appointments, 3) if self.appointments else None

    @property
    def no_show_rate(self) -> float | None:
        seen = self.no_shows + self.attended
        return round(self.no_shows / seen, 3) if seen else None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["week"] = self.week.isoformat()
        data["confirmation_rate"] = self.confirmation_rate
        data["no_show_rate"] = self.no_show_rate
        return data


def weekly_figures(*, practice: Practice, weeks: int = 8) -> list[WeekFigures]:
    """One aggregate query per figure, grouped by week in the database."""
    zone = ZoneInfo(practice.time_zone)
    today = clock.now().astimezone(zone).date()
    first_monday = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    since = datetime.combine(first_monday, datetime.min.time(), tzinfo=zone)
    rows: dict[date, WeekFigures] = {
        first_monday + timedelta(weeks=i): WeekFigures(first_monday + timedelta(weeks=i)) for i in range(weeks)
    }
    by_week: dict[str, dict[date, int]] = defaultdict(dict)

    def count(name: str, qs, field: str) -> None:  # type: ignore[no-untyped-def]
        for row in qs.annotate(week=TruncWeek(field, tzinfo=zone)).values("week").annotate(n=Count("id")):
            week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
            by_week[name][week] = row["n"]

    reminders = Reminder.objects.filter(practice_id=practice.pk, appointment__start__gte=since)
    count("reminders_planned", reminders.exclude(status=ReminderStatus.CANCELLED), "appointment__start")
    count("reminders_queued", reminders.filter(status=ReminderStatus.QUEUED), "appointment__start")
    count(
        "reminders_delivered",
        reminders.filter(status=ReminderStatus.QUEUED, message__status__in=["delivered", "read"]),
        "appointment__start",
    )
    appointments = Appointment.objects.filter(practice_id=practice.pk, start__gte=since).exclude(
        status__in=[AppointmentStatus.RESCHEDULED]
    )
    count("appointments", appointments.exclude(status=AppointmentStatus.CANCELLED), "start")
    count("confirmed", appointments.filter(confirmed_at__isnull=False), "start")
    count("no_shows", appointments.filter(status=AppointmentStatus.NO_SHOW), "start")
    count(
        "attended", appointments.filter(status__in=[AppointmentStatus.COMPLETED, AppointmentStatus.CHECKED_IN]), "start"
    )
    count(
        "waitlist_refills",
        SlotOffer.objects.filter(practice_id=practice.pk, status=SlotOffer.Status.FILLED, start__gte=since),
        "start",
    )
    for name, weeks_counts in by_week.items():
        for week, n in weeks_counts.items():
            if week in rows:
                setattr(rows[week], name, n)
    return [rows[k] for k in sorted(rows)]
