"""Reads of team messages for one staff member: the sidebar with unread counts, a topic's or a
direct conversation's messages (keyset pages), the link a topic makes to a patient's conversation
(revealed only to those who may open it) and search."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from converge.audit.services import audit_record
from converge.connectors.models import StaffPresence
from converge.connectors.webchat_availability import PRESENCE_TTL
from converge.conversations.models import Conversation
from converge.core import clock
from converge.core.principal import Principal
from converge.practices.models import Practice, StaffMember
from converge.privacy import access as privacy
from converge.scheduling.access import may_open
from converge.scheduling.calendar_page import when_text
from converge.search.selectors import MAX_QUERY, newest_first, team_message_match
from converge.teamchat import access
from converge.teamchat.models import (
    EDIT_WINDOW_MINUTES,
    DirectMember,
    DirectThread,
    StaffStatus,
    TeamChannel,
    TeamMessage,
    TeamNotification,
    Topic,
    TopicState,
)

PAGE = 50
TOPICS_PER_CHANNEL = 12
RESTRICTED = "a patient conversation (restricted)"


@dataclass
class TopicRow:
    topic: Topic
    title: str
    unread: int


@dataclass
class ChannelRow:
    channel: TeamChannel
    member: bool
    topics: list[TopicRow] = field(default_factory=list)

    @property
    def unread(self) -> int:
        return sum(t.unread for t in self.topics)


@dataclass
class ThreadRow:
    thread: DirectThread
    names: str
    unread: int
    online: bool
    # The others' presence ("online", "away", "in_visit", "offline"): the most present of them.
    presence: str = "offline"

    @property
    def presence_label(self) -> str:
        return PRESENCE_LABELS[self.presence]


@dataclass
class Sidebar:
    channels: list[ChannelRow]
    threads: list[ThreadRow]
    # Teams whose channel the member is not in, where they may still start a topic (ask them).
    other_teams: list[TeamChannel] = field(default_factory=list)


def online_staff_ids(practice_id: int) -> set[int]:
    """Staff with a live staff WebSocket (the presence the chat widget already uses)."""
    return set(
        StaffPresence.objects.filter(practice_id=practice_id, last_seen_at__gte=clock.now() - PRESENCE_TTL).values_list(
            "staff_id", flat=True
        )
    )


PRESENCE_LABELS = {"online": "Online", "away": "Away", "in_visit": "In a visit", "offline": "Offline"}
_PRESENCE_RANK = ("online", "in_visit", "away", "offline")


def presence_by_staff(practice_id: int) -> dict[int, str]:
    """Each staff member's presence. "In a visit" is what they said, connected or not (the laptop
    may be closed in the exam room); otherwise a member not connected is offline, one who chose
    away or whose page is idle is away, and anyone else connected is online."""
    connected = online_staff_ids(practice_id)
    chosen = {
        s.staff_id: s for s in StaffStatus.objects.filter(practice_id=practice_id).only("staff_id", "choice", "idle")
    }
    ids = connected | set(chosen)
    presence = {}
    for staff_id in ids:
        status = chosen.get(staff_id)
        if status is not None and status.choice == StaffStatus.Choice.IN_VISIT:
            presence[staff_id] = "in_visit"
        elif staff_id not in connected:
            presence[staff_id] = "offline"
        elif status is not None and (status.choice == StaffStatus.Choice.AWAY or status.idle):
            presence[staff_id] = "away"
        else:
            presence[staff_id] = "online"
    return presence


def own_status(staff: StaffMember) -> str:
    """The status the member chose (for the control); online when never chosen."""
    status = StaffStatus.objects.filter(staff=staff).values_list("choice", flat=True).first()
    return status or StaffStatus.Choice.ONLINE


def topic_title(topic: Topic, principal: Principal) -> str:
    if topic.title_names_patient and not _may_open_link(topic, principal):
        return "Question about a patient (restricted)"
    return topic.title


def _may_open_link(topic: Topic, principal: Principal) -> bool:
    return topic.conversation is None or privacy.may_read(topic.conversation, principal)


def _unread_by_topic(staff: StaffMember, topic_ids: list[int]) -> dict[int, int]:
    last_read = TopicState.objects.filter(topic=OuterRef("topic_id"), staff=staff).values("last_read_id")[:1]
    rows = (
        TeamMessage.objects.filter(practice_id=staff.practice_id, topic_id__in=topic_ids, deleted_at__isnull=True)
        .exclude(author=staff)
        .annotate(read_up_to=Coalesce(Subquery(last_read), Value(0)))
        .filter(id__gt=F("read_up_to"))
        .values("topic_id")
        .annotate(n=Count("id"))
    )
    return {r["topic_id"]: r["n"] for r in rows}


def _unread_by_thread(staff: StaffMember) -> dict[int, int]:
    last_read = DirectMember.objects.filter(thread=OuterRef("thread_id"), staff=staff).values("last_read_id")[:1]
    rows = (
        TeamMessage.objects.filter(
            practice_id=staff.practice_id,
            thread__in=access.member_threads(staff).values("id"),
            deleted_at__isnull=True,
        )
        .exclude(author=staff)
        .annotate(read_up_to=Coalesce(Subquery(last_read), Value(0)))
        .filter(id__gt=F("read_up_to"))
        .values("thread_id")
        .annotate(n=Count("id"))
    )
    return {r["thread_id"]: r["n"] for r in rows}


def sidebar(*, principal: Principal) -> Sidebar:
    staff = principal.staff
    assert staff is not None
    member_ids = set(access.member_channels(staff).values_list("id", flat=True))
    subscribed = access.subscribed_topics(staff)
    channels_qs = TeamChannel.objects.filter(practice_id=staff.practice_id).select_related("team").order_by("name")
    if not access.sees_all_channels(staff):
        channels_qs = channels_qs.filter(Q(pk__in=member_ids) | Q(pk__in=subscribed.values("channel_id")))
    channels = list(channels_qs)
    followed = set(subscribed.values_list("id", flat=True))
    rows: list[ChannelRow] = []
    all_topic_ids: list[int] = []
    for channel in channels:
        member = channel.pk in member_ids or access.sees_all_channels(staff)
        topics_qs = channel.topics.select_related("conversation").order_by("-last_message_at", "-id")
        if not member:
            topics_qs = topics_qs.filter(pk__in=followed)
        topics = list(topics_qs[:TOPICS_PER_CHANNEL])
        all_topic_ids += [t.pk for t in topics]
        rows.append(
            ChannelRow(
                channel=channel, member=member, topics=[TopicRow(t, topic_title(t, principal), 0) for t in topics]
            )
        )
    unread = _unread_by_topic(staff, [i for i in all_topic_ids if i in followed])
    for row in rows:
        for t in row.topics:
            t.unread = unread.get(t.topic.pk, 0)
    shown = {c.pk for c in channels}
    others = [
        c
        for c in TeamChannel.objects.filter(practice_id=staff.practice_id, team__isnull=False).order_by("name")
        if c.pk not in shown
    ]
    return Sidebar(channels=rows, threads=thread_rows(staff=staff), other_teams=others)


def channel_topics(*, channel: TeamChannel, principal: Principal, limit: int = 100) -> list[TopicRow]:
    """A channel's topics, newest activity first: all of them for its members (and managers),
    the followed ones for anyone else."""
    staff = principal.staff
    assert staff is not None
    qs = channel.topics.select_related("conversation").order_by("-last_message_at", "-id")
    if not (access.sees_all_channels(staff) or access.is_channel_member(staff, channel)):
        qs = qs.filter(pk__in=access.subscribed_topics(staff).values("id"))
    topics = list(qs[:limit])
    subscribed = set(access.subscribed_topics(staff).filter(channel=channel).values_list("id", flat=True))
    unread = _unread_by_topic(staff, [t.pk for t in topics if t.pk in subscribed])
    return [TopicRow(t, topic_title(t, principal), unread.get(t.pk, 0)) for t in topics]


def thread_rows(*, staff: StaffMember) -> list[ThreadRow]:
    threads = list(
        access.member_threads(staff).prefetch_related("memberships__staff").order_by("-last_message_at", "-id")[:30]
    )
    unread = _unread_by_thread(staff)
    presence = presence_by_staff(staff.practice_id)
    rows = []
    for thread in threads:
        others = [m.staff for m in thread.memberships.all() if m.staff_id != staff.pk]
        states = [presence.get(o.pk, "offline") for o in others] or ["offline"]
        best = min(states, key=_PRESENCE_RANK.index)
        rows.append(
            ThreadRow(
                thread=thread,
                names=", ".join(sorted(o.display_name for o in others)),
                unread=unread.get(thread.pk, 0),
                online=best == "online",
                presence=best,
            )
        )
    return rows


def thread_names(*, thread: DirectThread, staff: StaffMember) -> str:
    names = thread.memberships.exclude(staff=staff).values_list("staff__display_name", flat=True)
    return ", ".join(sorted(names))


def unread_total(*, staff: StaffMember) -> int:
    """The top bar's count: unread messages in subscribed topics and direct conversations."""
    topic_ids = list(access.subscribed_topics(staff).values_list("id", flat=True))
    return sum(_unread_by_topic(staff, topic_ids).values()) + sum(_unread_by_thread(staff).values())


