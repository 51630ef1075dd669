"""The manager's figures against constructed weeks, exact numbers: reminders, confirmations,
no-shows and waitlist refills; first-response times and open conversations by team (in a
bounded number of queries); the figures page and the inbox figures API."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from converge.conversations.figures import inbox_figures
from converge.conversations.models import Conversation, Direction, Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core import clock
from converge.patients.models import Patient
from converge.practices.models import Role, Team
from converge.providers.types import DeliveryStatus
from converge.reminders.figures import weekly_figures
from converge.reminders.models import Reminder
from converge.reminders.services import reminders_dispatch_due
from converge.reminders.waitlist import waitlist_accept, waitlist_add, waitlist_send_batches
from converge.scheduling.models import SlotOfferRecipient
from converge.scheduling.services import appointment_book, appointment_set_status
from tests.helpers import make_staff
from tests.reminders.conftest import make_patient

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY)


def run_until(moment):
    with clock.frozen(moment):
        reminders_dispatch_due()
        while outbox_dispatch_batch():
            pass


# Appointments and reminders ----------------------------------------------------------------


@pytest.fixture
def appointment_week(clinic):
    """Week of Monday 2 March: four visits on Thursday, one cancelled and refilled from the waitlist."""
    patients = [make_patient(clinic, phone=f"+155520400{i}") for i in range(5)]
    with clock.frozen(at(2, 9)):
        visits = [
            appointment_book(
                patient=p,
                provider=clinic.provider,
                start=at(5, 10) + timedelta(minutes=20 * i),
                appointment_type=clinic.visit,
            )
            for i, p in enumerate(patients[:4])
        ]
        appointment_set_status(appointment=visits[0], status="confirmed")
        waitlist_add(patient=patients[4], actor=None)
        appointment_set_status(appointment=visits[2], status="cancelled")
        waitlist_send_batches()
        assert waitlist_accept(recipient_id=SlotOfferRecipient.objects.get().pk) is not None
    run_until(at(3, 12))  # the 48-hour reminders
    run_until(at(4, 12))  # the 24-hour reminders
    delivered = Message.objects.filter(metadata__reminder_id__isnull=False).order_by("id")[:5]
    Message.objects.filter(pk__in=[m.pk for m in delivered]).update(status=DeliveryStatus.DELIVERED)
    with clock.frozen(at(5, 12)):
        appointment_set_status(appointment=visits[0], status="completed")
        appointment_set_status(appointment=visits[1], status="no_show")
        appointment_set_status(appointment=visits[3], status="completed")
    return visits


def test_weekly_appointment_figures_match_the_scenario(clinic, appointment_week):
    with clock.frozen(at(5, 13)):
        before, week = weekly_figures(practice=clinic.practice, weeks=2)
    assert before.week.isoformat() == "2026-02-23" and before.reminders_planned == 0 and before.appointments == 0
    assert week.week.isoformat() == "2026-03-02"
    # Planned: 2 per visit except the cancelled one (5 visits incl. the refill); the confirmed
    # visit's reminders were skipped, the others' all sent.
    assert Reminder.objects.filter(status="skipped").count() == 2
    assert (week.reminders_planned, week.reminders_queued, week.reminders_delivered) == (8, 6, 5)
    assert (week.appointments, week.confirmed, week.confirmation_rate) == (4, 1, 0.25)
    assert (week.no_shows, week.attended, week.no_show_rate) == (1, 2, 0.333)
    assert week.waitlist_refills == 1


# Inbox --------------------------------------------------------------------------------------


def conversation(practice, channel, *, team, created, resolved=None, messages=()):
    patient = Patient.objects.create(practice=practice, first_name="P", last_name=str(created))
    convo = Conversation.objects.create(
        practice=practice,
        patient=patient,
        team=team,
        status="resolved" if resolved else "open",
        resolved_at=resolved,
        created_at=created,
        updated_at=created,
        last_message_at=created,
    )
    for direction, when, automatic in messages:
        Message.objects.create(
            practice=practice,
            conversation=convo,
            patient=patient,
            channel=channel,
            direction=direction,
            body="x",
            status="delivered" if direction == Direction.OUTBOUND else "received",
            is_automatic=automatic,
            created_at=when,
        )
    return convo


IN, OUT = Direction.INBOUND, Direction.OUTBOUND


@pytest.fixture
def inbox_weeks(practice, sms_channel, other_practice):
    front = Team.objects.get(practice=practice, slug="front-desk")
    nursing = Team.objects.get(practice=practice, slug="nursing")
    # Week of 23 Feb: answered in 5 minutes, never resolved, no team.
    conversation(practice, sms_channel, team=None, created=at(25, 10, month=2),
                 messages=[(IN, at(25, 10, month=2), False), (OUT, at(25, 10, 5, month=2), False)])  # fmt: skip
    # Week of 2 March: 30 minutes (an automatic reply first does not count), 2 hours (a staff
    # message before the patient wrote does not count), 1 day.
    conversation(practice, sms_channel, team=front, created=at(2, 10), resolved=at(4, 9),
                 messages=[(IN, at(2, 10), False), (OUT, at(2, 10, 1), True), (OUT, at(2, 10, 30), False)])  # fmt: skip
    conversation(practice, sms_channel, team=front, created=at(3, 8),
                 messages=[(OUT, at(3, 8), False), (IN, at(3, 9), False), (OUT, at(3, 11), False)])  # fmt: skip
    conversation(practice, sms_channel, team=nursing, created=at(4, 12), resolved=at(10, 9),
                 messages=[(IN, at(4, 12), False), (IN, at(4, 13), False), (OUT, at(5, 12), False)])  # fmt: skip
    # Week of 9 March: not answered yet.
    conversation(practice, sms_channel, team=nursing, created=at(10, 9), messages=[(IN, at(10, 9), False)])
    # Another practice's conversation never counts.
    from converge.connectors.services import simulator_channel_create

    theirs = simulator_channel_create(practice=other_practice, kind="sms")
    conversation(other_practice, theirs, team=None, created=at(3, 9),
                 messages=[(IN, at(3, 9), False), (OUT, at(3, 9, 1), False)])  # fmt: skip


def open_by_team(week):
    return {t.team: t.open for t in week.open_by_team}


def test_inbox_figures_match_the_scenario(practice, inbox_weeks, django_assert_num_queries):
    with clock.frozen(at(11, 12)), django_assert_num_queries(2):
        feb, march, now = inbox_figures(practice=practice, weeks=3)
    assert [w.week.isoformat() for w in (feb, march, now)] == ["2026-02-23", "2026-03-02", "2026-03-09"]
    assert (feb.first_contacts, feb.answered, feb.median_first_response_seconds) == (1, 1, 300)
    assert (march.first_contacts, march.answered, march.median_first_response_seconds) == (3, 3, 7200)
    assert (now.first_contacts, now.answered, now.median_first_response_seconds) == (1, 0, None)
    assert open_by_team(feb) == {"No team": 1, "Front desk": 0, "Nursing": 0}
    assert open_by_team(march) == {"No team": 1, "Front desk": 1, "Nursing": 1}
    assert open_by_team(now) == {"No team": 1, "Front desk": 1, "Nursing": 1}
    assert [w.open_total for w in (feb, march, now)] == [1, 3, 3]


def test_inbox_figures_take_two_queries_however_many_conversations(practice, sms_channel, django_assert_num_queries):
    for i in range(30):
        conversation(practice, sms_channel, team=None, created=at(3, 9, i),
                     messages=[(IN, at(3, 9, i), False), (OUT, at(3, 9, i + 10), False)])  # fmt: skip
    with clock.frozen(at(11, 12)), django_assert_num_queries(2):
        weeks = inbox_figures(practice=practice, weeks=8)
    march = next(w for w in weeks if w.week.isoformat() == "2026-03-02")
    assert (march.first_contacts, march.median_first_response_seconds) == (30, 600)


# Page and API ------------------------------------------------------------------------------


def signed_in(practice, role):
    client = Client()
    client.force_login(make_staff(practice, f"{role} Person", role).user)
    return client


def test_figures_page_for_managers_only(practice, inbox_weeks):
    with clock.frozen(at(11, 12)):
        for role in (Role.FRONT_DESK, Role.SCHEDULER, Role.NURSE, Role.PROVIDER):
            assert signed_in(practice, role).get("/figures/").status_code == 403, role
        assert Client().get("/figures/").status_code == 302
        manager = signed_in(practice, Role.MANAGER)
        html = manager.get("/figures/", {"weeks": "4"}).content.decode()
    assert signed_in(practice, Role.ADMIN).get("/figures/").status_code == 200
    row = re.search(r'<th scope="row">Median first response.*?</th>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["–", "5m", "2.0h", "–"]
    open_row = re.search(r'<th scope="row">Open at week end.*?</th>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', open_row) == ["0", "1", "3", "3"]
    assert "— Nursing" in html and "— No team" in html
    assert html.count('<svg viewBox="0 0 320 150"') == 6 and 'role="img"' in html and "Week of 2 Mar: 2.0h" in html


def test_inbox_figures_api(practice, inbox_weeks, api_token):
    bearer = Client(headers={"Authorization": f"Bearer {api_token}"})
    with clock.frozen(at(11, 12)):
        data = bearer.get("/api/v1/figures/inbox?weeks=3").json()
        front_desk = signed_in(practice, Role.FRONT_DESK).get("/api/v1/figures/inbox")
        manager = signed_in(practice, Role.MANAGER).get("/api/v1/figures/inbox?weeks=2")
    assert [w["week"] for w in data] == ["2026-02-23", "2026-03-02", "2026-03-09"]
    assert [w["median_first_response_seconds"] for w in data] == [300, 7200, None]
    assert data[1]["open_total"] == 3 and {t["team"]: t["open"] for t in data[1]["open_by_team"]}["Nursing"] == 1
    assert front_desk.status_code == 403
    assert manager.status_code == 200 and len(manager.json()) == 2
    assert bearer.get("/api/v1/figures/inbox?weeks=0").status_code == 422
