"""The second step of sign-in, enrolling an authenticator app, and the staff page."""

from __future__ import annotations

import io

import segno
from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from converge.accounts import flow, services
from converge.audit.services import audit_record
from converge.core.principal import client_ip
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can

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
    members = list(
        StaffMember.objects.filter(practice_id=actor.practice_id).select_related("user").order_by("display_name")
    )
    with_device = services.users_with_mfa([m.user_id for m in members])
    rows = [
        {"member": m, "mfa": m.user_id in with_device, "may_change": services.may_manage_staff(actor, m)}
        for m in members
    ]
    audit_record(practice_id=actor.practice_id, actor=actor, action="staff_list.read", ip=client_ip(request))
    return render(request, "accounts/staff.html", {"rows": rows})


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
    services.staff_set_active(staff=member, active=active, actor=actor)
    outcome = "enabled" if active else "disabled and signed out everywhere"
    flash.success(request, f"{member.display_name} was {outcome}.")
    return redirect("/settings/staff/")
