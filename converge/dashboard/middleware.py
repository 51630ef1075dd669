"""Idle auto-logoff: a staff session unused for the practice's idle timeout is ended."""

from __future__ import annotations

import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone

from converge.dashboard.idle import LAST_ACTIVITY_KEY, session_is_idle

# Background requests that must not count as the person being active.
PASSIVE_HEADER = "X-Converge-Passive"


class IdleLogoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        staff = getattr(user, "staff", None) if user is not None and user.is_authenticated else None
        if staff is not None:
            if session_is_idle(request.session, staff.practice.idle_timeout_minutes):
                logout(request)
                if request.path.startswith("/api/") or request.headers.get("HX-Request"):
                    return JsonResponse({"detail": "signed out after inactivity"}, status=401)
                return redirect("/login/?idle=1")
            if not request.headers.get(PASSIVE_HEADER):
                request.session[LAST_ACTIVITY_KEY] = time.time()
            # Staff read times in the practice's zone; storage stays UTC.
            timezone.activate(ZoneInfo(staff.practice.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
