"""Internal staff messaging: channels of topics (one channel per team, plus channels a manager
creates), direct conversations between two staff and small groups. A separate space from patient
conversations; messages may hold PHI and never leave Converge."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from converge.core.models import TenantModel

MAX_GROUP_MEMBERS = 8
EDIT_WINDOW_MINUTES = 10


class TeamChannel(TenantModel):
    """A team's channel (`team` set: its members are the team's members) or one a manager made
    (`members` listed). Anyone in the practice may start a topic in a team's channel — that is how
    the front desk asks the nurses — and then follows that topic."""

    name = models.CharField(max_length=80)
    team = models.OneToOneField(
        "practices.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="chat_channel"
    )
    members = models.ManyToManyField("practices.StaffMember", blank=True, related_name="+")
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["practice", "name"], name="teamchat_channel_name_unique")]

    def __str__(self) -> str:
        return self.name


class Topic(TenantModel):
    """Every channel message belongs to one, so "same-day add-on for Mrs Lopez" and "printer broken"
    do not mix. A topic started with "Ask the team" links the patient conversation it is about."""

    channel = models.ForeignKey(TeamChannel, on_delete=models.CASCADE, related_name="topics")
    title = models.CharField(max_length=120)
    # The title was made from the patient's name: shown only to those who may open the link.
    title_names_patient = models.BooleanField(default=False)
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    last_message_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["channel", "-last_message_at"], name="teamchat_topic_recent_idx")]

    def __str__(self) -> str:
        return self.title


class DirectThread(TenantModel):
    """A direct conversation between two staff, or a small group (at most MAX_GROUP_MEMBERS)."""

    members = models.ManyToManyField("practices.StaffMember", through="DirectMember", related_name="+")
    # The sorted member ids ("3,7"), so a second "message Grace" finds the first conversation.
    member_key = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    last_message_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["practice", "member_key"], name="teamchat_direct_members_unique")
        ]


class DirectMember(TenantModel):
    thread = models.ForeignKey(DirectThread, on_delete=models.CASCADE, related_name="memberships")
    staff = models.ForeignKey("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    last_read_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["thread", "staff"], name="teamchat_direct_member_unique")]


class TopicState(TenantModel):
    """One staff member's place in a topic: the last message read (for unread counts), and whether
    they follow it (started it, wrote in it or were mentioned — which lets a non-member see it)."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="states")
    staff = models.ForeignKey("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    last_read_id = models.BigIntegerField(default=0)
    follows = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["topic", "staff"], name="teamchat_topic_state_unique")]
        indexes = [models.Index(fields=["staff", "follows"], name="teamchat_state_follows_idx")]


class TeamMessage(TenantModel):
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    thread = models.ForeignKey(DirectThread, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey("practices.StaffMember", null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    urgent = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(topic__isnull=False, thread__isnull=True) | Q(topic__isnull=True, thread__isnull=False),
                name="teamchat_message_in_topic_or_thread",
            )
        ]
        indexes = [
            models.Index(fields=["topic", "-id"], name="teamchat_msg_topic_idx"),
            models.Index(fields=["thread", "-id"], name="teamchat_msg_thread_idx"),
        ]


class TeamMessageRevision(TenantModel):
    """A message's text before an edit or a delete. The audit row says that it changed; the text
    stays here, never in the audit detail (which must hold no PHI)."""

    message = models.ForeignKey(TeamMessage, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    replaced_at = models.DateTimeField()
    reason = models.CharField(max_length=10)  # "edit" or "delete"


class TeamNotification(TenantModel):
    """A direct message, a mention or an urgent message for one staff member. It says only who
    wrote ("New message from Grace"); the text is read in Converge."""

    class Kind(models.TextChoices):
        DIRECT = "direct", "Direct message"
        MENTION = "mention", "Mention"
        URGENT = "urgent", "Urgent"

    staff = models.ForeignKey("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(TeamMessage, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "staff"], name="teamchat_notification_unique")]
        indexes = [models.Index(fields=["staff", "read_at"], name="teamchat_notif_unread_idx")]


class StaffStatus(TenantModel):
    """What a staff member told colleagues: online, away or in a visit; and whether their page
    went idle (shown as away until they are back). No row: online while connected."""

    class Choice(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        IN_VISIT = "in_visit", "In a visit"

    staff = models.OneToOneField("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=10, choices=Choice.choices, default=Choice.ONLINE)
    idle = models.BooleanField(default=False)
    changed_at = models.DateTimeField()
