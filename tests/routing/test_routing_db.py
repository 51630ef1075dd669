"""Routing in the inbound pipeline: categories to teams, urgent handling and escalation,
after-hours replies, automatic assignment, corrections; and the router CLI."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from converge.cli import main
from converge.connectors.simulate import simulator_outbox
from converge.conversations.outbox import outbox_dispatch_batch
from converge.core import clock
from converge.practices.models import Role, Team
from converge.routing.models import AssignmentMode, TeamAssignment, UrgentAlert
from converge.routing.services import message_recategorise, routing_settings, urgent_acknowledge, urgent_escalate_due
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


def drain():
    while outbox_dispatch_batch():
        pass


@pytest.mark.parametrize(
    ("text", "team", "category"),
    [
        ("Do you take Aetna? I got a bill I don't understand", "front-desk", "administrative"),
        ("Can I move my appointment to Friday afternoon?", "scheduling", "scheduling"),
        ("I need a refill of my lisinopril please", "nursing", "refill"),
        ("My incision from the procedure is a little red, is that normal?", "nursing", "clinical"),
        ("I got a bill. Also my cough is much worse and I have a fever", "nursing", "clinical"),
    ],
)
def test_messages_reach_the_right_team(sms_channel, text, team, category):
    message = receive(sms_channel, "+15552017788", text).message
    conversation = message.conversation
    conversation.refresh_from_db()
    assert (conversation.team.slug, conversation.category) == (team, category)
    message.refresh_from_db()
    assert message.metadata["classification"]["reasons"]


def test_urgent_message_alerts_replies_with_safety_and_escalates(practice, sms_channel):
    nurse = make_staff(practice, "Grace Kim", Role.NURSE, team_slugs=("nursing",), phone="+15559870000")
    settings = routing_settings(practice.pk)
    settings.on_call, settings.on_call_channel, settings.urgent_ack_minutes = nurse, sms_channel, 5
    settings.save()
    message = receive(sms_channel, "+15552017788", "crushing chest pain and my left arm is numb").message
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.priority == 3 and conversation.category == "urgent" and conversation.team.slug == "nursing"
    drain()
    bodies = [line["body"] for line in simulator_outbox(sms_channel.key)]
    assert any("call 911" in body for body in bodies)
    alert = UrgentAlert.objects.get()
    assert urgent_escalate_due() == 0  # not yet
    with clock.frozen(alert.created_at + timedelta(minutes=6)):
        assert urgent_escalate_due() == 1
        drain()  # the page goes through the outbox (tests/routing/test_oncall_escalation.py)
    pages = [line for line in simulator_outbox(sms_channel.key) if line["to"] == "+15559870000"]
    assert len(pages) == 1 and "Urgent message waiting" in pages[0]["body"] and "chest" not in pages[0]["body"]
    with clock.frozen(alert.created_at + timedelta(minutes=7)):
        assert urgent_escalate_due() == 0  # once


def test_acknowledged_alert_is_not_escalated(practice, sms_channel, nurse):
    message = receive(sms_channel, "+15552017788", "my throat is swelling after the new antibiotic").message
    assert urgent_acknowledge(conversation=message.conversation, staff=nurse) == 1
    with clock.frozen(clock.now() + timedelta(minutes=30)):
        assert urgent_escalate_due() == 0


def test_spanish_urgent_gets_spanish_safety_reply(sms_channel):
    receive(sms_channel, "+15552017788", "tengo dolor de pecho muy fuerte y no puedo respirar")
    drain()
    assert any("llame al 911" in line["body"] for line in simulator_outbox(sms_channel.key))


def test_after_hours_reply_says_when_we_answer(practice, sms_channel):
    practice.business_hours = {str(d): [["08:00", "17:00"]] for d in range(5)}
    practice.save(update_fields=["business_hours"])
    friday_night = datetime(2026, 11, 27, 19, 30, tzinfo=ZoneInfo("America/New_York"))
    with clock.frozen(friday_night):
        receive(sms_channel, "+15552017788", "Do you take Aetna?")
        receive(sms_channel, "+15552017788", "also, where do I park?")
        drain()
    bodies = [line["body"] for line in simulator_outbox(sms_channel.key)]
    assert len(bodies) == 1  # once per evening, not per message
    assert "closed now" in bodies[0] and "on Monday at 8:00 AM" in bodies[0]


def test_round_robin_assigns_online_members(practice, sms_channel):
    from converge.connectors.models import StaffPresence

    front = Team.objects.get(practice=practice, slug="front-desk")
    a = make_staff(practice, "Ann One", team_slugs=("front-desk",))
    b = make_staff(practice, "Bob Two", team_slugs=("front-desk",))
    offline = make_staff(practice, "Cy Three", team_slugs=("front-desk",))
    TeamAssignment.objects.create(practice=practice, team=front, mode=AssignmentMode.ROUND_ROBIN, capacity=5)
    for person in (a, b):
        StaffPresence.objects.create(
            practice=practice, staff=person, connection=f"c{person.pk}", last_seen_at=clock.now()
        )
    assignees = [
        receive(sms_channel, f"+1555201770{i}", "Do you take Aetna?").message.conversation.assignee_id for i in range(4)
    ]
    assert assignees == [a.pk, b.pk, a.pk, b.pk]
    assert offline.pk not in assignees


def test_correction_is_audited_and_moves_the_conversation(sms_channel, staff):
    message = receive(sms_channel, "+15552017788", "What time do you open?").message
    message_recategorise(message=message, category="clinical", staff=staff)
    message.conversation.refresh_from_db()
    assert message.conversation.category == "clinical" and message.conversation.team.slug == "nursing"


def test_router_classify_and_eval_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO('{"text": "I have chest pain"}\nnot json\n'))
    assert main(["router", "classify"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    first = json.loads(lines[0])
    assert first["category"] == "urgent" and first["urgent"] is True and 0 <= first["confidence"] <= 1
    assert "error" in json.loads(lines[1])
    sample = tmp_path / "sample.csv"
    sample.write_text("text,label\nI need a refill of metformin,refill\nwhat are your hours,administrative\n")
    assert main(["router", "eval", str(sample)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert "urgent_recall" in figures and "clinical_to_nonclinical_rate" in figures
    bad = tmp_path / "bad.csv"
    bad.write_text("words,label\nx,y\n")
    assert main(["router", "eval", str(bad)]) == 2


def test_export_corrections(sms_channel, staff, tmp_path, capsys):
    message = receive(sms_channel, "+15552017788", "What time do you open?").message
    message_recategorise(message=message, category="scheduling", staff=staff)
    out = tmp_path / "corrections.csv"
    assert main(["router", "export-corrections", "--practice", "sunrise", str(out)]) == 0
    assert out.read_text().splitlines() == ["text,label", "What time do you open?,scheduling"]


def test_rules_api(api_token, practice, staff_client):
    from django.test import Client

    client = Client(headers={"Authorization": f"Bearer {api_token}"})
    rules = client.get("/api/v1/routing/rules").json()
    assert [r["category"] for r in rules] == ["administrative", "scheduling", "refill", "clinical", "urgent"]
    nursing = Team.objects.get(practice=practice, slug="nursing")
    response = client.put(
        "/api/v1/routing/rules/administrative",
        data={"team_id": nursing.pk, "priority": 2, "response_minutes": 60},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["team_id"] == nursing.pk
    assert (
        client.put(
            "/api/v1/routing/rules/bogus", data={"priority": 1, "response_minutes": 5}, content_type="application/json"
        ).status_code
        == 422  # the category is an enum in the schema
    )


def test_overdue_conversations_are_marked_in_the_inbox(practice, sms_channel, staff_client):
    message = receive(sms_channel, "+15552017788", "Do you take Aetna?").message
    assert "Overdue" not in staff_client.get("/").content.decode()
    with clock.frozen(message.created_at + timedelta(hours=5)):  # administrative target: 4 hours
        assert "Overdue" in staff_client.get("/").content.decode()


def test_thread_shows_triage_reasons_and_corrects_in_one_click(practice, sms_channel, staff):
    from django.test import Client

    message = receive(sms_channel, "+15552017788", "I need a refill of my lisinopril please").message
    client = Client()
    client.force_login(staff.user)
    page = client.get(f"/c/{message.conversation_id}/").content.decode()
    assert "Triage:" in page and "because" in page
    assert client.post(f"/m/{message.pk}/category", {"category": "clinical"}).status_code in (204, 302)
    message.conversation.refresh_from_db()
    assert message.conversation.category == "clinical"
    assert client.post(f"/m/{message.pk}/category", {"category": "nonsense"}).status_code in (302, 400)
