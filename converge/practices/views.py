"""Settings → On-call: the rota of who is on call when (converge.practices.rota)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from converge.core import clock
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices import rota
from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can


def _refused() -> HttpResponse:
    return HttpResponseForbidden(str(rota.RotaNotAllowed()), content_type="text/plain; charset=utf-8")


def _render(
    request: HttpRequest, *, error: str = "", form: dict[str, object] | None = None, status: int = 200
) -> HttpResponse:
    actor = staff_of(request)
    tz = ZoneInfo(actor.practice.time_zone)
    shifts = rota.shifts_of(actor.practice_id)
    return render(
        request,
        "practices/oncall.html",
        {
            "shifts": [{"shift": s, "when": rota.describe(s)} for s in shifts],
            "now_on_call": rota.on_shift(actor.practice_id),
            "members": list(
                StaffMember.objects.filter(practice_id=actor.practice_id, is_active=True).order_by("display_name")
            ),
            "weekdays": list(enumerate(rota.WEEKDAY_NAMES)),
            "time_zone": actor.practice.time_zone,
            "local_now": clock.now().astimezone(tz),
            "error": error,
            "form": form or {},
        },
        status=status,
    )


@staff_required
@require_http_methods(["GET"])
def oncall_page(request: HttpRequest) -> HttpResponse:
    if not can(staff_of(request), Perm.MANAGE_SETTINGS):
        return _refused()
    return _render(request)


@staff_required
@require_POST
def oncall_add(request: HttpRequest) -> HttpResponse:
    actor = staff_of(request)
    if not can(actor, Perm.MANAGE_SETTINGS):
        return _refused()
    fields = ("staff", "start_date", "end_date", "start_time", "end_time")
    form: dict[str, object] = {k: request.POST.get(k, "")[:40].replace("\x00", "") for k in fields}
    form["weekdays"] = request.POST.getlist("weekdays")[:7]
    try:
        staff_id = int(str(form["staff"]))
    except ValueError:
        return _render(request, error="staff: choose a staff member", form=form, status=400)
    try:
        rota.shift_add(
            actor=actor,
            staff_id=staff_id,
            weekdays=[str(d) for d in request.POST.getlist("weekdays")[:7]],
            start_date=str(form["start_date"]),
            end_date=str(form["end_date"]),
            start_time=str(form["start_time"]),
            end_time=str(form["end_time"]),
        )
    except rota.RotaError as error:
        return _render(request, error=str(error), form=form, status=400)
    flash.success(request, "Shift added to the on-call rota.")
    return redirect("/settings/on-call/")


@staff_required
@require_POST
def oncall_remove(request: HttpRequest, shift_id: int) -> HttpResponse:
    try:
        removed = rota.shift_remove(actor=staff_of(request), shift_id=shift_id)
    except rota.RotaNotAllowed:
        return _refused()
    if removed:
        flash.success(request, "Shift removed from the on-call rota.")
    return redirect("/settings/on-call/")
