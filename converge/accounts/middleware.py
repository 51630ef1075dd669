"""While the database has no practice, / is the first-run page (converge.accounts.firstrun).
A signed-in staff member whose role requires a second factor but who has none yet can reach
only the enrolment page. (A person who owes the code of an enrolled device is not signed in at
all until they give it: see accounts/flow.py.)"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from converge.accounts import firstrun, services

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
        if request.path == "/" and firstrun.setup_needed():
            from converge.accounts.firstrun_views import first_run

            return first_run(request)
        user = getattr(request, "user", None)
        staff = getattr(user, "staff", None) if user is not None and user.is_authenticated else None
        if (
            staff is not None
            and not request.path.startswith(ALWAYS_ALLOWED)
            and services.mfa_required(staff)
            and services.mfa_device(staff) is None
        ):
            if request.path.startswith("/api/") or request.headers.get("HX-Request"):
                return JsonResponse({"detail": "second factor required"}, status=401)
            return redirect("/account/mfa/")
        return self.get_response(request)
