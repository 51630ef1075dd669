"""The first-run page at / on an empty database, the one-time setup link, and the welcome
walk-through (hours, teams, a first channel, inviting staff) after it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from converge.accounts import firstrun, services
from converge.core.principal import client_ip
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices.models import Team
from converge.practices.permissions import Perm, can
from converge.practices.rota import WEEKDAY_NAMES
from converge.practices.services import SetupError, business_hours_set, team_create

FORM_FIELDS = ("practice_name", "time_zone", "admin_name", "email")


@csrf_protect  # (served from the middleware, before CsrfViewMiddleware's view check)
def first_run(request: HttpRequest) -> HttpResponse:
    """Served at / by the accounts middleware while the database has no practice."""
    if not firstrun.allowed(request):
        return render(request, "accounts/first_run_locked.html", status=403)
    form = {k: request.POST.get(k, "")[:300].replace("\x00", "") for k in FORM_FIELDS}
    error = ""
    if request.method == "POST":
        try:
            admin = firstrun.practice_and_admin_create(
                practice_name=form["practice_name"],
                time_zone=form["time_zone"],
                admin_name=form["admin_name"],
                email=form["email"],
                password=request.POST.get("password", ""),
                password_again=request.POST.get("password_again", ""),
            )
        except firstrun.FirstRunError as refused:
            error = str(refused)
        else:
            login(request, admin.user, backend=settings.AUTHENTICATION_BACKENDS[0])
            services.login_succeeded(staff=admin, session_key=request.session.session_key or "", ip=client_ip(request))
            return redirect("/welcome/")
    elif request.method != "GET":
        return HttpResponse(status=405)
    form.setdefault("time_zone", "")
    return render(
        request,
        "accounts/first_run.html",
        {"form": form, "error": error, "time_zones": firstrun.time_zones()},
        status=400 if error else 200,
    )


@require_http_methods(["GET"])
def setup_link(request: HttpRequest, token: str) -> HttpResponse:
    if not firstrun.setup_needed() or not firstrun.token_matches(token):
        raise Http404("no such page")
    request.session.cycle_key()
    request.session[firstrun.SESSION_KEY] = True
    return redirect("/")


def _welcome(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    actor = staff_of(request)
    practice = actor.practice
    hours = practice.business_hours or {}
    days = []
    for number, name in enumerate(WEEKDAY_NAMES):
        pairs = hours.get(str(number)) or []
        opens, closes = (pairs[0][0], pairs[0][1]) if pairs else ("", "")
        days.append({"number": number, "name": name, "open": bool(pairs), "opens": opens, "closes": closes})
    return render(
        request,
        "accounts/welcome.html",
        {
            "practice": practice,
            "days": days,
            "teams": list(Team.objects.filter(practice_id=practice.pk).order_by("name")),
            "error": error,
        },
        status=status,
    )


def _managers_only(request: HttpRequest) -> HttpResponse | None:
    if not can(staff_of(request), Perm.MANAGE_SETTINGS):
        return HttpResponseForbidden(
            "Only practice managers and administrators set up the practice.", content_type="text/plain; charset=utf-8"
        )
    return None


@staff_required
@require_http_methods(["GET"])
def welcome(request: HttpRequest) -> HttpResponse:
    return _managers_only(request) or _welcome(request)


@staff_required
@require_POST
def welcome_hours(request: HttpRequest) -> HttpResponse:
    if refused := _managers_only(request):
        return refused
    actor = staff_of(request)
    hours: dict[int, tuple[str, str] | None] = {}
    for day in range(7):
        if request.POST.get(f"open_{day}") == "on":
            hours[day] = (request.POST.get(f"opens_{day}", "")[:8], request.POST.get(f"closes_{day}", "")[:8])
        else:
            hours[day] = None
    try:
        business_hours_set(practice=actor.practice, actor=actor, hours=hours)
    except SetupError as error:
        return _welcome(request, error=str(error), status=400)
    flash.success(request, "Opening hours saved.")
    return redirect("/welcome/#teams")


@staff_required
@require_POST
def welcome_team(request: HttpRequest) -> HttpResponse:
    if refused := _managers_only(request):
        return refused
    actor = staff_of(request)
    try:
        team = team_create(
            practice=actor.practice,
            actor=actor,
            name=request.POST.get("name", "")[:200].replace("\x00", ""),
            clinical=request.POST.get("clinical") == "on",
        )
    except SetupError as error:
        return _welcome(request, error=str(error), status=400)
    flash.success(request, f"Team {team.name} added.")
    return redirect("/welcome/#teams")
