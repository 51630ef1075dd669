"""Patient-facing portal pages. No PHI in titles or URLs; the session is separate from staff
sessions and ends after the practice's idle time."""

from __future__ import annotations

import time
from datetime import date
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from converge.core.principal import client_ip
from converge.portal.services import PortalDenied, PortalGrant, link_lookup, portal_enter, portal_reply, portal_thread
from converge.privacy.guard import cached_privacy_settings

SESSION_KEY = "portal"
IP_ATTEMPTS_PER_HOUR = 30


def _grant(request: HttpRequest) -> PortalGrant | None:
    data = request.session.get(SESSION_KEY)
    if not data:
        return None
    idle = cached_privacy_settings(data["practice_id"]).portal_idle_minutes * 60
    if time.time() - data["seen"] > idle:
        request.session.pop(SESSION_KEY, None)
        return None
    data["seen"] = time.time()
    request.session[SESSION_KEY] = data
    return PortalGrant(data["patient_id"], data["practice_id"], data["conversation_id"])


def _throttled(ip: str) -> bool:
    key = f"portal-attempts:{ip}"
    attempts = cache.get(key, 0)
    cache.set(key, attempts + 1, 3600)
    return attempts >= IP_ATTEMPTS_PER_HOUR


@require_http_methods(["GET", "POST"])
def enter(request: HttpRequest, token: str) -> HttpResponse:
    link = link_lookup(token)
    error = ""
    if request.method == "POST":
        ip = client_ip(request)
        if _throttled(ip):
            error = "Too many attempts from this network. Please try again later."
        else:
            try:
                dob = date(
                    int(request.POST.get("year", 0)), int(request.POST.get("month", 0)), int(request.POST.get("day", 0))
                )
            except (TypeError, ValueError, OverflowError):  # out of range: a date that cannot match
                dob = None
            try:
                grant = portal_enter(token=token, date_of_birth=dob, ip=ip)
            except PortalDenied as exc:
                error = str(exc)
            else:
                request.session.cycle_key()
                request.session[SESSION_KEY] = {
                    "patient_id": grant.patient_id,
                    "practice_id": grant.practice_id,
                    "conversation_id": grant.conversation_id,
                    "seen": time.time(),
                }
                return redirect("/portal/")
    practice_name = link.patient.practice.name if link else ""
    status = 200 if link or request.method == "POST" else 404
    return render(
        request,
        "portal/enter.html",
        {"valid": link is not None, "error": error, "practice_name": practice_name},
        status=400 if error else status,
    )


def _thread_page(request: HttpRequest, grant: PortalGrant, *, error: str = "", status: int = 200) -> HttpResponse:
    """The patient's secure messages, with times on the patient's (else the practice's) clock:
    the server's own time zone is UTC, which no patient reads."""
    patient, messages = portal_thread(grant)
    with timezone.override(ZoneInfo(patient.time_zone or patient.practice.time_zone)):
        return render(
            request,
            "portal/home.html",
            {"patient": patient, "messages": messages, "practice": patient.practice, "error": error},
            status=status,
        )


def home(request: HttpRequest) -> HttpResponse:
    grant = _grant(request)
    if grant is None:
        return render(request, "portal/signed_out.html", status=401)
    return _thread_page(request, grant)


@require_POST
def reply(request: HttpRequest) -> HttpResponse:
    grant = _grant(request)
    if grant is None:
        return render(request, "portal/signed_out.html", status=401)
    try:
        portal_reply(grant, request.POST.get("body", ""))
    except PortalDenied as exc:
        return _thread_page(request, grant, error=str(exc), status=400)
    return redirect("/portal/")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return render(request, "portal/signed_out.html")
