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
