"""The follow-up queue (no-shows to call back, recalls due): reading it and ticking items off."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from converge.audit.services import audit_record
from converge.scheduling.models import FollowUpItem


def follow_ups_open(*, practice_id: int, limit: int = 200) -> list[FollowUpItem]:
    return list(
        FollowUpItem.objects.filter(practice_id=practice_id, status=FollowUpItem.Status.OPEN)
        .select_related("patient", "appointment", "appointment__provider")
        .order_by("due_date", "created_at", "id")[:limit]
    )


def follow_up_done(*, item: FollowUpItem, actor: Any) -> FollowUpItem:
    """Mark an item done; doing it twice is harmless (a colleague may have got there first)."""
    with transaction.atomic():
        current = FollowUpItem.objects.select_for_update().get(pk=item.pk, practice_id=item.practice_id)
        if current.status == FollowUpItem.Status.DONE:
            return current
        current.status = FollowUpItem.Status.DONE
        current.save(update_fields=["status"])
        audit_record(
            practice_id=current.practice_id,
            actor=actor,
            action="follow_up.done",
            obj=current,
            patient_id=current.patient_id,
            detail={"kind": current.kind},
        )
    item.status = current.status
    return current
