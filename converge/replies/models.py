from __future__ import annotations

from django.db import models

from converge.core.models import TenantModel
from converge.patients.models import Language


class CannedResponse(TenantModel):
    """A saved reply staff insert with `/shortcut`. The same shortcut may exist once per
    language; the composer picks the patient's language variant."""

    shortcut = models.CharField(max_length=30)
    title = models.CharField(max_length=100)
    body = models.TextField()
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.ENGLISH)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "shortcut", "language"], name="canned_response_unique_shortcut_language"
            ),
        ]
        indexes = [models.Index(fields=["practice", "shortcut"], name="canned_response_shortcut_idx")]

    def __str__(self) -> str:
        return f"canned_response:{self.pk}"
