"""Sign in, sign out, and the page's activity heartbeat."""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from converge.accounts.flow import mfa_pending, sign_in
from converge.audit.services import audit_record
from converge.core.principal import client_ip
from converge.dashboard.views.common import staff_required
from converge.practices.models import Practice


def login_view(request: HttpRequest) -> HttpResponse:
    practices = list(Practice.objects.order_by("id")[:2])
    practice_name = practices[0].name if len(practices) == 1 else "Converge"
    error = ""
    if request.method == "POST":
        target = request.GET.get("next", "/")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = "/"
        staff, error = sign_in(
            request, email=request.POST.get("email", ""), password=request.POST.get("password", ""), next_url=target
        )
        if staff is not None:
            return redirect("/login/verify" if mfa_pending(request) else target)
    return render(
        request,
        "dashboard/login.html",
        {"practice_name": practice_name, "error": error, "idle": request.GET.get("idle") == "1"},
        status=401 if error else 200,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    staff = getattr(request.user, "staff", None) if request.user.is_authenticated else None
    idle = request.GET.get("idle") == "1"
    if staff is not None:
        audit_record(
            practice_id=staff.practice_id,
            actor=staff,
            action="auth.idle_logout" if idle else "auth.logout",
            ip=client_ip(request),
        )
    logout(request)
    return redirect("/login/?idle=1" if idle else "/login/")


@staff_required
@require_POST
def session_ping(request: HttpRequest) -> HttpResponse:
    """The page calls this while the person types or clicks without loading anything, so the
    server-side idle timer sees the same activity as the page's own timer. The middleware has
    already recorded the activity; nothing else to do."""
    return HttpResponse(status=204)
