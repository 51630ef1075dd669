from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from converge.core.models import TenantModel
from converge.providers.types import DeliveryStatus


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"  # waiting for the patient
    SNOOZED = "snoozed", "Snoozed"
    RESOLVED = "resolved", "Resolved"


class Priority(models.IntegerChoices):
    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"
    URGENT = 3, "Urgent"


class Conversation(TenantModel):
    """One patient's thread with the practice, across every channel."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    team = models.ForeignKey("practices.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    category = models.CharField(max_length=20, blank=True)
    last_message_at = models.DateTimeField()
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # Set when the patient writes and nobody has answered yet; cleared by a staff reply.
    waiting_since = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    # Every change bumps this; clients re-sync with `updated_since`.
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            # At most one unresolved conversation per patient: concurrent first messages from the
            # same sender cannot open two threads.
            models.UniqueConstraint(
                fields=["patient"],
                condition=~Q(status="resolved"),
                name="one_unresolved_conversation_per_patient",
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "status", "-last_message_at"], name="conv_status_idx"),
            models.Index(
                fields=["practice", "assignee", "status", "-last_message_at"],
                name="conv_assignee_idx",
            ),
            models.Index(fields=["practice", "team", "status", "-last_message_at"], name="conv_team_idx"),
            # Status before priority: the All open list's page ("open" or "pending", urgent ones
            # pinned first, then newest) is read from this index alone, and the Urgent view and
            # count seek (status, priority 3) pairs in it.
            models.Index(
                fields=["practice", "status", "priority", "-last_message_at"],
                name="conv_status_priority_idx",
            ),
            models.Index(fields=["practice", "updated_at"], name="conv_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"conversation:{self.pk}"


class Direction(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


OUTBOX_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
# An on-call page about the conversation's urgent alert (converge.routing.oncall): it goes through
# the outbox to a staff member's number (metadata "to_address"), not to the patient, so thread,
# preview, search and export leave it out; staff see its state as event lines.
STAFF_PAGE_KIND = "on_call_page"


class Message(TenantModel):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey("connectors.Channel", on_delete=models.PROTECT, related_name="+")
    contact_point = models.ForeignKey(
        "patients.ContactPoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=20, default="text")
    body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=[(s.value, s.value) for s in DeliveryStatus])
    provider_message_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 -- NULL stays out of the unique index
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sender = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_automatic = models.BooleanField(default=False)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    leased_by = models.CharField(max_length=100, blank=True)  # the claiming worker (WorkerHeartbeat.worker_id)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Inbound idempotency: a provider's redelivery of the same message is stored once.
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=Q(provider_message_id__isnull=False),
                name="message_unique_provider_id",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="message_thread_idx"),
            models.Index(
                fields=["next_attempt_at"],
                name="message_outbox_idx",
                condition=Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["practice", "-created_at"], name="message_practice_idx"),
        ]

    def __str__(self) -> str:
        return f"message:{self.pk}"


class Attachment(TenantModel):
    class State(models.TextChoices):
        PENDING = "pending", "Pending download"
        STORED = "stored", "Stored"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    storage_path = models.CharField(max_length=300, blank=True)
    provider_media_id = models.CharField(max_length=200, blank=True)
    source_url = models.URLField(max_length=1000, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Note(TenantModel):
    """An internal note: staff only, never sent."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey("practices.StaffMember", on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_thread_idx")]


class ConversationEvent(TenantModel):
    """A system line in the thread: "assigned to Maria", "resolved", "reminder sent"."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    actor = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="event_thread_idx")]


class ConversationRead(TenantModel):
    """How far one staff member has read a conversation: the inbox's unread marker is
    `conversation.last_inbound_at > last_read_at`."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    staff = models.ForeignKey("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    last_read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "staff"], name="conversation_read_unique_staff"),
        ]


class Mention(TenantModel):
    """A staff member @mentioned in an internal note; unread until they open it."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="mentions")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["note", "staff"], name="mention_unique_staff")]
        indexes = [models.Index(fields=["staff", "read_at", "-created_at"], name="mention_inbox_idx")]


class InboundEvent(TenantModel):
    """A patient message a webhook accepted and the inbound pipeline has not stored yet.

    Webhooks answer once this row is committed (one INSERT), so a burst never waits on routing;
    the worker turns each row into a Message with `message_receive` and deletes it. A row that
    fails is retried with backoff and never dropped."""

    channel = models.ForeignKey("connectors.Channel", on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField()  # the parsed InboundMessage (see conversations.inbound.queue)
    received_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    leased_by = models.CharField(max_length=100, blank=True)  # the claiming worker (WorkerHeartbeat.worker_id)

    class Meta:
        indexes = [models.Index(fields=["next_attempt_at", "id"], name="inbound_event_due_idx")]

    def __str__(self) -> str:
        return f"inbound-event:{self.pk}"
