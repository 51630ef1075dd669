"""The manager's policies page: routing rules (category → team, priority, response target) and
the privacy settings (PHI policy, portal invitations, clinical confidentiality, MFA by role)."""

from __future__ import annotations

from django.contrib import messages as flash
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from converge.audit.services import audit_record
from converge.conversations.models import Priority
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices.models import Role, Team
from converge.practices.permissions import Perm, can
from converge.privacy.guard import privacy_settings
from converge.privacy.models import PhiPolicy, PrivacySettings
from converge.routing.oncall import on_call_list_parse, on_call_list_text, on_call_list_update
from converge.routing.services import DEFAULT_RULES, routing_settings, rule_update, rules_for


def privacy_update(*, settings: PrivacySettings, actor: object, **changes: object) -> PrivacySettings:
    if "standard_channel_policy" in changes and changes["standard_channel_policy"] not in PhiPolicy.values:
        raise ValueError("standard_channel_policy: warn, block or convert")
    roles = changes.get("mfa_required_roles")
    if roles is not None and (not isinstance(roles, list) or not set(roles) <= set(Role.values)):
        raise ValueError("mfa_required_roles: unknown role")
    with transaction.atomic():
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.save(update_fields=list(changes))
        audit_record(
            practice_id=settings.practice_id,
            actor=actor,
            action="privacy.settings",
            obj=settings,
            detail={k: v for k, v in changes.items() if k != "mfa_required_roles"} | {"mfa_roles": roles},
        )
    return settings


@staff_required
@require_http_methods(["GET", "POST"])
def policies(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not can(staff, Perm.MANAGE_SETTINGS):
        return HttpResponseForbidden("Only practice managers and administrators can change policies.")
    practice_id = staff.practice_id
    settings = privacy_settings(practice_id)
    rules = rules_for(practice_id)
    teams = list(Team.objects.filter(practice_id=practice_id).order_by("name"))
    if request.method == "POST":
        try:
            if request.POST.get("form") == "routing":
                routing = routing_settings(practice_id)
                on_call_text = request.POST.get("on_call_list")
                if on_call_text is not None:
                    on_call_list_parse(practice_id, on_call_text)  # a wrong entry saves nothing
                for category in DEFAULT_RULES:
                    team_id = request.POST.get(f"{category}-team", "")
                    team = next((t for t in teams if str(t.pk) == team_id), None)
                    rule_update(
                        practice_id=practice_id,
                        category=category,
                        actor=staff,
                        team=team,
                        priority=int(request.POST.get(f"{category}-priority", "1")),
                        response_minutes=int(request.POST.get(f"{category}-minutes", "240")),
                    )
                routing.urgent_ack_minutes = min(120, max(1, int(request.POST.get("urgent_ack_minutes", "5"))))
                routing.save(update_fields=["urgent_ack_minutes"])
                if on_call_text is not None:
                    on_call_list_update(settings=routing, actor=staff, text=on_call_text)
            else:
                privacy_update(
                    settings=settings,
                    actor=staff,
                    standard_channel_policy=request.POST.get(
                        "standard_channel_policy", settings.standard_channel_policy
                    ),
                    invite_to_portal_on_clinical=request.POST.get("invite_to_portal_on_clinical") == "on",
                    clinical_confidentiality=request.POST.get("clinical_confidentiality") == "on",
                    mfa_required_roles=request.POST.getlist("mfa_required_roles"),
                )
            flash.success(request, "Saved.")
        except ValueError as exc:
            flash.error(request, f"Not saved: {exc}")
        return redirect("/settings/policies/")
    routing = routing_settings(practice_id)
    return render(
        request,
        "privacy/policies.html",
        {
            "rules": [rules[c] for c in DEFAULT_RULES],
            "teams": teams,
            "priorities": Priority.choices,
            "routing": routing,
            "on_call_list": on_call_list_text(routing),
            "privacy": settings,
            "policies": PhiPolicy.choices,
            "roles": Role.choices,
        },
    )
