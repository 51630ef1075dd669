"""Team messages: posting, mentions and their notifications, the 10-minute edit window with the
prior text kept in revisions (not in the audit), unread counts and read state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from converge.audit.models import AuditEvent
from converge.core import clock, events
from converge.practices.models import Role
from converge.routing.services import routing_settings
from converge.search import schema
from converge.teamchat import selectors, services
from converge.teamchat.models import TeamMessageRevision, TeamNotification, TopicState
from converge.teamchat.services import TeamChatError
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


def test_every_team_gets_one_channel(practice, channels):
    assert set(channels) == {"front-desk", "scheduling", "nursing", "providers"}
    services.team_channels_ensure(practice_id=practice.pk)
    assert len(channels) == 4


def test_a_team_is_made_with_its_channel_so_the_pages_need_not_make_it(practice, staff):
    """The team pages only read (issue 16): the practice's teams and a team added later have their
    channel from the start; a name another channel holds gets " team" added."""
    from converge.practices.services import team_create
    from converge.teamchat.models import TeamChannel

    assert TeamChannel.objects.filter(practice=practice, team__isnull=False).count() == 4  # practice_create
    services.channel_create(actor=make_staff(practice, "Paula Manager", Role.MANAGER), name="Billing", member_ids=[])
    team = team_create(practice=practice, actor=staff, name="Billing")
    assert TeamChannel.objects.get(team=team).name == "Billing team"


def test_post_in_a_topic_reaches_the_channel_members_and_counts_unread(
    staff, nurse, channels, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        topic, message = services.topic_start(
            actor=staff, channel=channels["nursing"], title="Printer broken", body="The printer jams"
        )
    groups, event = published[0]
    assert event == {
        "type": "team.message",
        "topic_id": topic.pk,
        "channel_id": channels["nursing"].pk,
        "message_id": message.pk,
        "urgent": False,
    }
    # The nurse (a member of Nursing) and the asker (who follows the topic he started).
    assert set(groups) == {events.user_group(nurse.user_id), events.user_group(staff.user_id)}
    assert selectors.unread_total(staff=nurse) == 1
    assert selectors.unread_total(staff=staff) == 0  # one's own message is read
    services.mark_read(actor=nurse, topic=topic, up_to_id=message.pk)
    assert selectors.unread_total(staff=nurse) == 0


def test_a_mention_notifies_without_the_text(staff, nurse, channels, published, django_capture_on_commit_callbacks):
    scheduler = make_staff(staff.practice, "Sam Scheduler", Role.SCHEDULER, team_slugs=("scheduling",))
    with django_capture_on_commit_callbacks(execute=True):
        _topic, message = services.topic_start(
            actor=nurse, channel=channels["nursing"], title="Add-on", body="@scheduling can we fit Mrs Lopez at 3?"
        )
    notification = TeamNotification.objects.get()
    assert notification.staff == scheduler and notification.kind == "mention"
    notify = next(e for _, e in published if e["type"] == "team.notify")
    assert notify["author_name"] == "Grace Kim" and "Lopez" not in str(notify)
    # A mentioned non-member follows the topic, so they can read and answer it.
    assert TopicState.objects.get(staff=scheduler).follows
    assert selectors.unread_total(staff=scheduler) == 1
    services.mark_read(actor=scheduler, topic=message.topic, up_to_id=message.pk)
    assert TeamNotification.objects.get().read_at is not None


def test_mentions_of_a_person_and_of_oncall(staff, nurse, channels):
    doctor = make_staff(staff.practice, "Dr Patel", Role.PROVIDER, team_slugs=("providers",))
    settings = routing_settings(staff.practice_id)
    settings.on_call_list = [{"staff": doctor.pk}]
    settings.save(update_fields=["on_call_list"])
    handle = nurse.user.email.split("@")[0]
    services.topic_start(actor=staff, channel=channels["front-desk"], title="Q", body=f"@{handle} and @oncall please")
    assert set(TeamNotification.objects.values_list("staff_id", flat=True)) == {nurse.pk, doctor.pk}


def test_direct_messages_notify_the_other_member_only(staff, nurse):
    thread = services.direct_open(actor=staff, member_ids=[nurse.pk])
    assert services.direct_open(actor=nurse, member_ids=[staff.pk]) == thread  # the same conversation
    message = services.message_post(actor=staff, thread=thread, body="Are you free at 2?")
    assert list(TeamNotification.objects.values_list("staff_id", "kind")) == [(nurse.pk, "direct")]
    assert selectors.unread_total(staff=nurse) == 1
    services.mark_read(actor=nurse, thread=thread, up_to_id=message.pk)
    assert selectors.unread_total(staff=nurse) == 0


def test_groups_are_small(practice, staff):
    others = [make_staff(practice, f"Person {n}") for n in range(8)]
    with pytest.raises(TeamChatError, match="at most 8"):
        services.direct_open(actor=staff, member_ids=[o.pk for o in others])


def test_edit_and_delete_keep_the_prior_text_out_of_the_audit(staff, channels):
    _topic, message = services.topic_start(
        actor=staff, channel=channels["nursing"], title="Dose", body="Metformin 500 mg"
    )
    services.message_edit(actor=staff, message=message, body="Metformin 850 mg")
    services.message_delete(actor=staff, message=message)
    message.refresh_from_db()
    assert message.body == "" and message.deleted_at is not None
    revisions = list(TeamMessageRevision.objects.order_by("id").values_list("reason", "body"))
    assert revisions == [("edit", "Metformin 500 mg"), ("delete", "Metformin 850 mg")]
    rows = AuditEvent.objects.filter(action__startswith="teamchat.message_")
    assert {r.action for r in rows} == {"teamchat.message_edit", "teamchat.message_delete"}
    assert not any("Metformin" in str(r.detail) for r in AuditEvent.objects.all())


def test_only_the_author_edits_and_only_for_ten_minutes(staff, nurse, channels):
    _topic, message = services.topic_start(actor=staff, channel=channels["nursing"], title="T", body="first")
    with pytest.raises(TeamChatError, match="Only the author"):
        services.message_edit(actor=nurse, message=message, body="hijack")
    with clock.frozen(message.created_at + timedelta(minutes=11)), pytest.raises(TeamChatError, match="10 minutes"):
        services.message_delete(actor=staff, message=message)


def test_blank_and_huge_messages_are_refused(staff, channels):
    with pytest.raises(TeamChatError):
        services.topic_start(actor=staff, channel=channels["nursing"], title="T", body="   ")
    with pytest.raises(TeamChatError):
        services.topic_start(actor=staff, channel=channels["nursing"], title="T", body="x" * 10_001)


def test_urgent_messages_notify_everyone_they_reach(staff, nurse, channels):
    services.topic_start(actor=staff, channel=channels["nursing"], title="Now", body="Patient fainted", urgent=True)
    assert list(TeamNotification.objects.values_list("staff_id", "kind")) == [(nurse.pk, "urgent")]


def test_ask_the_team_links_the_conversation_and_reads_are_audited(staff, nurse, channels, sms_channel):
    conversation = receive(sms_channel, "+15550001234", "Can I double my dose?").message.conversation
    topic, _ = services.topic_ask_team(
        actor=staff, conversation=conversation, channel=channels["nursing"], body="Can she double it?"
    )
    assert topic.title == f"Question about {conversation.patient.display_name}"
    assert topic.conversation == conversation
    from converge.core.principal import staff_principal

    principal = staff_principal(nurse)
    assert [t.pk for t in selectors.linked_topics(conversation=conversation, principal=principal)] == [topic.pk]
    before = AuditEvent.objects.filter(action="teamchat.topic_read").count()
    selectors.topic_open_audit(topic=topic, principal=principal)
    row = AuditEvent.objects.filter(action="teamchat.topic_read").get()
    assert before == 0 and row.patient_id == conversation.patient_id


def test_the_practice_retention_applies_to_team_messages(staff, channels):
    from converge.core.jobs import registered_jobs
    from converge.privacy.models import PrivacySettings
    from converge.teamchat.jobs import purge_team_messages
    from converge.teamchat.models import TeamMessage

    assert "teamchat.retention" in registered_jobs()
    _topic, old = services.topic_start(actor=staff, channel=channels["nursing"], title="Old", body="old news")
    TeamMessage.objects.filter(pk=old.pk).update(created_at=clock.now() - timedelta(days=40))
    services.message_post(actor=staff, topic=old.topic, body="fresh")
    PrivacySettings.objects.update_or_create(practice=staff.practice, defaults={"message_retention_days": 30})
    assert purge_team_messages() == 1
    assert list(TeamMessage.objects.values_list("body", flat=True)) == ["fresh"]


def test_reading_tells_the_other_tabs_only_when_a_notification_clears(
    staff, nurse, channels, published, django_capture_on_commit_callbacks
):
    topic, first = services.topic_start(actor=staff, channel=channels["nursing"], title="T", body="plain")
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_read(actor=nurse, topic=topic, up_to_id=first.pk)
    assert not [e for _, e in published if e["type"] == "team.read"]
    mention = services.message_post(actor=staff, topic=topic, body=f"@{nurse.user.email.split('@')[0]} look")
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_read(actor=nurse, topic=topic, up_to_id=mention.pk)
    assert [g for g, e in published if e["type"] == "team.read"] == [[events.user_group(nurse.user_id)]]


def test_search_uses_the_full_text_index_scoped_to_what_one_may_read(staff, nurse, manager, channels):
    """Words (any order, the last a prefix, accents ignored on SQLite) in the reader's channels'
    topics and own direct conversations; a manager sees all channels but never others' DMs; an
    edit or a delete keeps the index in step."""
    _topic, in_nursing = services.topic_start(
        actor=nurse, channel=channels["nursing"], title="Refill", body="Refill request for the lisinopril patient"
    )
    thread = services.direct_open(actor=staff, member_ids=[nurse.pk])
    dm = services.message_post(actor=staff, thread=thread, body="Lisinopril refill is on the desk")
    outsider = make_staff(staff.practice, "Sam Scheduler", Role.SCHEDULER, team_slugs=("scheduling",))

    def found(reader, text):
        return {m.pk for m in selectors.search(staff=reader, text=text)}

    assert found(nurse, "lisino refill") == set()  # the last word only is a prefix
    assert found(nurse, "refill lisino") == {in_nursing.pk, dm.pk}
    assert found(outsider, "refill lisino") == set()
    assert found(manager, "refill lisino") == {in_nursing.pk}  # all channels, not others' DMs
    assert found(nurse, '"refill" OR *') == found(nurse, "refill or")  # operators are only words
    assert found(nurse, "   ") == set()

    services.message_edit(actor=staff, message=dm, body="Metformin is on the desk")
    assert found(nurse, "lisinopril") == {in_nursing.pk}
    assert found(nurse, "metformin") == {dm.pk}
    services.message_delete(actor=nurse, message=in_nursing)
    assert found(nurse, "lisinopril") == set()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
def test_lost_search_triggers_are_restored_and_the_index_rebuilt(staff, nurse):
    with connection.cursor() as cursor:
        for name in schema.TEAM_MESSAGE_FTS.triggers:
            cursor.execute(f"DROP TRIGGER {name}")
    thread = services.direct_open(actor=staff, member_ids=[nurse.pk])
    message = services.message_post(actor=staff, thread=thread, body="written while the index was broken")
    assert selectors.search(staff=nurse, text="broken") == []
    assert schema.ensure_team_message_index(connection) is True
    assert [m.pk for m in selectors.search(staff=nurse, text="broken")] == [message.pk]
    assert schema.ensure_team_message_index(connection) is False


def test_presence_online_away_in_a_visit(staff, nurse, published, django_capture_on_commit_callbacks):
    """Connected members are online unless they chose away or their page went idle; "in a visit"
    shows connected or not; others are offline. Each change is an id-only event to the practice."""
    from converge.connectors.webchat_availability import staff_presence_touch

    staff_presence_touch(practice_id=staff.practice_id, staff_id=staff.pk, connection="c1")
    assert selectors.presence_by_staff(staff.practice_id) == {staff.pk: "online"}
    with django_capture_on_commit_callbacks(execute=True):
        services.status_set(actor=nurse, choice="in_visit")
    assert published[-1] == (
        [events.practice_group(staff.practice_id)],
        {"type": "team.presence", "staff_id": nurse.pk},
    )
    assert selectors.presence_by_staff(staff.practice_id) == {staff.pk: "online", nurse.pk: "in_visit"}
    assert services.status_idle(staff_id=staff.pk, idle=True) is True
    assert services.status_idle(staff_id=staff.pk, idle=True) is False  # no change, no event
    assert selectors.presence_by_staff(staff.practice_id)[staff.pk] == "away"
    services.status_idle(staff_id=staff.pk, idle=False)
    assert selectors.presence_by_staff(staff.practice_id)[staff.pk] == "online"
    services.status_set(actor=staff, choice="away")
    assert selectors.presence_by_staff(staff.practice_id)[staff.pk] == "away"
    assert selectors.own_status(staff) == "away" and selectors.own_status(nurse) == "in_visit"
    with pytest.raises(TeamChatError):
        services.status_set(actor=staff, choice="<b>busy</b>")
