"""A risk signal in a reply to a reminder beats the reply handling: the visit is left alone, the
conversation is urgent for clinical staff, and the patient gets the crisis-line safety reply."""

from __future__ import annotations

from datetime import timedelta

import pytest

from converge.conversations.models import Message, Priority
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core import clock
from converge.routing.models import UrgentAlert
from tests.helpers import receive
from tests.reminders.test_flow import book, run_until

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "text",
    [
        "I won't need the appointment on Friday, I wrote letters to everyone I love",
        "cancel, I'm done fighting, this is goodbye",
        "C. tonight is the night",
    ],
)
def test_risk_message_as_reminder_reply_is_urgent_and_leaves_the_visit(clinic, patient, text):
    from tests.reminders.test_flow import MONDAY_9AM

    with clock.frozen(MONDAY_9AM):
        appointment = book(clinic, patient)
    moment = appointment.start - timedelta(hours=48)
    run_until(moment)
    with clock.frozen(moment + timedelta(minutes=5)):
        reply = receive(clinic.sms, "+15552010001", text).message
        while outbox_dispatch_batch():
            pass
    appointment.refresh_from_db()
    assert appointment.status == "booked"
    conversation = reply.conversation
    conversation.refresh_from_db()
    assert reply.metadata["classification"]["category"] == "urgent"
    assert "suicide_self_harm" in reply.metadata["classification"]["families"]
    assert conversation.priority == Priority.URGENT
    assert conversation.status != "resolved"
    assert conversation.team is not None and conversation.team.slug == "nursing"
    assert UrgentAlert.objects.filter(conversation=conversation).exists()
    automatic = list(Message.objects.filter(conversation=conversation, direction="out", pk__gt=reply.pk))
    bodies = [m.body for m in automatic]
    assert any("988" in b and "911" in b for b in bodies), bodies
    assert not any("cancelled" in b.lower() or "confirmed" in b.lower() for b in bodies), bodies
    assert not conversation.events.filter(kind="needs_person").exists()
