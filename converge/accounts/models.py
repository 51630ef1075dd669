from __future__ import annotations

from django.conf import settings
from django.db import models


class LoginAttempt(models.Model):
    """Failed sign-ins, for throttling and lockout. The email is stored lower-cased (staff
    identifiers, not patient data)."""

    email = models.CharField(max_length=254, db_index=True)
    ip = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(db_index=True)


class StaffSession(models.Model):
    """Which sessions belong to which user, so disabling an account ends all of them at once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()


class RecoveryCode(models.Model):
    """One-time codes that stand in for the authenticator app when the phone is lost. Only a
    password hash of each is kept; a new set replaces the old one."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"])]


class StaffInvitation(models.Model):
    """A single-use link that lets a new staff member set a password and join the practice. Only
    a SHA-256 of the link's secret is kept; the account is created only when it is accepted."""

    practice = models.ForeignKey("practices.Practice", on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)  # lower-cased
    display_name = models.CharField(max_length=120)
    role = models.CharField(max_length=20)
    teams = models.ManyToManyField("practices.Team", blank=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    invited_by = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_by = models.ForeignKey(
        "practices.StaffMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The invitation email waits in this small outbox (converge.accounts.mail), sent by the
    # worker, never inside the request. Its link is kept encrypted only until it is sent or
    # given up; then only the hash above remains.
    mail_status = models.CharField(max_length=10, blank=True)  # "", queued, sent, failed, cancelled
    mail_secret = models.TextField(blank=True)
    mail_attempts = models.PositiveSmallIntegerField(default=0)
    mail_next_at = models.DateTimeField(null=True, blank=True)
    mail_error = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["practice", "used_at", "revoked_at", "expires_at"], name="invite_pending_idx"),
            models.Index(fields=["mail_next_at"], name="invite_mail_due_idx", condition=models.Q(mail_status="queued")),
        ]

    def __str__(self) -> str:
        return f"invitation:{self.pk}"
