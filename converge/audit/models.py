from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One append-only audit row.

    Rows are inserted unsealed (no hash) inside the writer's transaction, so writers never queue
    on a global lock; the sealer (worker job, and `converge audit verify`) links them into the
    hash chain in commit order: chain_index, prev_hash, hash. Database triggers refuse deletes
    and any update except sealing a row once.
    Ids are plain integers, not foreign keys, so no cascade can ever remove an audit row.
    """

    practice_id = models.BigIntegerField(null=True, db_index=True)
    actor_user_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=120, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True)
    ip = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    detail = models.JSONField(default=dict)
    chain_index = models.BigIntegerField(null=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["practice_id", "patient_id", "created_at"], name="audit_patient_idx"),
            models.Index(fields=["practice_id", "actor_user_id", "created_at"], name="audit_actor_idx"),
            models.Index(
                fields=["chain_index"],
                name="audit_unsealed_idx",
                condition=models.Q(chain_index__isnull=True),
            ),
        ]


class AuditCheckpoint(models.Model):
    """Where the verified chain starts after a retention purge removed its oldest rows."""

    chain_index = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    purged_at = models.DateTimeField()
