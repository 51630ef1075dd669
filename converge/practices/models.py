from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from converge.core.models import TenantModel


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {value!r}") from None


def default_business_hours() -> dict[str, list[list[str]]]:
    weekday = [["08:00", "17:00"]]
    return {"0": weekday, "1": weekday, "2": weekday, "3": weekday, "4": weekday, "5": [], "6": []}


class Practice(models.Model):
    """The tenant."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    # {"0": [["08:00", "17:00"]], ...} keyed by weekday (0 = Monday), local to time_zone.
    business_hours = models.JSONField(default=default_business_hours)
    phone = models.CharField(max_length=32, blank=True)
    idle_timeout_minutes = models.PositiveIntegerField(default=15)
    # A patient writing within this many days of a resolved conversation reopens it; later, a new
    # conversation starts so the old one's outcome stays intact.
    reopen_window_days = models.PositiveIntegerField(default=7)
    # Active staff plus pending invitations may not exceed this (Settings → Staff).
    staff_seats = models.PositiveIntegerField(default=15)
    default_team = models.ForeignKey("Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Location(TenantModel):
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])


class Team(TenantModel):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    is_clinical = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["practice", "slug"], name="team_slug_unique_per_practice")]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    FRONT_DESK = "front_desk", "Front desk"
    SCHEDULER = "scheduler", "Scheduler"
    NURSE = "nurse", "Nurse"
    PROVIDER = "provider", "Provider"
    MANAGER = "manager", "Practice manager"
    ADMIN = "admin", "Administrator"


CLINICAL_ROLES = frozenset({Role.NURSE, Role.PROVIDER})


class StaffMember(TenantModel):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    display_name = models.CharField(max_length=120)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.FRONT_DESK)
    teams = models.ManyToManyField(Team, blank=True, related_name="members")
    phone = models.CharField(max_length=32, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_clinical(self) -> bool:
        return self.role in CLINICAL_ROLES


class ApiToken(TenantModel):
    """A practice API token. Only a SHA-256 of the secret is kept; the prefix identifies it."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class OnCallShift(TenantModel):
    """Who is on call when (Settings → On-call), in the practice's time zone: either every week on
    the given weekdays from start_time to end_time (an end at or before the start runs past
    midnight; 00:00–00:00 is the whole day), or once, from start_date start_time to end_date
    end_time. Urgent escalation pages the people on shift now before the ordered on-call list."""

    staff = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="on_call_shifts")
    weekdays = models.JSONField(default=list, blank=True)  # [0..6], 0 = Monday; empty for a date range
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    start_time = models.TimeField()
    end_time = models.TimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["practice", "end_date"], name="oncall_shift_idx")]

    def __str__(self) -> str:
        return f"on-call-shift:{self.pk}"
