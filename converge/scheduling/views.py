"""The staff calendar: day and week grids per provider, and booking, moving and status changes.

Every step works as a plain page: the panels (an appointment, the booking form, free times) are
GET parameters of the calendar URL, and actions are form posts that redirect back. htmx only
swaps the panel in place (the same view renders just the panel for it). Writes go through the
scheduling services; a refused action re-renders the page with the reason and a 4xx status.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from django.contrib import messages as flash
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from converge.core.principal import Principal
from converge.dashboard.views.common import int_or_none, is_htmx, principal_of, staff_of, staff_required
from converge.patients.models import Patient
from converge.scheduling import calendar_page as cal
from converge.scheduling.access import may_open
from converge.scheduling.models import Appointment, AppointmentStatus, AppointmentType
from converge.scheduling.selectors import providers_of
from converge.scheduling.services import (
    OVERRIDE_REASON_MAX,
    BookingError,
    OutsideHoursError,
    appointment_book,
    appointment_move,
    appointment_set_status,
)


def forbidden(request: HttpRequest, what: str) -> HttpResponse:
    return render(request, "scheduling/forbidden.html", {"what": what}, status=403)


M = TypeVar("M", bound=Model)


def get_or_404(model: type[M], principal: Principal, pk: int | None) -> M:
    """An object of the caller's practice, or a 404 (another practice's id looks missing)."""
    obj = model._default_manager.filter(practice_id=principal.practice_id, pk=pk).first() if pk else None
    if obj is None:
        raise Http404("not found")
    return obj


def _render(
    request: HttpRequest,
    *,
    panel: str = "",
    appointment_id: int | None = None,
    error: str = "",
    status: int = 200,
    outside_hours: bool = False,
    fields: dict[str, str] | None = None,
) -> HttpResponse:
    principal = principal_of(request)
    practice = staff_of(request).practice
    providers = providers_of(practice.pk)
    data: QueryDict = request.POST if request.method == "POST" else request.GET
    if fields:
        merged = QueryDict(mutable=True)
        for key in data:
            merged.setlist(key, data.getlist(key))
        for key, value in fields.items():
            merged[key] = value
        data = merged
    state = cal.read_state(data, practice, providers)
    appointment_id = appointment_id or int_or_none(data.get("appointment"))
    panel = panel or data.get("panel", "") or ("appointment" if appointment_id else "")
    context: dict[str, Any] = {
        "state": state,
        "providers": providers,
        "panel": panel,
        "error": error,
        "outside_hours": outside_hours,
        "override_reason_max": OVERRIDE_REASON_MAX,
        "legend": cal.LEGEND,
        "close_url": state.url(),
        "book_url": state.url(panel="book"),
    }
    if panel == "appointment":
        context.update(cal.appointment_panel(data, principal, practice, appointment_id))
    elif panel == "book":
        context.update(cal.book_panel(data, principal, practice, state))
    if is_htmx(request) and request.headers.get("HX-Target") in ("cal-panel", "book-results"):
        return render(request, "scheduling/_panel.html", context, status=status)
    built, by_id = cal.grid_for(practice, state, providers)
    today = cal.today_in(practice)
    step = timedelta(days=7 if state.view == "week" else 1)
    week = cal.week_of(state.day)
    context.update(
        grid=built,
        columns=cal.columns(built, by_id, state, providers, today),
        today=today,
        week_start=week[0],
        week_end=week[-1],
        tz_short=cal.zone_label(state.day, practice),
        prev_url=replace(state, day=state.day - step).url(),
        next_url=replace(state, day=state.day + step).url(),
        today_url=replace(state, day=today).url(),
        day_url=replace(state, view="day").url(),
        week_url=replace(state, view="week").url(),
        count=len(by_id),
    )
    return render(request, "scheduling/calendar.html", context, status=status)


@staff_required
@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    if not may_open(staff_of(request), "calendar"):
        return forbidden(request, "the calendar")
    return _render(request)


OVERRIDE_HINT = " To {verb} anyway, tick “{label}” and give a reason."


def _override(request: HttpRequest) -> dict[str, Any]:
    return {
        "override_hours": request.POST.get("override_hours") == "1",
        "override_reason": request.POST.get("override_reason", "")[:OVERRIDE_REASON_MAX],
    }


def _refusal(exc: BookingError, verb: str, label: str) -> tuple[str, int, bool]:
    """The page's error, its status and whether to offer the working-hours override."""
    text = cal.problem_text(exc)
    if isinstance(exc, OutsideHoursError):
        return text + OVERRIDE_HINT.format(verb=verb, label=label), 409, True
    if str(exc).startswith("override_reason:"):
        return text, 400, True
    return text, 409 if "available" in str(exc) else 400, False


