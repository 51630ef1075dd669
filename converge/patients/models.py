from __future__ import annotations

from django.db import models

from converge.core.models import TenantModel
from converge.providers.types import ChannelKind


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Spanish"


class Patient(TenantModel):
    """A person the practice talks to. An unknown sender becomes an unverified patient with no
    name; staff later link it to the real record (a merge)."""

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.ENGLISH)
    preferred_channel = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ChannelKind], blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    is_verified = models.BooleanField(default=False)
    external_id = models.CharField(max_length=100, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["practice", "last_name", "first_name"], name="patient_name_idx"),
            models.Index(fields=["practice", "date_of_birth"], name="patient_dob_idx"),
            models.Index(fields=["practice", "external_id"], name="patient_external_idx"),
        ]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def __str__(self) -> str:
        return f"patient:{self.pk}"

    @property
    def display_name(self) -> str:
        """The name staff see; an unverified contact shows as "Unknown +1 555…" (prefetch
        `contact_points` when listing many)."""
        if self.full_name:
            return self.full_name
        contacts = sorted(self.contact_points.all(), key=lambda c: c.pk)
        if not contacts:
            return "Unknown sender"
        from converge.patients.addresses import PHONE_KINDS, display_phone

        first = contacts[0]
        if first.kind == "webchat":
            # The name a web visitor typed is a claim: shown as such, never the record's name.
            given = " ".join(first.given_name.split())
            return f"{given} (web chat, unverified)" if given else "Unknown web visitor"
        shown = display_phone(first.address) if first.kind in PHONE_KINDS else first.address
        return f"Unknown {shown}"


class ContactPoint(TenantModel):
    """One address on one channel kind. SMS and WhatsApp share the E.164 phone number, so identity
    matching looks across both; consent and opt-out are per kind (STOP on SMS says nothing about
    WhatsApp)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ChannelKind])
    address = models.CharField(max_length=254)
    # The name the sender gave for themselves (a web visitor's pre-chat form): shown to staff,
    # marked unverified, never copied into the patient's name or used to match anyone.
    given_name = models.CharField(max_length=100, blank=True)
    is_verified = models.BooleanField(default=False)
    consent_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    # The WhatsApp customer-service window and similar per-address facts key off this.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["practice", "kind", "address"], name="contact_point_unique_address"),
        ]
        indexes = [models.Index(fields=["practice", "address"], name="contact_point_address_idx")]

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None
