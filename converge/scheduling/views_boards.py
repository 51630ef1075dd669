"""The waitlist and follow-up queue, the manager's figures, and recall messaging: pages that
read through selectors and write through services, like the calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from converge.conversations.figures import inbox_figures
from converge.conversations.services import ServiceError
from converge.dashboard.views.common import int_or_none, principal_of, staff_of, staff_required
from converge.patients.selectors import patient_list
from converge.reminders.figures import weekly_figures
from converge.reminders.recall import (
    MAX_PATIENTS,
    recall_candidates_due,
    recall_candidates_no_visit,
    recall_interval,
    recall_send,
    recently_recalled,
)
from converge.reminders.waitlist import (
    WaitlistError,
    slot_offers_open,
    waitlist_active,
    waitlist_add,
    waitlist_remove,
)
from converge.scheduling import charts
from converge.scheduling.access import may_open
from converge.scheduling.followups import follow_up_done, follow_ups_open
from converge.scheduling.models import FollowUpItem, WaitlistEntry
from converge.scheduling.selectors import (
    appointment_type_of,
    appointment_types_of,
    bookable_patient,
    provider_of,
    providers_of,
)
from converge.scheduling.views import forbidden, get_or_404

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FOLLOW_UP_KINDS = {"no_show": "Missed appointment", "recall": "Recall", "post_visit": "After a visit"}
DEFAULT_RECALL_TEXT = (
    "Hello {first_name}, it's time to book your next visit with {practice}. "
    "Reply to this message or call us and we'll find a time that suits you."
)


# Waitlist and follow-ups -------------------------------------------------------------------


def _time(value: str | None) -> time | None:
    try:
        return time.fromisoformat(value) if value else None
    except ValueError:
        raise ValueError("times: use the time picker (HH:MM)") from None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise ValueError("earliest date: use the date picker (YYYY-MM-DD)") from None


def _add_to_waitlist(request: HttpRequest) -> str:
    """Add from the form; returns a problem to show, or "" when added."""
    principal = principal_of(request)
    data = request.POST
    patient = bookable_patient(principal.practice_id, int_or_none(data.get("patient")))
    if patient is None:
        return "Choose a patient first."
    provider = provider_of(principal.practice_id, int_or_none(data.get("provider")))
    kind = appointment_type_of(principal.practice_id, int_or_none(data.get("type")))
    try:
        earliest, latest = _time(data.get("earliest_time")), _time(data.get("latest_time"))
        if earliest and latest and latest <= earliest:
            raise ValueError("times: the latest time must be after the earliest")
        waitlist_add(
            patient=patient,
            actor=principal.actor,
            provider=provider,
            appointment_type=kind,
            weekdays=sorted({d for d in (int_or_none(v) for v in data.getlist("weekday")) if d is not None}),
            earliest_time=earliest,
            latest_time=latest,
            earliest_date=_day(data.get("earliest_date")),
        )
    except ValueError as exc:
        text = str(exc)
        return text[:1].upper() + text[1:] + "."
    flash.success(request, f"{patient.display_name} is on the waitlist.")
    return ""


def _patient_picker(data: QueryDict, request: HttpRequest) -> dict[str, Any]:
    principal = principal_of(request)
    query = data.get("q", "").strip()[:100]
    patient = bookable_patient(principal.practice_id, int_or_none(data.get("patient")))
    results = patient_list(principal=principal, query=query, limit=8) if query and patient is None else None
    return {"query": query, "patient": patient, "results": results}


def _prefs(entry: WaitlistEntry) -> list[str]:
    wants = []
    wants.append(entry.provider.display_name if entry.provider else "Any provider")
    wants.append(entry.appointment_type.name if entry.appointment_type else "Any visit type")
    wants.append(", ".join(WEEKDAYS[d] for d in entry.weekdays) if entry.weekdays else "Any day")
    if entry.earliest_time or entry.latest_time:
        start = entry.earliest_time.strftime("%H:%M") if entry.earliest_time else "…"
        end = entry.latest_time.strftime("%H:%M") if entry.latest_time else "…"
        wants.append(f"{start}–{end}")
    if entry.earliest_date:
        wants.append(f"from {entry.earliest_date:%d %b %Y}")
    return wants


@staff_required
@require_http_methods(["GET", "POST"])
def waitlist_page(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "waitlist"):
        return forbidden(request, "the waitlist")
    error = ""
    if request.method == "POST":
        error = _add_to_waitlist(request)
        if not error:
            return redirect("/waitlist/")
    data = request.POST if request.method == "POST" else request.GET
    entries = waitlist_active(practice_id=staff.practice_id)
    context: dict[str, Any] = {
        "entries": [(e, _prefs(e)) for e in entries],
        "offers": slot_offers_open(practice_id=staff.practice_id),
        "follow_ups": [
            (i, FOLLOW_UP_KINDS.get(i.kind, i.kind)) for i in follow_ups_open(practice_id=staff.practice_id)
        ],
        "providers": providers_of(staff.practice_id),
        "types": appointment_types_of(staff.practice_id),
        "weekdays": list(enumerate(WEEKDAYS)),
        "form": data if error else QueryDict(),
        "chosen_weekdays": [int(d) for d in data.getlist("weekday") if d.isdigit()] if error else [],
        "error": error,
        **_patient_picker(data, request),
    }
    return render(request, "scheduling/waitlist.html", context, status=400 if error else 200)


@staff_required
@require_POST
def waitlist_remove_view(request: HttpRequest, entry_id: int) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "waitlist"):
        return forbidden(request, "the waitlist")
    entry = get_or_404(WaitlistEntry, principal_of(request), entry_id)
    try:
        waitlist_remove(entry=entry, actor=staff)
        flash.success(request, "Removed from the waitlist.")
    except WaitlistError as exc:
        flash.error(request, str(exc).capitalize() + ".")
    return redirect("/waitlist/")


@staff_required
@require_POST
def follow_up_done_view(request: HttpRequest, item_id: int) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "waitlist"):
        return forbidden(request, "the follow-up queue")
    follow_up_done(item=get_or_404(FollowUpItem, principal_of(request), item_id), actor=staff)
    flash.success(request, "Follow-up done.")
    return redirect("/waitlist/#follow-ups")


# Figures -----------------------------------------------------------------------------------


@dataclass
class Metric:
    label: str
    cells: list[str]
    note: str = ""


def _rate(value: float | None) -> str:
    return "–" if value is None else charts.percent(value)


@staff_required
def figures_page(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "figures"):
        return forbidden(request, "the practice figures")
    weeks = int_or_none(request.GET.get("weeks")) or 8
    weeks = weeks if weeks in (4, 8, 12, 26) else 8
    appointments = weekly_figures(practice=staff.practice, weeks=weeks)
    inbox = inbox_figures(practice=staff.practice, weeks=weeks)
    labels = [f"{w.week.day} {w.week:%b}" for w in appointments]
    teams = sorted({(t.team_id or 0, t.team) for w in inbox for t in w.open_by_team}, key=lambda t: t[1])
    team_rows = []
    for team_id, name in teams:
        cells = []
        for w in inbox:
            n = next((t.open for t in w.open_by_team if (t.team_id or 0) == team_id), 0)
            cells.append(str(n))
        team_rows.append(Metric(name, cells))
    median = [w.median_first_response_seconds for w in inbox]
    context = {
        "weeks": weeks,
        "week_choices": (4, 8, 12, 26),
        "labels": labels,
        "mondays": [w.week for w in appointments],
        "appointment_rows": [
            Metric("Reminders planned", [str(w.reminders_planned) for w in appointments]),
            Metric(
                "Reminders queued",
                [str(w.reminders_queued) for w in appointments],
                "handed to the outbox to send",
            ),
            Metric(
                "Reminders delivered",
                [str(w.reminders_delivered) for w in appointments],
                "the channel confirmed delivery or reading",
            ),
            Metric("Appointments", [str(w.appointments) for w in appointments]),
            Metric("Confirmed", [str(w.confirmed) for w in appointments]),
            Metric("Confirmation rate", [_rate(w.confirmation_rate) for w in appointments]),
            Metric("No-shows", [str(w.no_shows) for w in appointments]),
            Metric("No-show rate", [_rate(w.no_show_rate) for w in appointments], "of visits seen or missed"),
            Metric("Waitlist refills", [str(w.waitlist_refills) for w in appointments]),
        ],
        "inbox_rows": [
            Metric("New conversations", [str(w.first_contacts) for w in inbox], "first patient message that week"),
            Metric("Answered by staff", [str(w.answered) for w in inbox]),
            Metric(
                "Median first response",
                ["–" if m is None else charts.duration(m) for m in median],
                "first staff reply after the first patient message",
            ),
            Metric("Open at week end", [str(w.open_total) for w in inbox], "all teams"),
        ],
        "team_rows": team_rows,
        "charts": [
            (
                "Reminders queued",
                "chart-queued",
                charts.bar_chart([w.reminders_queued for w in appointments], labels),
            ),
            (
                "Confirmation rate",
                "chart-rate",
                charts.bar_chart([w.confirmation_rate for w in appointments], labels, text=charts.percent, maximum=1),
            ),
            (
                "No-show rate",
                "chart-noshow",
                charts.bar_chart([w.no_show_rate for w in appointments], labels, text=charts.percent, maximum=1),
            ),
            (
                "Median first response",
                "chart-response",
                charts.bar_chart([None if m is None else float(m) for m in median], labels, text=charts.duration),
            ),
            ("Open conversations at week end", "chart-open", charts.bar_chart([w.open_total for w in inbox], labels)),
            ("Waitlist refills", "chart-refills", charts.bar_chart([w.waitlist_refills for w in appointments], labels)),
        ],
    }
    return render(request, "scheduling/figures.html", context)


# Recall ------------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def recall_page(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not may_open(staff, "recall"):
        return forbidden(request, "recall messaging")
    data = request.POST if request.method == "POST" else request.GET
    mode = "due" if data.get("mode") == "due" else "no_visit"
    months = int_or_none(data.get("months")) or 12
    months = min(max(months, 1), 120)
    exclude_booked = data.get("exclude_booked", "1") == "1"
    body = data.get("body", DEFAULT_RECALL_TEXT)[:1000]
    error = ""
    if request.method == "POST":
        ids = [pk for pk in (int_or_none(v) for v in request.POST.getlist("patient")) if pk is not None]
        try:
            if not ids:
                raise ServiceError("choose at least one patient")
            result = recall_send(practice=staff.practice, patient_ids=ids, body=body, actor=staff)
        except ServiceError as exc:
            error = str(exc)[:1].upper() + str(exc)[1:] + "."
        else:
            # Counts only (no names) survive the redirect, to show what happened.
            request.session["recall_result"] = {
                "queued": result.queued,
                "opted_out": result.opted_out,
                "unreachable": result.unreachable,
                "failed": result.failed,
                "not_found": result.not_found,
                "first_at": result.first_at.isoformat() if result.first_at else "",
                "last_at": result.last_at.isoformat() if result.last_at else "",
            }
            flash.success(request, f"Recall queued for {result.queued} patient{'s' if result.queued != 1 else ''}.")
            query = f"mode={mode}&months={months}&exclude_booked={'1' if exclude_booked else '0'}"
            return redirect(f"/recall/?{query}")
    if mode == "due":
        candidates = recall_candidates_due(practice=staff.practice, limit=MAX_PATIENTS)
    else:
        candidates = recall_candidates_no_visit(
            practice=staff.practice, months=months, exclude_booked=exclude_booked, limit=MAX_PATIENTS
        )
    recalled = recently_recalled(practice=staff.practice, patient_ids=[c.patient.pk for c in candidates])
    if error:
        chosen = {int(v) for v in request.POST.getlist("patient") if v.isdigit()}
    else:  # recalled lately (just now, say): listed but not ticked, so Send does not repeat it
        chosen = {c.patient.pk for c in candidates} - set(recalled)
    last: dict[str, Any] | None = request.session.pop("recall_result", None) if request.method == "GET" else None
    if last:
        for key in ("first_at", "last_at"):
            last[key] = datetime.fromisoformat(last[key]) if last.get(key) else None
    context = {
        "mode": mode,
        "months": months,
        "month_choices": sorted({3, 6, 12, 18, 24, 36, months}),
        "exclude_booked": exclude_booked,
        "candidates": candidates,
        "chosen": chosen,
        "rows": [(c, recalled.get(c.patient.pk)) for c in candidates],
        "body": body,
        "error": error,
        "result": last,
        "interval": int(recall_interval().total_seconds()),
        "limit": MAX_PATIENTS,
    }
    return render(request, "scheduling/recall.html", context, status=400 if error else 200)