def notifications_unread(*, staff: StaffMember) -> int:
    return TeamNotification.objects.filter(practice_id=staff.practice_id, staff=staff, read_at__isnull=True).count()


def messages_page(
    qs: QuerySet[TeamMessage], *, before_id: int | None = None, after_id: int | None = None, limit: int = PAGE
) -> tuple[list[TeamMessage], bool]:
    """Oldest first. Without ids: the newest `limit`; `before_id`: the `limit` before it (scrolling
    up); `after_id`: everything newer (live updates). The flag says whether older ones remain."""
    qs = qs.select_related(
        "author", "conversation__patient", "patient", "appointment__provider", "appointment__patient"
    )
    if after_id is not None:
        return list(qs.filter(id__gt=after_id).order_by("id")[:500]), False
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    newest = list(qs.order_by("-id")[: limit + 1])
    more = len(newest) > limit
    return list(reversed(newest[:limit])), more


def editable(message: TeamMessage, staff: StaffMember) -> bool:
    return (
        message.author_id == staff.pk
        and message.deleted_at is None
        and clock.now() - message.created_at <= timedelta(minutes=EDIT_WINDOW_MINUTES)
    )


def topic_messages(topic: Topic) -> QuerySet[TeamMessage]:
    return TeamMessage.objects.filter(practice_id=topic.practice_id, topic=topic)


