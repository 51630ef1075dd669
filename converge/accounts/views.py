"""The second step of sign-in, enrolling an authenticator app, and the staff page."""

from __future__ import annotations

import io
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from converge.accounts import flow, invites, services
from converge.accounts.models import StaffInvitation
from converge.audit.services import audit_record
from converge.core.principal import client_ip
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices.models import Role, StaffMember, Team
from converge.practices.permissions import Perm, can
from converge.privacy.guard import cached_privacy_settings

WRONG_CODE = "That code did not match. Use the current 6-digit code from your authenticator app, or a recovery code."


@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    staff = flow.pending_staff(request)
    if staff is None:
        signed_in = request.user.is_authenticated and getattr(request.user, "staff", None) is not None
        return redirect("/" if signed_in else "/login/")
    error = ""
    if request.method == "POST":
        ip = client_ip(request)
        blocked = services.login_blocked(email=staff.user.email, ip=ip)
        if blocked:
            error = blocked
        elif services.mfa_verify(staff=staff, code=request.POST.get("code", "")[:64], ip=ip):
            target = flow.complete_second_factor(request, staff)
            audit_record(practice_id=staff.practice_id, actor=staff, action="auth.mfa_verified", ip=ip)
            return redirect(target)
        else:
            error = WRONG_CODE
    return render(request, "accounts/mfa_verify.html", {"error": error}, status=401 if error else 200)


@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """GET shows the state; POST action=start checks the password (and the current code when a
    device exists) and shows a new secret; POST action=confirm turns it on with a code from it
    and shows the recovery codes once."""
    user = request.user
    staff = getattr(user, "staff", None) if user.is_authenticated else None
    if staff is None:
        return redirect("/login/verify" if flow.mfa_pending(request) else "/login/")
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "start":
        return _enrol_start(request, staff)
    if action == "confirm":
        return _enrol_confirm(request, staff)
    return _status_page(request, staff)


def _status_page(request: HttpRequest, staff: StaffMember, *, error: str = "", status: int = 200) -> HttpResponse:
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "has_device": services.mfa_device(staff) is not None,
            "recovery_left": services.recovery_codes_left(staff),
            "required": services.mfa_required(staff),
            "error": error,
        },
        status=status,
    )


def _enrol_start(request: HttpRequest, staff: StaffMember) -> HttpResponse:
    ip = client_ip(request)
    blocked = services.login_blocked(email=staff.user.email, ip=ip)
    if blocked:
        return _status_page(request, staff, error=blocked, status=400)
    if not staff.user.check_password(request.POST.get("password", "")):
        services.login_failed(email=staff.user.email, ip=ip, practice_id=staff.practice_id)
        return _status_page(request, staff, error="That password is not right.", status=400)
    current = services.mfa_device(staff)
    if current is not None and not services.mfa_verify(
        staff=staff, code=request.POST.get("current_code", "")[:64], ip=ip
    ):
        return _status_page(request, staff, error="Enter the current code from the app you use now.", status=400)
    flow.reauthenticated(request)
    return _qr_page(request, staff, services.mfa_enrollment_start(staff))


def _enrol_confirm(request: HttpRequest, staff: StaffMember) -> HttpResponse:
    device = services.mfa_enrollment_pending(staff)
    if device is None or not flow.recently_reauthenticated(request):
        return _status_page(request, staff, error="That took too long. Start again with your password.", status=400)
    if not services.mfa_enrollment_confirm(staff=staff, code=request.POST.get("code", "")[:64]):
        error = "That code did not match. Check the time on your phone and try the current code."
        return _qr_page(request, staff, device, error=error)
    request.session.pop(flow.MFA_REAUTH, None)
    codes = services.recovery_codes_issue(staff)
    return render(request, "accounts/mfa_recovery.html", {"codes": codes})


def _qr_page(request: HttpRequest, staff: StaffMember, device: object, *, error: str = "") -> HttpResponse:
    uri = services.otpauth_uri(device, issuer=f"Converge {staff.practice.name}", account=staff.user.email)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, xmldecl=False, svgns=True)
    return render(
        request,
        "accounts/mfa_scan.html",
        {"qr_svg": buffer.getvalue().decode(), "secret": uri.split("secret=")[1].split("&")[0], "error": error},
        status=400 if error else 200,
    )


