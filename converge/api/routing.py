"""Routing rules and message re-categorisation."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from converge.api.auth import principal_of
from converge.api.schemas import Error, Id, Input, RoutingCategory, Text, answers
from converge.conversations.models import Message
from converge.conversations.selectors import conversation_get
from converge.conversations.services import ServiceError
from converge.practices.models import Team
from converge.practices.permissions import Perm, can
from converge.routing.selectors import rules_read
from converge.routing.services import message_recategorise, rule_update

router = Router(tags=["routing"])


class RuleOut(Schema):
    category: str
    team_id: int | None
    priority: int
    response_minutes: int


class RuleIn(Input):
    team_id: Id | None = None
    priority: int = Field(ge=0, le=3)
    response_minutes: int = Field(ge=1, le=7 * 24 * 60)


class CategoryIn(Input):
    category: RoutingCategory


def _out(rule) -> RuleOut:  # type: ignore[no-untyped-def]
    return RuleOut(
        category=rule.category, team_id=rule.team_id, priority=rule.priority, response_minutes=rule.response_minutes
    )


@router.get("/routing/rules", response=answers({200: list[RuleOut]}))
def list_rules(request: HttpRequest):  # type: ignore[no-untyped-def]
    rules = rules_read(principal_of(request).practice_id)
    return [_out(rules[c]) for c in ("administrative", "scheduling", "refill", "clinical", "urgent")]


@router.put("/routing/rules/{category}", response=answers({200: RuleOut}, 400, 403))
def update_rule(request: HttpRequest, category: RoutingCategory, payload: RuleIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    if principal.staff is not None and not can(principal.staff, Perm.MANAGE_SETTINGS):
        return Status(403, Error(detail="only managers and administrators can change routing"))
    team = None
    if payload.team_id is not None:
        team = Team.objects.filter(practice_id=principal.practice_id, pk=payload.team_id).first()
        if team is None:
            raise ServiceError("team_id: no such team")
    try:
        rule = rule_update(
            practice_id=principal.practice_id,
            category=category,
            actor=principal.actor,
            team=team,
            priority=payload.priority,
            response_minutes=payload.response_minutes,
        )
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    return _out(rule)


@router.post("/messages/{message_id}/category", response=answers({200: dict}, 400, 403, 404))
def recategorise(request: HttpRequest, message_id: Id, payload: CategoryIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    message = Message.objects.filter(practice_id=principal.practice_id, pk=message_id, direction="in").first()
    if message is None:
        raise Http404("message not found")
    if principal.staff is None:
        raise ServiceError("corrections are made by staff members")
    # Confidentiality: recategorising to "administrative" would declassify the conversation.
    conversation_get(principal=principal, conversation_id=message.conversation_id, audit=False)
    try:
        message_recategorise(message=message, category=payload.category, staff=principal.staff)
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    return {"message_id": message.pk, "category": payload.category}


class BreakGlassIn(Input):
    reason: Text = Field(min_length=10, max_length=300)
    minutes: int = Field(default=30, ge=1, le=240)


@router.post("/patients/{patient_id}/break-glass", response=answers({201: dict}, 400, 404), tags=["privacy"])
def break_glass_grant(request: HttpRequest, patient_id: Id, payload: BreakGlassIn):  # type: ignore[no-untyped-def]
    """Time-boxed emergency access to a patient's clinical conversations (audited; managers are
    notified)."""
    from converge.patients.models import Patient
    from converge.privacy.access import break_glass

    principal = principal_of(request)
    patient = Patient.objects.filter(practice_id=principal.practice_id, pk=patient_id).first()
    if patient is None:
        raise Http404("patient not found")
    if principal.staff is None:
        raise ServiceError("emergency access is for staff members")
    try:
        grant = break_glass(staff=principal.staff, patient=patient, reason=payload.reason, minutes=payload.minutes)
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    return Status(201, {"grant_id": grant.pk, "expires_at": grant.expires_at.isoformat()})
