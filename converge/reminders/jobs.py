from datetime import timedelta

from django.db import connection

from converge.core.jobs import next_batch, periodic
from converge.reminders.services import reminders_dispatch_due, reminders_fall_back, reminders_plan_missing
from converge.reminders.waitlist import waitlist_send_batches


@periodic("reminders.dispatch", every=timedelta(seconds=15))
def dispatch_reminders() -> None:
    # Batch after batch until none is due (its own thread: nothing else waits), unless stopping.
    # SQLite has one writer at a time: small batches keep each hold of the write lock short, so
    # a patient's webhook and its processing get the lock between them.
    limit = 10 if connection.vendor == "sqlite" else 200
    while reminders_dispatch_due(limit=limit) > 0 and next_batch():
        pass


@periodic("reminders.fallback", every=timedelta(seconds=60))
def fall_back() -> None:
    reminders_fall_back()


@periodic("waitlist.batches", every=timedelta(seconds=30))
def waitlist_batches() -> None:
    waitlist_send_batches()


@periodic("reminders.plan_missing", every=timedelta(minutes=5))
def plan_missing() -> None:
    reminders_plan_missing()


@periodic("appointments.auto_no_show", every=timedelta(minutes=5))
def auto_no_show() -> None:
    from converge.reminders.lifecycle import no_shows_mark_due

    no_shows_mark_due()
