from __future__ import annotations

from django.db import models

from converge.core.models import TenantModel


class Provider(TenantModel):
    """A clinician whose calendar patients book into."""

    staff = models.OneToOneField(
        "practices.StaffMember",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provider",
    )
    display_name = models.CharField(max_length=120)
    external_id = models.CharField(max_length=100, blank=True)
    location = models.ForeignKey(
        "practices.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.display_name


class WorkingHours(TenantModel):
    """A weekly working block for a provider, in the location's local time."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField()  # 0 = Monday
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="working_hours_end_after_start"),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="working_hours_weekday_range"),
        ]


class ScheduleException(TenantModel):
    """A day off (available=False without times), a blocked range (available=False with times),
    or special hours replacing the weekday's (available=True with times)."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="exceptions")
    day = models.DateField()
    start = models.TimeField(null=True, blank=True)
    end = models.TimeField(null=True, blank=True)
    available = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)


class AppointmentType(TenantModel):
    name = models.CharField(max_length=100)
    duration_minutes = models.PositiveIntegerField(default=20)
    buffer_minutes = models.PositiveIntegerField(default=0)
    instructions = models.TextField(blank=True)
    # Whether reminders may name the visit type ("Prenatal visit" can disclose PHI).
    may_name_in_reminders = models.BooleanField(default=False)
    # Hours before the start; empty means the practice's default (48 h and 24 h).
    reminder_offsets_hours = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.name


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"
    RESCHEDULED = "rescheduled", "Rescheduled"
    NO_SHOW = "no_show", "No-show"
    CHECKED_IN = "checked_in", "Checked in"
    COMPLETED = "completed", "Completed"


ACTIVE_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
)


class Appointment(TenantModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="appointments")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    location = models.ForeignKey(
        "practices.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    appointment_type = models.ForeignKey(
        AppointmentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    # end + the type's buffer: what the no-double-booking guard compares.
    blocked_until = models.DateTimeField()
    status = models.CharField(max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
    rescheduled_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # When the patient (or staff) confirmed; kept after the visit so confirmation rates hold.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=10, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["practice", "start"], name="appointment_start_idx"),
            models.Index(fields=["practice", "patient", "start"], name="appointment_patient_idx"),
            models.Index(fields=["provider", "start"], name="appointment_provider_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="appointment_end_after_start"),
            models.CheckConstraint(
                condition=models.Q(blocked_until__gte=models.F("end")), name="appointment_blocked_after_end"
            ),
            models.UniqueConstraint(
                fields=["practice", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="appointment_unique_external_id",
            ),
        ]


class WaitlistEntry(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Waiting"
        BOOKED = "booked", "Booked"
        REMOVED = "removed", "Removed"

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="waitlist_entries")
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    appointment_type = models.ForeignKey(
        AppointmentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    weekdays = models.JSONField(default=list, blank=True)  # [] = any day; 0 = Monday
    earliest_time = models.TimeField(null=True, blank=True)
    latest_time = models.TimeField(null=True, blank=True)
    earliest_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["practice", "status", "created_at"], name="waitlist_active_idx")]


class SlotOffer(TenantModel):
    """A freed slot being offered to the waitlist in batches."""

    class Status(models.TextChoices):
        OPEN = "open", "Offering"
        FILLED = "filled", "Filled"
        CLOSED = "closed", "Closed"

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey(
        "practices.Location", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    appointment_type = models.ForeignKey(
        AppointmentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    freed_from = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    batches_sent = models.PositiveIntegerField(default=0)
    next_batch_at = models.DateTimeField(null=True, blank=True)
    filled_by = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    closed_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()


class SlotOfferRecipient(TenantModel):
    class Status(models.TextChoices):
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        TOO_LATE = "too_late", "Too late"

    offer = models.ForeignKey(SlotOffer, on_delete=models.CASCADE, related_name="recipients")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFERED)
    batch = models.PositiveIntegerField()
    offered_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["offer", "entry"], name="offer_recipient_once")]


class FollowUpItem(TenantModel):
    """An item in the practice manager's queue (a no-show to call back, a recall)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    appointment = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20)  # no_show, recall, post_visit
    note = models.CharField(max_length=300, blank=True)
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField()
