"""Every write of team messages: validate, write, audit (never the text: that stays in the
message and its revisions), and publish id-only events to the named recipients after commit.
Nothing here sends email or SMS: team messages never leave Converge."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.conversations.models import Conversation
from converge.core import clock, events
from converge.core.principal import staff_principal
from converge.practices.models import StaffMember, Team
from converge.privacy import access as privacy
from converge.scheduling.models import Appointment
from converge.teamchat import access
from converge.teamchat.mentions import mentioned
from converge.teamchat.models import (
    EDIT_WINDOW_MINUTES,
    MAX_GROUP_MEMBERS,
    DirectMember,
    DirectThread,
    StaffStatus,
    TeamChannel,
    TeamMessage,
    TeamMessageRevision,
    TeamNotification,
    Topic,
    TopicState,
)

MAX_BODY = 10_000
MAX_TITLE = 120
# A conversation or a patient record pasted into a message (its address in Converge) links it.
_CONVERSATION_LINK = re.compile(r"(?:^|[\s(/])/?c/(\d{1,12})/")
_PATIENT_LINK = re.compile(r"/patients/(\d{1,12})/")
# The calendar's address for one appointment: /calendar/?date=…&appointment=<id>.
_APPOINTMENT_LINK = re.compile(r"/calendar/\S*?[?&]appointment=(\d{1,12})(?!\d)")


class TeamChatError(ValueError):
    """Refused input; the message is for the person (a 400, never a 500)."""


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise TeamChatError("Write a message first.")
    if len(body) > MAX_BODY:
        raise TeamChatError(f"A message can be at most {MAX_BODY} characters.")
    return body


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise TeamChatError("Give the topic a title.")
    return title[:MAX_TITLE]


# --- channels ---------------------------------------------------------------------------------


def team_channel_create(*, team: Team) -> TeamChannel | None:
    """A team's channel, made with the team (practices.services): the team pages only read, so a
    GET never creates it. None when the team has one already."""
    name = team.name
    if TeamChannel.objects.filter(practice_id=team.practice_id, name=name).exists():
        name = f"{team.name} team"
    try:
        with transaction.atomic():
            return TeamChannel.objects.create(
                practice_id=team.practice_id, team=team, name=name, created_at=clock.now()
            )
    except IntegrityError:  # it has one (made by another request, or the name is taken twice)
        return None


def team_channels_ensure(*, practice_id: int) -> None:
    """One channel per team, for the teams that have none (teamchat's migration 0003 did this for
    the teams of before; since then each team is made with its channel)."""
    for team in Team.objects.filter(practice_id=practice_id, chat_channel__isnull=True):
        team_channel_create(team=team)


def channel_create(*, actor: StaffMember, name: str, member_ids: Iterable[int], description: str = "") -> TeamChannel:
    if not access.sees_all_channels(actor):
        raise TeamChatError("Only a practice manager can create channels.")
    name = " ".join((name or "").split())[:80]
    if not name:
        raise TeamChatError("Give the channel a name.")
    if TeamChannel.objects.filter(practice_id=actor.practice_id, name__iexact=name).exists():
        raise TeamChatError("A channel with that name exists.")
    members = list(
        StaffMember.objects.filter(practice_id=actor.practice_id, is_active=True, pk__in=[*member_ids, actor.pk])
    )
    with transaction.atomic():
        channel = TeamChannel.objects.create(
            practice_id=actor.practice_id, name=name, description=description[:200], created_at=clock.now()
        )
        channel.members.set(members)
        audit_record(practice_id=actor.practice_id, actor=actor, action="teamchat.channel_create", obj=channel)
    return channel


# --- topics and messages ----------------------------------------------------------------------


def _follow(topic: Topic, staff_ids: Iterable[int]) -> None:
    for staff_id in set(staff_ids):
        state, created = TopicState.objects.get_or_create(
            topic=topic, staff_id=staff_id, defaults={"practice_id": topic.practice_id, "follows": True}
        )
        if not created and not state.follows:
            TopicState.objects.filter(pk=state.pk).update(follows=True)


def topic_start(
    *,
    actor: StaffMember,
    channel: TeamChannel,
    title: str,
    body: str,
    urgent: bool = False,
    conversation: Conversation | None = None,
) -> tuple[Topic, TeamMessage]:
    if not access.may_start_topic(actor, channel):
        raise TeamChatError("You cannot start a topic in this channel.")
    title, body = _clean_title(title), _clean_body(body)
    now = clock.now()
    with transaction.atomic():
        topic = Topic.objects.create(
            practice_id=actor.practice_id,
            channel=channel,
            title=title,
            title_names_patient=conversation is not None,
            conversation=conversation,
            created_by=actor,
            created_at=now,
            last_message_at=now,
        )
        patient_id = conversation.patient_id if conversation is not None else None
        audit_record(
            practice_id=actor.practice_id, actor=actor, action="teamchat.topic_start", obj=topic, patient_id=patient_id
        )
        message = _post(actor=actor, topic=topic, body=body, urgent=urgent, conversation=conversation)
    return topic, message


def topic_ask_team(
    *, actor: StaffMember, conversation: Conversation, channel: TeamChannel, body: str, urgent: bool = False
) -> tuple[Topic, TeamMessage]:
    """ "Ask the team" from a patient conversation: a topic in the chosen channel, titled from the
    patient, linking back to the conversation (which lists it)."""
    if conversation.practice_id != actor.practice_id or not privacy.may_read(conversation, staff_principal(actor)):
        raise TeamChatError("You cannot open this conversation.")
    title = f"Question about {conversation.patient.display_name}"
    return topic_start(actor=actor, channel=channel, title=title, body=body, urgent=urgent, conversation=conversation)


def message_post(
    *,
    actor: StaffMember,
    topic: Topic | None = None,
    thread: DirectThread | None = None,
    body: str,
    urgent: bool = False,
) -> TeamMessage:
    body = _clean_body(body)
    with transaction.atomic():
        return _post(actor=actor, topic=topic, thread=thread, body=body, urgent=urgent)


def _post(
    *,
    actor: StaffMember,
    body: str,
    urgent: bool,
    topic: Topic | None = None,
    thread: DirectThread | None = None,
    conversation: Conversation | None = None,
) -> TeamMessage:
    now = clock.now()
    patient_id = conversation.patient_id if conversation is not None else None
    if conversation is None:
        conversation, patient_id = _linked_in(body, practice_id=actor.practice_id)
    appointment = _appointment_in(body, practice_id=actor.practice_id)
    if patient_id is None and appointment is not None:
        patient_id = appointment.patient_id  # so a read of it is audited like any patient link
    message = TeamMessage.objects.create(
        practice_id=actor.practice_id,
        topic=topic,
        thread=thread,
        author=actor,
        body=body,
        urgent=urgent,
        created_at=now,
        conversation=conversation,
        patient_id=patient_id,
        appointment=appointment,
    )
    people = [m for m in mentioned(practice_id=actor.practice_id, text=body) if m.pk != actor.pk]
    notify: dict[int, str] = {m.pk: TeamNotification.Kind.MENTION for m in people}
    if topic is not None:
        Topic.objects.filter(pk=topic.pk).update(last_message_at=now)
        _follow(topic, [actor.pk, *notify])
        TopicState.objects.filter(topic=topic, staff=actor).update(last_read_id=message.pk)
        recipients = access.topic_recipient_user_ids(topic)
        if urgent:
            for staff_id in StaffMember.objects.filter(
                practice_id=actor.practice_id, user_id__in=recipients
            ).values_list("pk", flat=True):
                notify[staff_id] = TeamNotification.Kind.URGENT
        where = {"topic_id": topic.pk, "channel_id": topic.channel_id}
    else:
        assert thread is not None
        DirectThread.objects.filter(pk=thread.pk).update(last_message_at=now)
        DirectMember.objects.filter(thread=thread, staff=actor).update(last_read_id=message.pk)
        members = set(thread.memberships.values_list("staff_id", flat=True))
        notify = {k: v for k, v in notify.items() if k in members}  # a mention reaches only members here
        for staff_id in members - {actor.pk}:
            notify[staff_id] = TeamNotification.Kind.URGENT if urgent else TeamNotification.Kind.DIRECT
        recipients = access.thread_recipient_user_ids(thread)
        where = {"dm_id": thread.pk}
    notify.pop(actor.pk, None)
    TeamNotification.objects.bulk_create(
        TeamNotification(practice_id=actor.practice_id, staff_id=sid, message=message, kind=kind, created_at=now)
        for sid, kind in notify.items()
    )
    events.publish_on_commit(
        [events.user_group(uid) for uid in recipients],
        {"type": "team.message", **where, "message_id": message.pk, "urgent": urgent},
    )
    if notify:
        notified = StaffMember.objects.filter(pk__in=notify).values_list("user_id", flat=True)
        # Who wrote, never what: "New message from Grace".
        events.publish_on_commit(
            [events.user_group(uid) for uid in notified],
            {
                "type": "team.notify",
                **where,
                "message_id": message.pk,
                "author_name": actor.display_name,
                "urgent": urgent,
            },
        )
    return message


def _linked_in(body: str, *, practice_id: int) -> tuple[Conversation | None, int | None]:
    """The first conversation (or else patient) of this practice the text links to."""
    from converge.patients.models import Patient

    for match in _CONVERSATION_LINK.finditer(body):
        found = Conversation.objects.filter(practice_id=practice_id, pk=int(match.group(1))).first()
        if found is not None:
            return found, found.patient_id
    for match in _PATIENT_LINK.finditer(body):
        patient_id = Patient.objects.filter(practice_id=practice_id, pk=int(match.group(1))).values_list(
            "pk", flat=True
        )
        if patient_id:
            return None, patient_id[0]
    return None, None


def _appointment_in(body: str, *, practice_id: int) -> Appointment | None:
    """The first appointment of this practice the text links to (another practice's: none)."""
    for match in _APPOINTMENT_LINK.finditer(body):
        found = Appointment.objects.filter(practice_id=practice_id, pk=int(match.group(1))).first()
        if found is not None:
            return found
    return None


def _within_window(actor: StaffMember, message: TeamMessage) -> None:
    if message.author_id != actor.pk:
        raise TeamChatError("Only the author can change a message.")
    if message.deleted_at is not None:
        raise TeamChatError("This message was deleted.")
    if clock.now() - message.created_at > timedelta(minutes=EDIT_WINDOW_MINUTES):
        raise TeamChatError(f"A message can be changed only in its first {EDIT_WINDOW_MINUTES} minutes.")


def _changed(message: TeamMessage) -> None:
    where = {"topic_id": message.topic_id} if message.topic_id else {"dm_id": message.thread_id}
    recipients = (
        access.topic_recipient_user_ids(message.topic)
        if message.topic is not None
        else access.thread_recipient_user_ids(message.thread)  # type: ignore[arg-type]
    )
    events.publish_on_commit(
        [events.user_group(uid) for uid in recipients],
        {"type": "team.message.changed", **where, "message_id": message.pk},
    )


def message_edit(*, actor: StaffMember, message: TeamMessage, body: str) -> TeamMessage:
    _within_window(actor, message)
    body = _clean_body(body)
    if body == message.body:
        return message
    now = clock.now()
    with transaction.atomic():
        TeamMessageRevision.objects.create(
            practice_id=message.practice_id, message=message, body=message.body, replaced_at=now, reason="edit"
        )
        message.body, message.edited_at = body, now
        message.save(update_fields=["body", "edited_at"])
        audit_record(practice_id=actor.practice_id, actor=actor, action="teamchat.message_edit", obj=message)
        _changed(message)
    return message


def message_delete(*, actor: StaffMember, message: TeamMessage) -> TeamMessage:
    _within_window(actor, message)
    now = clock.now()
    with transaction.atomic():
        TeamMessageRevision.objects.create(
            practice_id=message.practice_id, message=message, body=message.body, replaced_at=now, reason="delete"
        )
        message.body, message.deleted_at = "", now
        message.save(update_fields=["body", "deleted_at"])
        TeamNotification.objects.filter(message=message, read_at__isnull=True).update(read_at=now)
        audit_record(practice_id=actor.practice_id, actor=actor, action="teamchat.message_delete", obj=message)
        _changed(message)
    return message


# --- direct messages --------------------------------------------------------------------------


def direct_open(*, actor: StaffMember, member_ids: Iterable[int]) -> DirectThread:
    """The direct conversation (or small group) of the actor and these colleagues, made once."""
    others = set(
        StaffMember.objects.filter(practice_id=actor.practice_id, is_active=True, pk__in=list(member_ids))
        .exclude(pk=actor.pk)
        .values_list("pk", flat=True)
    )
    if not others:
        raise TeamChatError("Choose at least one colleague.")
    ids = sorted(others | {actor.pk})
    if len(ids) > MAX_GROUP_MEMBERS:
        raise TeamChatError(f"A group can have at most {MAX_GROUP_MEMBERS} people; use a channel instead.")
    key = ",".join(str(i) for i in ids)
    existing = DirectThread.objects.filter(practice_id=actor.practice_id, member_key=key).first()
    if existing is not None:
        return existing
    now = clock.now()
    try:
        with transaction.atomic():
            thread = DirectThread.objects.create(
                practice_id=actor.practice_id, member_key=key, created_at=now, last_message_at=now
            )
            DirectMember.objects.bulk_create(
                DirectMember(practice_id=actor.practice_id, thread=thread, staff_id=i) for i in ids
            )
    except IntegrityError:
        return DirectThread.objects.get(practice_id=actor.practice_id, member_key=key)
    return thread


# --- reading ----------------------------------------------------------------------------------


def mark_read(
    *, actor: StaffMember, up_to_id: int, topic: Topic | None = None, thread: DirectThread | None = None
) -> None:
    """The page has shown the member the messages up to this one (its POST, team.js): unread
    counts and notifications of what was shown clear. Showing them, a GET, records nothing. An id
    past the newest message counts as the newest, so a made-up id cannot mark later ones read."""
    scope_of = {"topic": topic} if topic is not None else {"thread": thread}
    newest = (
        TeamMessage.objects.filter(**scope_of, pk__lte=up_to_id).order_by("-pk").values_list("pk", flat=True).first()
    )
    if newest is None:
        return
    up_to_id = newest
    now = clock.now()
    with transaction.atomic():
        if topic is not None:
            state, _ = TopicState.objects.get_or_create(
                topic=topic, staff=actor, defaults={"practice_id": actor.practice_id}
            )
            if state.last_read_id >= up_to_id:
                return
            TopicState.objects.filter(pk=state.pk, last_read_id__lt=up_to_id).update(last_read_id=up_to_id)
            scope: dict[str, object] = {"message__topic_id": topic.pk}
        else:
            assert thread is not None
            updated = DirectMember.objects.filter(thread=thread, staff=actor, last_read_id__lt=up_to_id).update(
                last_read_id=up_to_id
            )
            if not updated:
                return
            scope = {"message__thread_id": thread.pk}
        cleared = TeamNotification.objects.filter(
            practice_id=actor.practice_id, staff=actor, read_at__isnull=True, message_id__lte=up_to_id, **scope
        ).update(read_at=now)
        if cleared:
            # The person's other tabs drop the banner and badge. Not for every read: each open
            # page re-reads on each new message, and an event per read would double the traffic.
            events.publish_on_commit([events.user_group(actor.user_id)], {"type": "team.read"})


# --- presence: online / away / in a visit ---------------------------------------------------------


def _presence_changed(practice_id: int, staff_id: int) -> None:
    # Ids only, to the practice's staff sockets: their pages re-read the names' presence.
    events.publish_on_commit([events.practice_group(practice_id)], {"type": "team.presence", "staff_id": staff_id})


def status_set(*, actor: StaffMember, choice: str) -> StaffStatus:
    """The status a member chose; choosing clears "idle" (they are at the page)."""
    if choice not in StaffStatus.Choice.values:
        raise TeamChatError("Choose online, away or in a visit.")
    with transaction.atomic():
        status, _ = StaffStatus.objects.update_or_create(
            staff=actor,
            defaults={"practice_id": actor.practice_id, "choice": choice, "idle": False, "changed_at": clock.now()},
        )
        _presence_changed(actor.practice_id, actor.pk)
    return status


def status_idle(*, staff_id: int, idle: bool) -> bool:
    """The page went idle (shown as away) or came back. True when that changed anything."""
    staff = StaffMember.objects.filter(pk=staff_id, is_active=True).first()
    if staff is None:
        return False
    with transaction.atomic():
        status, created = StaffStatus.objects.select_for_update().get_or_create(
            staff=staff, defaults={"practice_id": staff.practice_id, "idle": idle, "changed_at": clock.now()}
        )
        if not created:
            if status.idle == idle:
                return False
            status.idle, status.changed_at = idle, clock.now()
            status.save(update_fields=["idle", "changed_at"])
        elif not idle:
            return False
        _presence_changed(staff.practice_id, staff.pk)
    return True
