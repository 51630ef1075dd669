"""Fault: the worker is busy elsewhere — an IMAP server that accepts and then stalls, and
hundreds of reminders due — while urgent patient messages arrive as signed webhooks (worker
mode: the webhook queues, a real `converge worker` process runs the pipeline). The lanes keep
them apart: every urgent message reaches the inbox while the IMAP poll is still hanging, none is
lost or stored twice, every reminder is dispatched exactly once, and SIGTERM with the poll still
hanging stops the worker within 10 s with every claim handed back.

No timing bounds here beyond "while the stall was still going": bench/lanes.py measures."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from django.db.models import Count
from django.test import Client

from bench.lanes import StallingImapServer, seed_due_reminders, stalled_mailbox, urgent_webhook
from converge.conversations.models import Direction, InboundEvent, Message
from converge.core.models import PeriodicJobState, WorkerHeartbeat
from converge.reminders.models import Reminder, ReminderStatus
from tests.conversations.test_outbox_processes import spawn  # noqa: F401
from tests.faults.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

URGENT = 10
REMINDERS = 300
STOP_WITHIN = 10.0


def urgent_stored(channel: Any, run: str) -> list[str]:
    return list(
        Message.objects.filter(
            channel=channel, direction=Direction.INBOUND, provider_message_id__startswith=f"urgent-{run}-"
        ).values_list("provider_message_id", flat=True)
    )


def test_urgent_messages_are_processed_while_imap_stalls_and_reminders_dispatch(
    practice: Any, sms_channel: Any, spawn: Any
) -> None:
    imap = StallingImapServer()
    try:
        stalled_mailbox(practice, imap.port)
        seed_due_reminders(practice, REMINDERS)
        worker = spawn("worker", "worker", "--idle", "0.1")
        wait_for("the worker's IMAP poll hangs", imap.stalling, timeout=60)

        client, secret, run = Client(), sms_channel.credentials()["webhook_secret"], "lanes"
        for i in range(URGENT):
            path, body, headers = urgent_webhook(sms_channel, secret, run, i)
            response = client.post(path, data=body, content_type="application/json", headers=headers)
            assert response.status_code == 200, response.content
        wait_for("every urgent message in the inbox", lambda: len(urgent_stored(sms_channel, run)) >= URGENT, 120)
        assert imap.stalling(), "the urgent messages waited for the IMAP poll to give up"

        stored = urgent_stored(sms_channel, run)
        print(f"\nlanes: {URGENT} urgent sent, {len(stored)} stored, duplicated {len(stored) - len(set(stored))}")
        assert sorted(stored) == sorted(f"urgent-{run}-{i}" for i in range(URGENT))  # 0 lost, 0 duplicated

        def dispatched() -> int:
            return Reminder.objects.filter(practice=practice).exclude(status=ReminderStatus.PLANNED).count()

        wait_for("every reminder dispatched", lambda: dispatched() == REMINDERS, 300, 0.2)
        assert Reminder.objects.filter(status=ReminderStatus.QUEUED).count() == REMINDERS
        per_patient = (
            Message.objects.filter(direction=Direction.OUTBOUND, patient__last_name="Lanes")
            .values("patient")
            .annotate(n=Count("id"))
        )
        assert {row["n"] for row in per_patient} == {1} and len(per_patient) == REMINDERS  # each exactly once

        stall_still_going = imap.stalling()
        worker.popen.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = worker.popen.wait(timeout=30)
        took = time.monotonic() - started
        print(f"SIGTERM {'with the IMAP poll still hanging' if stall_still_going else 'after the stall'}: {took:.1f} s")
        assert code == 0, worker.output()
        assert took < STOP_WITHIN
        assert not InboundEvent.objects.exclude(leased_by="").exists()
        assert not PeriodicJobState.objects.exclude(running_by="").exists()
        assert not WorkerHeartbeat.objects.exists()
    finally:
        imap.close()
