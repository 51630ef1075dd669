"""Who sees what in team messages. A member sees the channels they belong to (a team's channel:
the team's members; a manager's channel: its listed members) and the topics they follow; managers
may open every channel of their practice but never others' direct messages. Everything is
scoped to the practice; what is not visible is "not found"."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can
from converge.teamchat.models import DirectThread, TeamChannel, TeamMessage, Topic


def sees_all_channels(staff: StaffMember) -> bool:
    return can(staff, Perm.MANAGE_STAFF)


def member_channels(staff: StaffMember) -> QuerySet[TeamChannel]:
    return (
        TeamChannel.objects.filter(practice_id=staff.practice_id)
        .filter(Q(team__members=staff) | Q(members=staff))
        .distinct()
    )


def is_channel_member(staff: StaffMember, channel: TeamChannel) -> bool:
    return member_channels(staff).filter(pk=channel.pk).exists()


def subscribed_topics(staff: StaffMember) -> QuerySet[Topic]:
    """The topics whose unread messages count for this member: those of their channels and the
    ones they follow."""
    return (
        Topic.objects.filter(practice_id=staff.practice_id)
        .filter(Q(channel__in=member_channels(staff).values("id")) | Q(states__staff=staff, states__follows=True))
        .distinct()
    )


def visible_topics(staff: StaffMember) -> QuerySet[Topic]:
    if sees_all_channels(staff):
        return Topic.objects.filter(practice_id=staff.practice_id)
    return subscribed_topics(staff)


def may_start_topic(staff: StaffMember, channel: TeamChannel) -> bool:
    """Anyone may ask a team (its channel); a manager's channel is for its members."""
    if channel.practice_id != staff.practice_id:
        return False
    return channel.team_id is not None or sees_all_channels(staff) or is_channel_member(staff, channel)


def channel_get(*, staff: StaffMember, channel_id: int) -> TeamChannel:
    channel = TeamChannel.objects.filter(practice_id=staff.practice_id, pk=channel_id).first()
    if channel is None or not (may_start_topic(staff, channel)):
        raise Http404("channel not found")
    return channel


def topic_get(*, staff: StaffMember, topic_id: int) -> Topic:
    topic = visible_topics(staff).select_related("channel", "conversation__patient").filter(pk=topic_id).first()
    if topic is None:
        raise Http404("topic not found")
    return topic


def member_threads(staff: StaffMember) -> QuerySet[DirectThread]:
    return DirectThread.objects.filter(practice_id=staff.practice_id, memberships__staff=staff)


def thread_get(*, staff: StaffMember, thread_id: int) -> DirectThread:
    thread = member_threads(staff).filter(pk=thread_id).first()
    if thread is None:
        raise Http404("conversation not found")
    return thread


def message_get(*, staff: StaffMember, message_id: int) -> TeamMessage:
    message = (
        TeamMessage.objects.filter(practice_id=staff.practice_id, pk=message_id)
        .filter(Q(topic__in=visible_topics(staff).values("id")) | Q(thread__in=member_threads(staff).values("id")))
        .first()
    )
    if message is None:
        raise Http404("message not found")
    return message


def topic_recipient_user_ids(topic: Topic) -> list[int]:
    """Whom a topic's events go to: the channel's members and the topic's followers (an explicit
    list, never the whole practice)."""
    channel = topic.channel
    members = Q(teams=channel.team_id) if channel.team_id else Q(pk__in=channel.members.values("id"))
    followers = Q(pk__in=topic.states.filter(follows=True).values("staff_id"))
    return sorted(
        set(
            StaffMember.objects.filter(practice_id=topic.practice_id, is_active=True)
            .filter(members | followers)
            .values_list("user_id", flat=True)
        )
    )


def thread_recipient_user_ids(thread: DirectThread) -> list[int]:
    return sorted(
        set(
            StaffMember.objects.filter(
                practice_id=thread.practice_id, is_active=True, pk__in=thread.memberships.values("staff_id")
            ).values_list("user_id", flat=True)
        )
    )