def thread_messages(thread: DirectThread) -> QuerySet[TeamMessage]:
    return TeamMessage.objects.filter(practice_id=thread.practice_id, thread=thread)


@dataclass(frozen=True)
class PatientLink:
    allowed: bool
    conversation_id: int | None
    label: str


def topic_link(topic: Topic, principal: Principal) -> PatientLink | None:
    if topic.conversation is None:
        return None
    if not _may_open_link(topic, principal):
        return PatientLink(allowed=False, conversation_id=None, label=RESTRICTED)
    return PatientLink(
        allowed=True, conversation_id=topic.conversation_id, label=topic.conversation.patient.display_name
    )


def topic_open_audit(*, topic: Topic, principal: Principal) -> None:
    read_audit(obj=topic, messages=[], principal=principal, opened=True)


@dataclass
class AppointmentLink:
    when: str
    provider: str
    # The patient's name only to those whose calendar shows it; None to the others.
    patient: str | None
    url: str | None


RESTRICTED_APPOINTMENT = "a patient (restricted)"


def _appointment_link(message: TeamMessage, principal: Principal, zone: ZoneInfo) -> AppointmentLink:
    appointment = message.appointment
    assert appointment is not None
    # A message asked from a conversation the reader may not open keeps that patient unnamed.
    allowed = may_open(principal.staff, "calendar") and (
        message.conversation is None or privacy.may_read(message.conversation, principal)
    )
    day = appointment.start.astimezone(zone).date()
    return AppointmentLink(
        when=when_text(appointment.start, zone),
        provider=appointment.provider.display_name,
        patient=appointment.patient.display_name if allowed else None,
        url=f"/calendar/?date={day.isoformat()}&appointment={appointment.pk}" if allowed else None,
    )