def _redirect_to(request: HttpRequest, day: date, appointment_id: int) -> HttpResponse:
    practice = staff_of(request).practice
    state = cal.read_state(request.POST, practice, providers_of(practice.pk))
    return redirect(replace(state, day=day).url(appointment=appointment_id))


@staff_required
@require_POST
def calendar_book(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "calendar"):
        return forbidden(request, "booking")
    principal = principal_of(request)
    zone = ZoneInfo(staff.practice.time_zone)
    chosen = None
    from_slot = False
    try:
        patient_id = int_or_none(request.POST.get("patient"))
        if patient_id is None:
            raise BookingError("choose a patient first")
        patient = get_or_404(Patient, principal, patient_id)
        kind = get_or_404(AppointmentType, principal, int_or_none(request.POST.get("type")))
        chosen = cal.parse_other_time(
            request.POST, principal, staff.practice, provider_field="book_provider", day_field="book_date"
        )
        from_slot = chosen is None
        provider, start = chosen or cal.parse_slot(request.POST.get("slot", ""), principal)
        chosen = (provider, start)
        appointment = appointment_book(
            patient=patient,
            provider=provider,
            start=start,
            appointment_type=kind,
            actor=staff,
            source="staff",
            **_override(request),
        )
    except BookingError as exc:
        error, status, outside = _refusal(exc, "book", "Book outside working hours")
        fields = None
        if outside and chosen is not None and from_slot:
            fields = cal.other_time_fields(chosen[1], chosen[0], staff.practice, prefix="book")
        return _render(request, panel="book", error=error, status=status, outside_hours=outside, fields=fields)
    flash.success(request, f"Booked for {cal.when_text(appointment.start, zone)}.")
    return _redirect_to(request, appointment.start.astimezone(zone).date(), appointment.pk)


@staff_required
@require_POST
def calendar_move(request: HttpRequest, appointment_id: int) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "calendar"):
        return forbidden(request, "moving appointments")
    principal = principal_of(request)
    appointment = get_or_404(Appointment, principal, appointment_id)
    zone = ZoneInfo(staff.practice.time_zone)
    chosen = None
    from_slot = False
    try:
        chosen = cal.parse_other_time(
            request.POST, principal, staff.practice, provider_field="move_provider", day_field="move_date"
        )
        from_slot = chosen is None
        provider, start = chosen or cal.parse_slot(request.POST.get("slot", ""), principal)
        chosen = (provider, start)
        appointment_move(
            appointment=appointment,
            start=start,
            provider=provider if provider.pk != appointment.provider_id else None,
            actor=staff,
            **_override(request),
        )
    except BookingError as exc:
        error, status, outside = _refusal(exc, "move it", "Move outside working hours")
        fields = None
        if outside and chosen is not None and from_slot:
            fields = cal.other_time_fields(chosen[1], chosen[0], staff.practice, prefix="move")
        return _render(
            request,
            panel="appointment",
            appointment_id=appointment_id,
            error=error,
            status=status,
            outside_hours=outside,
            fields=fields,
        )
    flash.success(request, f"Moved to {cal.when_text(start, zone)}.")
    return _redirect_to(request, start.astimezone(zone).date(), appointment_id)


STATUS_NOTES = {
    AppointmentStatus.CONFIRMED: "Appointment confirmed.",
    AppointmentStatus.CHECKED_IN: "Checked in.",
    AppointmentStatus.COMPLETED: "Marked completed.",
    AppointmentStatus.NO_SHOW: "Marked as a no-show; a follow-up was added to the queue.",
    AppointmentStatus.CANCELLED: "Appointment cancelled.",
}


@staff_required
@require_POST
def calendar_status(request: HttpRequest, appointment_id: int) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "calendar"):
        return forbidden(request, "changing appointments")
    principal = principal_of(request)
    appointment = get_or_404(Appointment, principal, appointment_id)
    status = request.POST.get("status", "")
    try:
        if status not in STATUS_NOTES:
            raise BookingError("that is not a change staff can make here")
        appointment_set_status(
            appointment=appointment, status=status, actor=staff, reason=request.POST.get("reason", "")[:100]
        )
    except BookingError as exc:
        return _render(
            request, panel="appointment", appointment_id=appointment_id, error=cal.problem_text(exc), status=400
        )
    flash.success(request, STATUS_NOTES[AppointmentStatus(status)])
    zone = ZoneInfo(staff.practice.time_zone)
    return _redirect_to(request, appointment.start.astimezone(zone).date(), appointment_id)
