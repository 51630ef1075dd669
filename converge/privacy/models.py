from __future__ import annotations

from django.db import models


class PhiPolicy(models.TextChoices):
    WARN = "warn", "Warn the sender, who may send anyway with a reason"
    BLOCK = "block", "Block; only an override with a reason sends it"
    CONVERT = "convert", "Deliver through the secure portal, send only a notice"


class PrivacySettings(models.Model):
    """A practice's privacy settings (one row per practice, created on first use)."""

    practice = models.OneToOneField("practices.Practice", on_delete=models.CASCADE, related_name="privacy")
    standard_channel_policy = models.CharField(max_length=10, choices=PhiPolicy.choices, default=PhiPolicy.CONVERT)
    invite_to_portal_on_clinical = models.BooleanField(default=True)
    portal_link_minutes = models.PositiveIntegerField(default=72 * 60)
    portal_idle_minutes = models.PositiveIntegerField(default=10)
    # Clinical conversations readable only by clinical roles (nurse, provider) and managers.
    clinical_confidentiality = models.BooleanField(default=False)
    # Roles that must use a second factor (TOTP); empty means nobody is forced.
    mfa_required_roles = models.JSONField(default=list, blank=True)
    # Retention per message class, in days; 0 keeps forever. (The audit log's retention is
    # installation-wide, CONVERGE_AUDIT_RETENTION_DAYS, because it is one hash chain.)
    message_retention_days = models.PositiveIntegerField(default=0)
    automatic_message_retention_days = models.PositiveIntegerField(default=0)


class PortalLink(models.Model):
    """A single-use, expiring link into the secure portal. Only a hash of the token is kept."""

    practice = models.ForeignKey("practices.Practice", on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_checks = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()


class BreakGlassGrant(models.Model):
    """Time-boxed access for a staff member to one patient's clinical conversations, given with a
    reason; audited and announced to the practice's managers."""

    practice = models.ForeignKey("practices.Practice", on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey("practices.StaffMember", on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=300)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["staff", "patient", "expires_at"], name="breakglass_active_idx")]
