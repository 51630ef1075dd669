"""Staff actions from the inbox: htmx answers, assignment, status, triage, bulk, notes with
@mentions and the notifications they raise."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from converge.audit.models import AuditEvent
from converge.conversations import services
from converge.conversations.models import Mention, Message
from converge.conversations.selectors import mentioned_staff
from converge.core import clock, events
from tests.dashboard.conftest import HTMX
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


def test_htmx_reply_answers_204_with_an_event_and_errors_as_text(client, conversation, sms_channel):
    response = client.post(
        f"/c/{conversation.pk}/reply", {"body": "On its way", "channel": sms_channel.pk}, headers=HTMX
    )
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {"converge:changed": {"conversation_id": conversation.pk}}
    assert Message.objects.filter(direction="out", body="On its way", status="queued").exists()
    refused = client.post(f"/c/{conversation.pk}/reply", {"body": " ", "channel": sms_channel.pk}, headers=HTMX)
    assert refused.status_code == 400
    assert refused["Content-Type"].startswith("text/plain")
    assert refused.content.decode() == "Not sent: the message is empty"


def test_reply_without_a_usable_channel_is_refused(client, conversation, sms_channel):
    conversation.patient.contact_points.update(opted_out_at=clock.now())
    response = client.post(f"/c/{conversation.pk}/reply", {"body": "hi", "channel": sms_channel.pk}, headers=HTMX)
    assert response.status_code == 400 and "opted out" in response.content.decode()


def test_assign_to_me_colleague_and_team(client, conversation, staff, nurse):
    nursing = nurse.teams.first()
    assert client.post(f"/c/{conversation.pk}/assign", {"assignee": "me"}, headers=HTMX).status_code == 204
    conversation.refresh_from_db()
    assert conversation.assignee_id == staff.pk
    client.post(f"/c/{conversation.pk}/assign", {"assignee": nurse.pk, "team": nursing.pk}, headers=HTMX)
    conversation.refresh_from_db()
    assert (conversation.assignee_id, conversation.team_id) == (nurse.pk, nursing.pk)
    client.post(f"/c/{conversation.pk}/assign", {"assignee": "", "team": nursing.pk}, headers=HTMX)
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_resolve_reopen_and_snooze(client, conversation):
    assert client.post(f"/c/{conversation.pk}/status", {"status": "resolved"}, headers=HTMX).status_code == 204
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    client.post(f"/c/{conversation.pk}/status", {"status": "open"}, headers=HTMX)
    conversation.refresh_from_db()
    assert conversation.status == "open"
    # The form sends a local time without a zone: the practice's zone applies.
    local = (clock.now() + timedelta(days=1)).astimezone(ZoneInfo(conversation.practice.time_zone))
    response = client.post(
        f"/c/{conversation.pk}/status",
        {"status": "snoozed", "snooze_at": local.strftime("%Y-%m-%dT%H:%M")},
        headers=HTMX,
    )
    assert response.status_code == 204, response.content
    conversation.refresh_from_db()
    assert conversation.status == "snoozed"
    assert abs((conversation.snoozed_until - local.replace(second=0, microsecond=0)).total_seconds()) < 1
    past = client.post(
        f"/c/{conversation.pk}/status", {"status": "snoozed", "snoozed_until": "2001-01-01T08:00"}, headers=HTMX
    )
    assert past.status_code == 400 and "future" in past.content.decode()
    garbage = client.post(f"/c/{conversation.pk}/status", {"status": "snoozed", "snoozed_until": "soon"}, headers=HTMX)
    assert garbage.status_code == 400


def test_snooze_presets_are_in_the_practice_time_zone(client, conversation):
    header = client.get(f"/c/{conversation.pk}/header", headers=HTMX).content.decode()
    values = re.findall(r'name="snoozed_until" value="([0-9T:-]+)"', header)
    assert len(values) == 4
    assert any(v.endswith("T08:00") for v in values)


def test_priority_and_category(client, conversation):
    client.post(f"/c/{conversation.pk}/triage", {"priority": "3", "category": "Refill"}, headers=HTMX)
    conversation.refresh_from_db()
    assert (conversation.priority, conversation.category) == (3, "refill")
    bad = client.post(f"/c/{conversation.pk}/triage", {"priority": "9"}, headers=HTMX)
    assert bad.status_code == 400


def test_plain_form_posts_still_redirect_with_a_message(client, conversation):
    response = client.post(f"/c/{conversation.pk}/status", {"status": "bogus"}, follow=True)
    assert "unknown status" in response.content.decode()


def test_bulk_assign_and_resolve(client, staff, nurse, sms_channel):
    ids = [receive(sms_channel, f"+155520177{n:02d}", "hi").message.conversation_id for n in range(3)]
    response = client.post(
        "/inbox/bulk", {"ids": ids, "action": "assign", "assignee": nurse.pk, "view_query": "view=all"}, headers=HTMX
    )
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"])["converge:changed"]["note"] == "Assigned 3 conversations."
    from converge.conversations.models import Conversation

    assert set(Conversation.objects.filter(pk__in=ids).values_list("assignee_id", flat=True)) == {nurse.pk}
    client.post("/inbox/bulk", {"ids": ids[:2], "action": "resolve"}, headers=HTMX)
    assert list(Conversation.objects.filter(pk__in=ids).order_by("id").values_list("status", flat=True)) == [
        "resolved",
        "resolved",
        "open",
    ]
    assert client.post("/inbox/bulk", {"action": "resolve"}, headers=HTMX).status_code == 400
    assert client.post("/inbox/bulk", {"ids": ids, "action": "delete"}, headers=HTMX).status_code == 400


def test_bulk_only_touches_the_callers_practice(client, other_practice):
    from converge.connectors.services import simulator_channel_create

    theirs = receive(simulator_channel_create(practice=other_practice, kind="sms"), "+15552017799", "x").message
    response = client.post("/inbox/bulk", {"ids": [theirs.conversation_id], "action": "resolve"}, headers=HTMX)
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"])["converge:changed"]["note"].startswith("Resolved 0")
    theirs.conversation.refresh_from_db()
    assert theirs.conversation.status == "open"


def test_mentions_by_handle_or_full_name(staff, nurse, practice):
    other = make_staff(practice, "Grace Kimball", email="gkimball@sunrise.example")
    handle = nurse.user.email.split("@")[0]
    assert mentioned_staff(practice_id=practice.pk, text=f"@{handle} please look") == [nurse]
    assert mentioned_staff(practice_id=practice.pk, text="cc @Grace Kim, thanks") == [nurse]
    assert mentioned_staff(practice_id=practice.pk, text="ask @gkimball") == [other]
    assert mentioned_staff(practice_id=practice.pk, text="email grace@example.com") == []
    assert mentioned_staff(practice_id=practice.pk, text=f"@{handle}x") == []


def test_note_with_mention_notifies_the_colleague(
    client, conversation, staff, nurse, published, django_capture_on_commit_callbacks
):
    handle = nurse.user.email.split("@")[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/c/{conversation.pk}/note", {"body": f"@{handle} can you call her?"}, headers=HTMX)
    assert response.status_code == 204
    mention = Mention.objects.get()
    assert (mention.staff, mention.author, mention.read_at) == (nurse, staff, None)
    assert (
        [events.user_group(nurse.user_id)],
        {"type": "mention", "conversation_id": conversation.pk, "note_id": mention.note_id},
    ) in published
    assert AuditEvent.objects.filter(action="note.mention", detail__staff=[nurse.pk]).exists()
    # The nurse sees a badge and the list; opening the conversation reads it.
    from django.test import Client

    grace = Client()
    grace.force_login(nurse.user)
    assert 'class="badge-count"' in grace.get("/").content.decode()
    listing = grace.get("/notifications/", headers=HTMX).content.decode()
    assert "Maria Lopez" in listing and "mentioned you" in listing
    assert AuditEvent.objects.filter(action="mention.list", patient_id=conversation.patient_id).exists()
    grace.get(f"/c/{conversation.pk}/")
    mention.refresh_from_db()
    assert mention.read_at is None  # showing the page writes nothing; the page then says it was read
    assert grace.post(f"/c/{conversation.pk}/read").status_code == 204
    mention.refresh_from_db()
    assert mention.read_at is not None
    assert grace.get("/notifications/badge", headers=HTMX).content.decode().strip() == ""


def test_mark_all_mentions_read(client, conversation, staff, nurse):
    from django.test import Client

    services.note_post(conversation=conversation, author=nurse, body=f"@{staff.user.email.split('@')[0]} fyi")
    assert client.post("/notifications/read", headers=HTMX).status_code == 204
    assert Mention.objects.filter(read_at__isnull=True).count() == 0
    assert Client().post("/notifications/read").status_code == 302


def test_self_mention_is_not_a_notification(conversation, staff):
    services.note_post(conversation=conversation, author=staff, body=f"@{staff.user.email.split('@')[0]} reminder")
    assert not Mention.objects.exists()


def test_mention_handles_endpoint(client, staff, nurse):
    items = client.get("/mentions/handles").json()["items"]
    assert {"handle": nurse.user.email.split("@")[0], "name": "Grace Kim"} in items


def test_retry_a_failed_message(client, conversation, sms_channel, staff):
    message = services.message_queue(conversation=conversation, channel=sms_channel, body="x", sender=staff)
    Message.objects.filter(pk=message.pk).update(status="failed", failure_reason="boom")
    assert client.post(f"/m/{message.pk}/retry", headers=HTMX).status_code == 204
    message.refresh_from_db()
    assert message.status == "queued"
    again = client.post(f"/m/{message.pk}/retry", headers=HTMX)
    assert again.status_code == 400


def test_reading_publishes_read_to_my_other_tabs(
    client, conversation, staff, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.get(f"/c/{conversation.pk}/")
        client.get(f"/c/{conversation.pk}/thread", headers=HTMX)
    assert not any(e["type"] == "conversation.read" for _g, e in published)  # GETs change nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/c/{conversation.pk}/read").status_code == 204
    assert (
        [events.user_group(staff.user_id)],
        {"type": "conversation.read", "conversation_id": conversation.pk},
    ) in published
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/c/{conversation.pk}/read")
    assert not any(e["type"] == "conversation.read" for _g, e in published)  # nothing new was unread
