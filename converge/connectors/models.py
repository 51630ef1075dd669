from __future__ import annotations

import secrets
from typing import Any

from django.db import models

from converge.core import crypto
from converge.core.models import TenantModel
from converge.providers.types import ChannelKind


class Provider(models.TextChoices):
    SIMULATOR = "simulator", "Simulator"
    META = "meta", "WhatsApp Cloud API"
    TWILIO = "twilio", "Twilio"
    MAILBOX = "mailbox", "IMAP/SMTP mailbox"
    WIDGET = "widget", "Website chat widget"
    PORTAL = "portal", "Secure portal"


class Tier(models.TextChoices):
    STANDARD = "standard", "Standard"
    SECURE = "secure", "Secure"


def new_channel_key() -> str:
    return secrets.token_urlsafe(18)


class Channel(TenantModel):
    """A channel the practice has configured. `kind` is what the patient experiences (SMS,
    WhatsApp, ...); `provider` is the code that speaks to it. A simulator channel behaves like its
    kind (opt-out words on SMS, the 24-hour window on WhatsApp) without a provider account."""

    kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ChannelKind])
    provider = models.CharField(max_length=16, choices=Provider.choices)
    name = models.CharField(max_length=100)
    key = models.CharField(max_length=40, unique=True, default=new_channel_key)
    display_address = models.CharField(max_length=254, blank=True)
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STANDARD)
    credentials_encrypted = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["practice", "kind", "enabled"], name="channel_kind_idx")]

    def __str__(self) -> str:
        return f"channel:{self.pk}"

    @property
    def is_simulator(self) -> bool:
        return self.provider == Provider.SIMULATOR

    @property
    def label(self) -> str:
        suffix = " (simulator)" if self.is_simulator else ""
        return f"{self.name}{suffix}"

    def credentials(self) -> dict[str, Any]:
        return crypto.decrypt_json(self.credentials_encrypted)

    def set_credentials(self, values: dict[str, Any]) -> None:
        self.credentials_encrypted = crypto.encrypt_json(values)


# --- Email (IMAP/SMTP) and the website chat widget ------------------------------------------------


class MailboxCursor(TenantModel):
    """How far a mailbox channel's IMAP folder has been read: the last UID stored under the
    folder's UIDVALIDITY. Advanced only after a mail is stored, so a crash re-reads at most the
    mails that were not yet recorded (and the store deduplicates those)."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="mailbox_cursor")
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # One poller per mailbox at a time, across worker processes; a dead poller's lease expires.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A mail that fails to store for a reason other than its content is retried a few times,
    # then quarantined, so it cannot block the mailbox forever.
    stuck_uid = models.BigIntegerField(null=True, blank=True)
    stuck_attempts = models.PositiveSmallIntegerField(default=0)


class QuarantinedMail(TenantModel):
    """A mail that could not be turned into a message; the raw bytes are kept for staff."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    uid = models.BigIntegerField()
    reason = models.CharField(max_length=300)
    raw_sha256 = models.CharField(max_length=64)
    raw_size = models.PositiveIntegerField()
    storage_path = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "raw_sha256"], name="quarantine_unique_raw"),
        ]
        indexes = [models.Index(fields=["channel", "-created_at"], name="quarantine_channel_idx")]


class EmailReplyToken(TenantModel):
    """The token in a conversation's reply address (`frontdesk+<token>@clinic.example`)."""

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="email_reply_token"
    )
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()


class WebchatVisitor(TenantModel):
    """A website visitor who filled in the chat's pre-chat form. `public_id` is the address of
    their contact point; the secret token (only its hash is kept) lets their browser read the
    thread again. Phone and email are claims, never used to attach the visitor to a patient."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=40, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    claimed_phone = models.CharField(max_length=32, blank=True)
    claimed_email = models.CharField(max_length=254, blank=True)
    consent_at = models.DateTimeField()
    ip_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["ip_hash", "created_at"], name="webchat_visitor_ip_idx")]


class StaffPresence(TenantModel):
    """One open staff WebSocket; rows not refreshed by the heartbeat are ignored (a killed
    process cannot delete its rows)."""

    staff = models.ForeignKey("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    connection = models.CharField(max_length=200, unique=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["practice", "last_seen_at"], name="staff_presence_idx")]


# --- WhatsApp Cloud API templates and provider send rates --------------------------------------


class TemplateCategory(models.TextChoices):
    UTILITY = "utility", "Utility"
    MARKETING = "marketing", "Marketing"
    AUTHENTICATION = "authentication", "Authentication"


class TemplateStatus(models.TextChoices):
    APPROVED = "approved", "Approved"
    PENDING = "pending", "Pending review"
    REJECTED = "rejected", "Rejected"


class WhatsAppTemplate(TenantModel):
    """A message template as registered with Meta for one WhatsApp channel. Outside the 24-hour
    customer-service window only approved templates may be sent; Meta fills `{{1}}`, `{{2}}`, ...
    in `body` with the parameters, and `body` rendered the same way is what staff see."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="whatsapp_templates")
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    body = models.TextField()
    category = models.CharField(max_length=20, choices=TemplateCategory.choices, default=TemplateCategory.UTILITY)
    status = models.CharField(max_length=10, choices=TemplateStatus.choices, default=TemplateStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "name", "language"], name="whatsapp_template_unique"),
        ]

    def __str__(self) -> str:
        return f"whatsapp_template:{self.pk}"

    @property
    def is_approved(self) -> bool:
        return self.status == TemplateStatus.APPROVED


class ChannelRateState(TenantModel):
    """The send-rate token bucket of one channel, shared by every worker (see ratelimit.py)."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="+")
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"channel_rate:{self.channel_id}"