def message_links(messages: list[TeamMessage], principal: Principal) -> None:
    """Give each message that links a patient its `link` (named only to those who may open the
    conversation) and each that links an appointment its `appointment_link` (date, time and
    provider for all readers; the patient's name only to those whose calendar shows it)."""
    zone: ZoneInfo | None = None
    for message in messages:
        if message.appointment_id is not None and message.appointment is not None:
            if zone is None:
                zone = ZoneInfo(Practice.objects.values_list("time_zone", flat=True).get(pk=principal.practice_id))
            message.appointment_link = _appointment_link(message, principal, zone)  # type: ignore[attr-defined]
            if message.conversation_id is None:
                continue  # the appointment names its patient; no second chip
        if message.conversation_id is not None and message.conversation is not None:
            if privacy.may_read(message.conversation, principal):
                message.link = PatientLink(True, message.conversation_id, message.conversation.patient.display_name)  # type: ignore[attr-defined]
            else:
                message.link = PatientLink(False, None, RESTRICTED)  # type: ignore[attr-defined]
        elif message.patient_id is not None and message.patient is not None:
            message.link = PatientLink(True, None, message.patient.display_name)  # type: ignore[attr-defined]


def read_audit(
    *, obj: Topic | DirectThread, messages: list[TeamMessage], principal: Principal, opened: bool = False
) -> None:
    """A read of a topic or a direct conversation that links a patient is a read about that
    patient: one audit row per patient linked by a message shown, and (when the topic is
    `opened`) by the topic itself."""
    patients = {m.patient_id for m in messages if m.patient_id is not None and m.deleted_at is None}
    if opened and isinstance(obj, Topic) and obj.conversation is not None:
        patients.add(obj.conversation.patient_id)
    for patient_id in sorted(patients):
        # Literal codes: the audit page's test reads every action from the source.
        if isinstance(obj, Topic):
            audit_record(
                practice_id=principal.practice_id,
                actor=principal.actor,
                action="teamchat.topic_read",
                obj=obj,
                patient_id=patient_id,
                ip=principal.ip,
            )
        else:
            audit_record(
                practice_id=principal.practice_id,
                actor=principal.actor,
                action="teamchat.thread_read",
                obj=obj,
                patient_id=patient_id,
                ip=principal.ip,
            )


def linked_topics(*, conversation: Conversation, principal: Principal) -> list[Topic]:
    """The topics asked about this conversation that the reader can open."""
    staff = principal.staff
    if staff is None:
        return []
    return list(
        access.visible_topics(staff)
        .filter(conversation=conversation)
        .select_related("channel")
        .order_by("-last_message_at")[:5]
    )


def ask_channels(*, staff: StaffMember) -> list[TeamChannel]:
    """Where "Ask the team" may start a topic: every team's channel, and the member's own."""
    return [
        c
        for c in TeamChannel.objects.filter(practice_id=staff.practice_id).select_related("team").order_by("name")
        if access.may_start_topic(staff, c)
    ]


def search(*, staff: StaffMember, text: str, limit: int = 50) -> list[TeamMessage]:
    """Words in the messages this member can read (their channels' topics they may open, their
    own direct conversations), newest first, through the full-text index message search uses."""
    match = team_message_match(text.strip()[:MAX_QUERY])
    if match is None:
        return []
    return list(
        TeamMessage.objects.filter(match, practice_id=staff.practice_id, deleted_at__isnull=True)
        .filter(
            Q(topic__in=access.visible_topics(staff).values("id"))
            | Q(thread__in=access.member_threads(staff).values("id"))
        )
        .select_related("author", "topic__channel", "topic__conversation")
        .order_by(newest_first())[:limit]
    )


def staff_choices(*, staff: StaffMember) -> list[StaffMember]:
    return list(
        StaffMember.objects.filter(practice_id=staff.practice_id, is_active=True)
        .exclude(pk=staff.pk)
        .order_by("display_name")
    )