# --- the staff page ---------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET"])
def staff_page(request: HttpRequest) -> HttpResponse:
    actor = staff_of(request)
    if not can(actor, Perm.MANAGE_STAFF):
        return HttpResponseForbidden(str(services.StaffChangeNotAllowed()), content_type="text/plain; charset=utf-8")
    audit_record(practice_id=actor.practice_id, actor=actor, action="staff_list.read", ip=client_ip(request))
    return _render_staff_page(request, actor)


def _render_staff_page(
    request: HttpRequest,
    actor: StaffMember,
    *,
    invite_error: str = "",
    seats_error: str = "",
    invite_link: str = "",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    members = list(
        StaffMember.objects.filter(practice_id=actor.practice_id)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("display_name")
    )
    with_device = services.users_with_mfa([m.user_id for m in members])
    rows = [
        {
            "member": m,
            "mfa": m.user_id in with_device,
            "may_change": services.may_manage_staff(actor, m),
            "team_ids": {t.pk for t in m.teams.all()},
        }
        for m in members
    ]
    roles = [(value, label) for value, label in Role.choices if invites.may_grant(actor, value)]
    pending = list(invites.pending(actor.practice_id).prefetch_related("teams").order_by("created_at"))
    return render(
        request,
        "accounts/staff.html",
        {
            "rows": rows,
            "actor": actor,
            "seats": invites.seats(actor.practice),
            "roles": roles,
            "all_roles": Role.choices,
            "teams": list(Team.objects.filter(practice_id=actor.practice_id).order_by("name")),
            "pending": [
                {"invitation": i, "may_revoke": invites.may_grant(actor, i.role), "role_label": Role(i.role).label}
                for i in pending
                if i.role in Role.values
            ],
            "invite_error": invite_error,
            "seats_error": seats_error,
            "seats_max": invites.SEATS_MAX,
            "invite_link": invite_link,
            "form": form or {},
        },
        status=status,
    )


@staff_required
@require_POST
def staff_invite(request: HttpRequest) -> HttpResponse:
    """Invites a person: emailed through the practice's mailbox channel when there is one, else
    the link is shown once on the page, to copy."""
    actor = staff_of(request)
    if not can(actor, Perm.MANAGE_STAFF):
        return HttpResponseForbidden(str(services.StaffChangeNotAllowed()), content_type="text/plain; charset=utf-8")
    form = {
        "display_name": request.POST.get("display_name", "")[:400],
        "email": request.POST.get("email", "")[:400],
        "role": request.POST.get("role", "")[:40],
        "teams": request.POST.getlist("teams")[:50],
    }
    try:
        invitation, token = invites.invitation_create(
            actor=actor,
            email=request.POST.get("email", ""),
            display_name=request.POST.get("display_name", ""),
            role=request.POST.get("role", ""),
            team_ids=request.POST.getlist("teams")[:50],
        )
    except services.StaffChangeNotAllowed as refused:
        return HttpResponseForbidden(str(refused), content_type="text/plain; charset=utf-8")
    except invites.InviteError as error:
        safe = {k: (v.replace("\x00", "") if isinstance(v, str) else v) for k, v in form.items()}
        return _render_staff_page(request, actor, invite_error=str(error), form=safe, status=400)
    if invites.invitation_send(invitation, token):
        flash.success(
            request,
            f"Invitation to {invitation.email} is on its way by email (see Pending invitations). "
            "The link works once, for the next 72 hours.",
        )
        return redirect("/settings/staff/")
    return _render_staff_page(request, actor, invite_link=invites.invite_link(token))


@staff_required
@require_POST
def staff_seats(request: HttpRequest) -> HttpResponse:
    actor = staff_of(request)
    raw = request.POST.get("staff_seats", "").strip()[:12]
    try:
        limit = int(raw)
    except ValueError:
        return _render_staff_page(request, actor, seats_error="Seats: enter a whole number.", status=400)
    try:
        invites.seat_limit_set(actor=actor, limit=limit)
    except services.StaffChangeNotAllowed as refused:
        return HttpResponseForbidden(str(refused), content_type="text/plain; charset=utf-8")
    except invites.InviteError as error:
        return _render_staff_page(request, actor, seats_error=str(error), status=400)
    flash.success(request, f"The practice now has {limit} staff seats.")
    return redirect("/settings/staff/")


@staff_required
@require_POST
def staff_invite_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    actor = staff_of(request)
    invitation = get_object_or_404(StaffInvitation, pk=invitation_id, practice_id=actor.practice_id)
    try:
        invites.invitation_revoke(invitation=invitation, actor=actor)
    except services.StaffChangeNotAllowed as refused:
        return HttpResponseForbidden(str(refused), content_type="text/plain; charset=utf-8")
    flash.success(request, f"The invitation for {invitation.display_name} was withdrawn.")
    return redirect("/settings/staff/")


def _member(request: HttpRequest, staff_id: int) -> StaffMember:
    members = StaffMember.objects.select_related("user")
    return get_object_or_404(members, pk=staff_id, practice_id=staff_of(request).practice_id)


@staff_required
@require_POST
def staff_mfa_reset(request: HttpRequest, staff_id: int) -> HttpResponse:
    member = _member(request, staff_id)
    try:
        services.mfa_reset(staff=member, actor=staff_of(request))
    except services.StaffChangeNotAllowed as refused:
        return HttpResponseForbidden(str(refused), content_type="text/plain; charset=utf-8")
    flash.success(request, f"{member.display_name}'s second factor was reset; their open sessions were ended.")
    return redirect("/settings/staff/")


@staff_required
@require_POST
def staff_active(request: HttpRequest, staff_id: int) -> HttpResponse:
    member = _member(request, staff_id)
    actor = staff_of(request)
    if not services.may_manage_staff(actor, member):
        return HttpResponseForbidden(str(services.StaffChangeNotAllowed()), content_type="text/plain; charset=utf-8")
    active = request.POST.get("active") == "1"
    try:
        invites.staff_set_enabled(staff=member, actor=actor, active=active)
    except invites.InviteError as error:
        return _render_staff_page(request, actor, invite_error=str(error), status=400)
    outcome = "enabled" if active else "disabled and signed out everywhere"
    flash.success(request, f"{member.display_name} was {outcome}.")
    return redirect("/settings/staff/")


@staff_required
@require_POST
def staff_change(request: HttpRequest, staff_id: int) -> HttpResponse:
    member = _member(request, staff_id)
    actor = staff_of(request)
    try:
        changed = invites.staff_change(
            staff=member,
            actor=actor,
            role=request.POST.get("role", "")[:40],
            team_ids=request.POST.getlist("teams")[:50],
        )
    except services.StaffChangeNotAllowed as refused:
        return HttpResponseForbidden(str(refused), content_type="text/plain; charset=utf-8")
    except invites.InviteError as error:
        return _render_staff_page(request, actor, invite_error=str(error), status=400)
    if changed:
        flash.success(request, f"{member.display_name}'s {' and '.join(changed)} were changed.")
    return redirect("/settings/staff/")


# --- accepting an invitation (public) ---------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invites.invitation_for(token)
    except invites.InvitationUnusable as unusable:
        return render(request, "accounts/invite_gone.html", {"message": str(unusable)}, status=unusable.status)
    errors: list[str] = []
    if request.method == "POST":
        try:
            staff = invites.invitation_accept(
                token=token,
                password=request.POST.get("password", ""),
                password_again=request.POST.get("password_again", ""),
                ip=client_ip(request),
            )
        except invites.InvitationUnusable as unusable:
            return render(request, "accounts/invite_gone.html", {"message": str(unusable)}, status=unusable.status)
        except ValidationError as invalid:
            errors = list(invalid.messages)
        else:
            login(request, staff.user, backend=settings.AUTHENTICATION_BACKENDS[0])  # a new session key
            services.login_succeeded(staff=staff, session_key=request.session.session_key or "", ip=client_ip(request))
            if services.mfa_required(staff):
                flash.info(request, "Welcome. Your role needs two-step sign-in: set up an authenticator app now.")
                return redirect("/account/mfa/")
            flash.success(request, f"Welcome to {staff.practice.name}, {staff.display_name}.")
            return redirect("/")
    return render(
        request,
        "accounts/invite.html",
        {
            "invitation": invitation,
            "role_label": Role(invitation.role).label if invitation.role in Role.values else invitation.role,
            "errors": errors,
            "mfa_required": invitation.role
            in (cached_privacy_settings(invitation.practice_id).mfa_required_roles or []),
        },
        status=400 if errors else 200,
    )
