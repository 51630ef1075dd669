"""The demo practice shows every feature working on day one (issue 13 #6): canned responses in
English and Spanish, reminders sent and answered in the past weeks (so the figures have real
rates), a waitlist with an open offer, follow-ups, recall candidates, an urgent conversation and
a secure-portal thread. Seeding runs once."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from converge.core import clock

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 4, 10, 30, tzinfo=NY)  # a Wednesday morning


@pytest.mark.django_db
def test_the_demo_practice_shows_every_feature_and_seeds_once():
    from converge.conversations.figures import inbox_figures
    from converge.conversations.models import Conversation, ConversationStatus, Message, Priority
    from converge.demo import ensure_demo
    from converge.practices.models import Practice
    from converge.reminders.figures import weekly_figures
    from converge.reminders.models import Reminder, ReminderStatus
    from converge.reminders.recall import recall_candidates_due, recall_candidates_no_visit
    from converge.replies.models import CannedResponse
    from converge.scheduling.models import (
        Appointment,
        FollowUpItem,
        SlotOffer,
        SlotOfferRecipient,
        WaitlistEntry,
        WorkingHours,
    )
    from converge.scheduling.selectors import working_hours_problem

    with clock.frozen(NOW):
        ensure_demo()
        practice = Practice.objects.get(slug="sunrise")

        canned = CannedResponse.objects.filter(practice=practice)
        assert canned.count() >= 10
        assert set(canned.values_list("language", flat=True)) == {"en", "es"}

        # Reminders went out and were answered over the past weeks; the figures show real rates.
        sent = Reminder.objects.filter(practice=practice, status=ReminderStatus.QUEUED)
        assert sent.filter(kind="48h").count() >= 50 and sent.filter(kind="24h").exists()
        assert Message.objects.filter(practice=practice, direction="in", body__in=["1", "3", "Yes", "Sí"]).exists()
        month = weekly_figures(practice=practice, weeks=5)[:-1]  # the four full weeks before this one
        assert sum(w.reminders_queued for w in month) > 0
        assert sum(w.no_shows for w in month) > 0
        assert all(w.confirmation_rate for w in month)
        assert any(w.no_show_rate for w in month)
        assert 0 < sum(w.no_shows for w in month) / sum(w.no_shows + w.attended for w in month) < 0.3
        inbox = inbox_figures(practice=practice, weeks=5)
        assert sum(w.answered for w in inbox) > 0
        assert any(w.median_first_response_seconds for w in inbox[:-1])

        # Past visits were lived inside the working hours, and none is left "booked".
        past = Appointment.objects.filter(practice=practice, end__lt=NOW).select_related("provider__practice")
        assert not past.filter(status__in=["booked", "confirmed"]).exists()
        assert past.filter(status="cancelled").exists() and past.filter(confirmed_at__isnull=False).exists()
        for visit in past:
            problem = working_hours_problem(
                provider=visit.provider, start=visit.start, end=visit.end, blocked_until=visit.blocked_until
            )
            assert problem is None, visit.start
        assert WorkingHours.objects.filter(practice=practice).count() == 15

        # Waitlist: patients waiting, and a freed slot on offer to them.
        assert WaitlistEntry.objects.filter(practice=practice, status="active").count() >= 5
        offer = SlotOffer.objects.get(practice=practice, status="open")
        assert (
            offer.start > NOW
            and working_hours_problem(
                provider=offer.provider, start=offer.start, end=offer.end, blocked_until=offer.end
            )
            is None
        )
        assert SlotOfferRecipient.objects.filter(offer=offer, status="offered").exists()

        # Follow-ups: no-shows to call back, calls after a visit, recalls due.
        kinds = set(FollowUpItem.objects.filter(practice=practice, status="open").values_list("kind", flat=True))
        assert kinds == {"no_show", "post_visit", "recall"}
        assert len(recall_candidates_no_visit(practice=practice, months=12)) >= 10
        assert recall_candidates_due(practice=practice)

        # An urgent conversation waiting for clinical staff, and a secure-portal thread.
        urgent = Conversation.objects.filter(practice=practice, priority=Priority.URGENT).exclude(
            status=ConversationStatus.RESOLVED
        )
        assert urgent.exists()
        portal = Message.objects.filter(practice=practice, channel__kind="portal")
        assert portal.filter(direction="out").exists() and portal.filter(direction="in").exists()
        assert Message.objects.filter(practice=practice, metadata__portal_notice_for__isnull=False).exists()

        # The past went out long ago: nothing from it waits in the outbox.
        assert not Message.objects.filter(
            practice=practice, direction="out", status="queued", created_at__lt=NOW - timedelta(seconds=1)
        ).exists()

        # Running the demo again changes nothing.
        counts = _counts(practice)
        ensure_demo()
        assert _counts(practice) == counts


def _counts(practice):
    from converge.audit.models import AuditEvent
    from converge.conversations.models import Conversation, Message
    from converge.reminders.models import Reminder
    from converge.replies.models import CannedResponse
    from converge.scheduling.models import Appointment, FollowUpItem, SlotOffer, WaitlistEntry

    return [
        model.objects.filter(practice=practice).count()
        for model in (
            Appointment,
            Reminder,
            Message,
            Conversation,
            CannedResponse,
            WaitlistEntry,
            SlotOffer,
            FollowUpItem,
        )
    ] + [AuditEvent.objects.count()]
