from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction

from converge.audit.models import AuditCheckpoint, AuditEvent
from converge.core import clock, rows

GENESIS = "0" * 64


def audit_record(
    *,
    practice_id: int | None,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    """Write one audit row in the caller's transaction. `actor` is a StaffMember, a label, or None
    for the system. Never put message bodies, names or phone numbers in `detail`."""
    actor_user_id = None
    if actor is None:
        label = "system"
    elif isinstance(actor, str):
        label = actor
    else:
        actor_user_id = getattr(actor, "user_id", None)
        label = f"staff:{getattr(actor, 'pk', '')}"
    rows.insert(  # on every write path: without the ORM's per-save machinery (converge.core.rows)
        AuditEvent(
            practice_id=practice_id,
            actor_user_id=actor_user_id,
            actor_label=label,
            action=action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            patient_id=patient_id,
            ip=ip[:64],
            created_at=clock.now(),
            detail=detail or {},
        )
    )


def row_digest(row: AuditEvent, prev_hash: str) -> str:
    payload = json.dumps(
        [
            row.chain_index,
            prev_hash,
            row.id,
            row.practice_id,
            row.actor_user_id,
            row.actor_label,
            row.action,
            row.object_type,
            row.object_id,
            row.patient_id,
            row.ip,
            row.created_at.isoformat(),
            row.detail,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def audit_seal(*, batch: int = 5000) -> int:
    """Link unsealed rows into the chain; returns how many were sealed."""
    sealed = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(724301)")
            head = AuditEvent.objects.filter(chain_index__isnull=False).order_by("-chain_index").first()
            index = head.chain_index if head is not None and head.chain_index is not None else 0
            prev = head.hash if head is not None else GENESIS
            unsealed = list(AuditEvent.objects.filter(chain_index__isnull=True).order_by("id")[:batch])
            for row in unsealed:
                index += 1
                row.chain_index = index
                row.prev_hash = prev
                row.hash = row_digest(row, prev)
                prev = row.hash
            rows.update_many(unsealed, ["chain_index", "prev_hash", "hash"])
        sealed += len(unsealed)
        if len(unsealed) < batch:
            return sealed


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    row_id: int | None = None


def audit_verify() -> VerifyResult:
    """Walk the chain: a changed row breaks its hash, a removed or reordered row breaks the links.
    After a retention purge the walk starts at the recorded checkpoint."""
    prev = GENESIS
    expected_index = 1
    checked = 0
    checkpoint = AuditCheckpoint.objects.order_by("-chain_index").first()
    if checkpoint is not None:
        prev = checkpoint.hash
        expected_index = checkpoint.chain_index + 1
    rows = AuditEvent.objects.filter(chain_index__gte=expected_index).order_by("chain_index")
    for row in rows.iterator(chunk_size=2000):
        if row.chain_index != expected_index:
            return VerifyResult(False, checked, f"chain index {expected_index} is missing", row.id)
        if row.prev_hash != prev:
            return VerifyResult(False, checked, "previous-hash link broken (row removed or reordered)", row.id)
        if row_digest(row, prev) != row.hash:
            return VerifyResult(False, checked, "content does not match its hash (row changed)", row.id)
        prev = row.hash
        expected_index += 1
        checked += 1
    return VerifyResult(True, checked)


def audit_purge_before(*, cutoff: datetime) -> int:
    """Remove sealed rows older than `cutoff` from the front of the chain, recording a checkpoint
    so the rest still verifies. Rows are removed only as a whole prefix of the chain."""
    audit_seal()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(724301)")
                cursor.execute("SET LOCAL converge.audit_purge = 'on'")
        first_kept = (
            AuditEvent.objects.filter(chain_index__isnull=False, created_at__gte=cutoff).order_by("chain_index").first()
        )
        last = AuditEvent.objects.filter(chain_index__isnull=False).order_by("-chain_index").first()
        if last is None:
            return 0
        end = first_kept.chain_index - 1 if first_kept is not None and first_kept.chain_index else last.chain_index
        if end is None or end < 1:
            return 0
        boundary = AuditEvent.objects.filter(chain_index=end).first()
        if boundary is None or boundary.chain_index is None:
            return 0
        AuditCheckpoint.objects.create(chain_index=boundary.chain_index, hash=boundary.hash, purged_at=clock.now())
        deleted, _ = AuditEvent.objects.filter(chain_index__lte=end).delete()
    return deleted
