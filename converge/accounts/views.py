from __future__ import annotations

import io

import segno
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from converge.accounts import services
from converge.accounts.flow import MFA_PENDING
from converge.audit.services import audit_record
from converge.core.principal import client_ip


def _staff(request: HttpRequest):  # type: ignore[no-untyped-def]
    user = request.user
    return getattr(user, "staff", None) if user.is_authenticated else None


@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    if staff is None:
        return redirect("/login/")
    error = ""
    if request.method == "POST":
        blocked = services.login_blocked(email=staff.user.email, ip=client_ip(request))
        if blocked:
            error = blocked
        elif services.mfa_verify(staff=staff, code=request.POST.get("code", ""), ip=client_ip(request)):
            request.session.pop(MFA_PENDING, None)
            request.session.cycle_key()
            services.login_succeeded(staff=staff, session_key=request.session.session_key or "", ip=client_ip(request))
            audit_record(practice_id=staff.practice_id, actor=staff, action="auth.mfa_verified", ip=client_ip(request))
            return redirect("/")
        else:
            error = "That code did not match. Use the current 6-digit code from your authenticator app."
    return render(request, "accounts/mfa_verify.html", {"error": error}, status=401 if error else 200)


@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    if staff is None:
        return redirect("/login/")
    error = ""
    if request.method == "POST":
        if services.mfa_enrollment_confirm(staff=staff, code=request.POST.get("code", "")):
            return redirect("/")
        error = "That code did not match. Check the time on your phone and try the current code."
    device = services.mfa_enrollment_start(staff) if request.method == "GET" or error else None
    if device is None:
        return redirect("/account/mfa/")
    uri = services.otpauth_uri(device, issuer=f"Converge {staff.practice.name}", account=staff.user.email)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, xmldecl=False, svgns=True)
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "qr_svg": buffer.getvalue().decode(),
            "secret": uri.split("secret=")[1].split("&")[0],
            "error": error,
            "required": services.mfa_required(staff),
        },
        status=400 if error else 200,
    )
