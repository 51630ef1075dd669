"""Clinical confidentiality: when a practice turns it on, conversations whose category is
clinical (refill, clinical, urgent) are readable only by roles with READ_CLINICAL, or by a staff
member holding a current break-glass grant for that patient."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q, QuerySet

from converge.audit.services import audit_record
from converge.conversations.models import Conversation
from converge.core import clock, events
from converge.core.principal import Principal
from converge.patients.models import Patient
from converge.practices.models import Role, StaffMember
from converge.practices.permissions import Perm, can
from converge.privacy.guard import cached_privacy_settings
from converge.privacy.models import BreakGlassGrant

CLINICAL_CATEGORIES = ("refill", "clinical", "urgent")
MAX_BREAK_GLASS = timedelta(hours=4)


def restricted(principal: Principal) -> bool:
    staff = principal.staff
    if staff is None:
        return False  # practice API tokens are integrations the practice trusts with everything
    return cached_privacy_settings(principal.practice_id).clinical_confidentiality and not can(
        staff, Perm.READ_CLINICAL
    )


def _granted_patients(staff: StaffMember) -> QuerySet[BreakGlassGrant]:
    return BreakGlassGrant.objects.filter(staff=staff, expires_at__gt=clock.now()).values("patient_id")  # type: ignore[return-value]


def visible(qs: QuerySet[Conversation], principal: Principal) -> QuerySet[Conversation]:
    """Adds the rule to the caller's query itself (no extra query: the inbox counts and lists
    keep their query budget)."""
    staff = principal.staff
    if staff is None or can(staff, Perm.READ_CLINICAL):
        return qs
    return qs.filter(
        ~Q(category__in=CLINICAL_CATEGORIES)
        | Q(practice__privacy__isnull=True)
        | Q(practice__privacy__clinical_confidentiality=False)
        | Q(patient_id__in=_granted_patients(staff))
    )


def may_read(conversation: Conversation, principal: Principal) -> bool:
    if not restricted(principal) or conversation.category not in CLINICAL_CATEGORIES:
        return True
    assert principal.staff is not None
    return BreakGlassGrant.objects.filter(
        staff=principal.staff, patient_id=conversation.patient_id, expires_at__gt=clock.now()
    ).exists()


def break_glass(*, staff: StaffMember, patient: Patient, reason: str, minutes: int = 30) -> BreakGlassGrant:
    reason = reason.strip()
    if len(reason) < 10:
        raise ValueError("reason: say why you need access (at least 10 characters)")
    if patient.practice_id != staff.practice_id:
        raise ValueError("patient not found")
    if not can(staff, Perm.BREAK_GLASS) and not can(staff, Perm.READ_CLINICAL):
        raise ValueError("your role cannot request emergency access")
    now = clock.now()
    duration = min(timedelta(minutes=max(1, minutes)), MAX_BREAK_GLASS)
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            practice_id=staff.practice_id,
            staff=staff,
            patient=patient,
            reason=reason[:300],
            expires_at=now + duration,
            created_at=now,
        )
        audit_record(
            practice_id=staff.practice_id,
            actor=staff,
            action="privacy.break_glass",
            obj=grant,
            patient_id=patient.pk,
            detail={"reason": reason[:300], "minutes": int(duration.total_seconds() // 60)},
        )
        managers = StaffMember.objects.filter(
            practice_id=staff.practice_id, role__in=[Role.MANAGER, Role.ADMIN], is_active=True
        ).values_list("user_id", flat=True)
        events.publish_on_commit(
            [events.user_group(uid) for uid in managers],
            {"type": "privacy.break_glass", "staff_id": staff.pk, "patient_id": patient.pk, "grant_id": grant.pk},
        )
    return grant
