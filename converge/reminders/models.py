from __future__ import annotations

from datetime import time

from django.db import models

from converge.core.models import TenantModel


def default_offsets() -> list[int]:
    return [48, 24]


def default_fallback() -> list[str]:
    return ["whatsapp", "sms", "email"]


class ReminderPolicy(models.Model):
    """A practice's reminder settings (one row per practice, created on first use)."""

    practice = models.OneToOneField("practices.Practice", on_delete=models.CASCADE, related_name="reminder_policy")
    enabled = models.BooleanField(default=True)
    offsets_hours = models.JSONField(default=default_offsets)
    quiet_start = models.TimeField(default=time(21, 0))
    quiet_end = models.TimeField(default=time(8, 0))
    # Channel kinds tried in order after the patient's preferred channel.
    fallback_order = models.JSONField(default=default_fallback)
    no_show_grace_minutes = models.PositiveIntegerField(default=30)
    # Mark visits not checked in by start + grace as no-shows automatically. Off by default:
    # a practice that does not use check-in would see every visit marked.
    auto_no_show = models.BooleanField(default=False)
    waitlist_batch_size = models.PositiveIntegerField(default=3)
    waitlist_hold_minutes = models.PositiveIntegerField(default=30)
    # A freed slot is not offered when it starts sooner than this.
    waitlist_min_lead_minutes = models.PositiveIntegerField(default=60)
    reschedule_options = models.PositiveIntegerField(default=3)
    min_notice_minutes = models.PositiveIntegerField(default=120)
    # Optional WhatsApp template for reminders (business-initiated messages must be templates).
    whatsapp_template_name = models.CharField(max_length=100, blank=True, default="appointment_reminder")


class ReminderStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    # Handed to the outbox; whether it reached the patient is the message's delivery status.
    QUEUED = "queued", "Queued to send"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class Reminder(TenantModel):
    # No index of its own: the unique (appointment, kind) constraint's index serves lookups by
    # appointment, and a second one slowed bulk planning.
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.CASCADE, related_name="reminders", db_index=False
    )
    kind = models.CharField(max_length=10)  # "48h", "24h", ...
    due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PLANNED)
    skipped_reason = models.CharField(max_length=200, blank=True)
    channel_kind = models.CharField(max_length=16, blank=True)
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Channel kinds already tried for this reminder (fallback walks the rest).
    tried_kinds = models.JSONField(default=list, blank=True)
    # The appointment start the plan was made for; a move re-plans.
    planned_for_start = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "kind"], name="reminder_unique_per_kind"),
        ]
        indexes = [
            models.Index(fields=["due_at"], name="reminder_due_idx", condition=models.Q(status="planned")),
        ]


class PromptKind(models.TextChoices):
    REMINDER = "reminder", "Reminder reply"
    RESCHEDULE = "reschedule", "Choosing a new time"
    WAITLIST = "waitlist", "Waitlist offer"


class PatientPrompt(TenantModel):
    """What the practice is waiting for a patient to answer: a reminder (confirm / reschedule /
    cancel), a choice among offered times, or a waitlist offer. The next reply is read against
    the newest open prompt."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=PromptKind.choices)
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # For RESCHEDULE: [{"start": iso, "end": iso}] in the order offered. For WAITLIST: the offer id.
    options = models.JSONField(default=list, blank=True)
    slot_offer = models.ForeignKey(
        "scheduling.SlotOfferRecipient", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["patient", "-created_at"], name="prompt_patient_idx")]
