"""The manager's policies page: routing rules (category → team, priority, response target) and
the privacy settings (PHI policy, portal invitations, clinical confidentiality, MFA by role)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from converge.conversations.models import Priority
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices.models import Role, Team
from converge.practices.permissions import Perm, can
from converge.privacy.guard import privacy_settings_read
from converge.privacy.models import PhiPolicy
from converge.privacy.selectors import policies_page, practice_teams
from converge.privacy.services import RuleChange, privacy_update, routing_policies_update
from converge.routing.models import DEFAULT_RULES
from converge.routing.oncall import on_call_list_text


def _rule_changes(request: HttpRequest, teams: list[Team]) -> dict[str, RuleChange]:
    changes = {}
    for category in DEFAULT_RULES:
        team_id = request.POST.get(f"{category}-team", "")
        changes[category] = RuleChange(
            team=next((t for t in teams if str(t.pk) == team_id), None),
            priority=int(request.POST.get(f"{category}-priority", "1")),
            response_minutes=int(request.POST.get(f"{category}-minutes", "240")),
        )
    return changes


def _save(request: HttpRequest, practice_id: int, actor: object) -> None:
    if request.POST.get("form") == "routing":
        routing_policies_update(
            practice_id=practice_id,
            actor=actor,
            rules=_rule_changes(request, practice_teams(practice_id)),
            urgent_ack_minutes=int(request.POST.get("urgent_ack_minutes", "5")),
            on_call_text=request.POST.get("on_call_list"),
        )
        return
    current = privacy_settings_read(practice_id)
    privacy_update(
        practice_id=practice_id,
        actor=actor,
        standard_channel_policy=request.POST.get("standard_channel_policy", current.standard_channel_policy),
        invite_to_portal_on_clinical=request.POST.get("invite_to_portal_on_clinical") == "on",
        clinical_confidentiality=request.POST.get("clinical_confidentiality") == "on",
        mfa_required_roles=request.POST.getlist("mfa_required_roles"),
    )


@staff_required
@require_http_methods(["GET", "POST"])
def policies(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not can(staff, Perm.MANAGE_SETTINGS):
        return HttpResponseForbidden("Only practice managers and administrators can change policies.")
    if request.method == "POST":
        try:
            _save(request, staff.practice_id, staff)
            flash.success(request, "Saved.")
        except ValueError as exc:
            flash.error(request, f"Not saved: {exc}")
        return redirect("/settings/policies/")
    page = policies_page(staff.practice_id)
    return render(
        request,
        "privacy/policies.html",
        {
            "rules": page.rules,
            "teams": page.teams,
            "priorities": Priority.choices,
            "routing": page.routing,
            "on_call_list": on_call_list_text(page.routing),
            "privacy": page.privacy,
            "policies": PhiPolicy.choices,
            "roles": Role.choices,
        },
    )
