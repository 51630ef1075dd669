"""A signed-in staff member who still owes a second factor (or must enrol one) can reach only
the pages that settle it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from converge.accounts import services
from converge.accounts.flow import mfa_pending

ALWAYS_ALLOWED = (
    "/login/",
    "/logout/",
    "/static/",
    "/account/mfa/",
    "/healthz",
    "/widget.js",
    "/portal/",
    "/webhooks/",
)


class MfaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        staff = getattr(user, "staff", None) if user is not None and user.is_authenticated else None
        if staff is not None and not request.path.startswith(ALWAYS_ALLOWED):
            target = ""
            if mfa_pending(request):
                target = "/login/verify"
            elif services.mfa_required(staff) and services.mfa_device(staff) is None:
                target = "/account/mfa/"
            if target:
                if request.path.startswith("/api/") or request.headers.get("HX-Request"):
                    return JsonResponse({"detail": "second factor required"}, status=401)
                return redirect(target)
        return self.get_response(request)
