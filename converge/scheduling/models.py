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


class AppointmentType(TenantModel):
    name = models.CharField(max_length=100)
    duration_minutes = models.PositiveIntegerField(default=20)
    buffer_minutes = models.PositiveIntegerField(default=0)
    instructions = models.TextField(blank=True)
    # Whether reminders may name the visit type ("Prenatal visit" can disclose PHI).
    may_name_in_reminders = models.BooleanField(default=False)

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
    status = models.CharField(max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
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
            models.UniqueConstraint(
                fields=["practice", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="appointment_unique_external_id",
            ),
        ]
