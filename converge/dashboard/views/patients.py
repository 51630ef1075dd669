"""Patients: find, create, edit, contact points, merge duplicates, link an unknown sender."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from converge.conversations.models import Conversation
from converge.dashboard.selectors import patient_directory, patient_panel, unknown_senders
from converge.dashboard.views.common import int_or_none, principal_of, staff_required
from converge.patients import services as patient_services
from converge.patients.merge import MergeNotAllowed, may_merge, patient_link_sender, patient_merge
from converge.patients.models import Language, Patient
from converge.patients.selectors import contact_point_get, patient_get
from converge.providers.types import ChannelKind
from converge.search.selectors import patient_search

CONTACT_KINDS = (ChannelKind.SMS, ChannelKind.WHATSAPP, ChannelKind.EMAIL)


def _patient_fields(request: HttpRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "first_name": request.POST.get("first_name", "").strip(),
        "last_name": request.POST.get("last_name", "").strip(),
        "language": request.POST.get("language", "en"),
        "preferred_channel": request.POST.get("preferred_channel", ""),
    }
    raw_dob = request.POST.get("date_of_birth", "").strip()
    try:
        fields["date_of_birth"] = date.fromisoformat(raw_dob) if raw_dob else None
    except ValueError:
        raise patient_services.PatientError("date_of_birth: use the date picker (YYYY-MM-DD)") from None
    if fields["preferred_channel"] not in ("", *[k.value for k in CONTACT_KINDS]):
        raise patient_services.PatientError("preferred_channel: not a channel")
    return fields


def _form_context() -> dict[str, Any]:
    return {"languages": Language.choices, "contact_kinds": [k.value for k in CONTACT_KINDS]}


@staff_required
@require_http_methods(["GET", "POST"])
def patients(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    error = ""
    if request.method == "POST":
        try:
            fields = _patient_fields(request)
            if not fields["first_name"] and not fields["last_name"]:
                raise patient_services.PatientError("name: a first or last name is needed")
            patient = patient_services.patient_create(
                practice_id=principal.practice_id, actor=principal.actor, **fields
            )
            address = request.POST.get("address", "").strip()
            if address:
                patient_services.contact_point_add(
                    patient=patient,
                    actor=principal.actor,
                    kind=request.POST.get("kind", "sms"),
                    address=address,
                    consent=request.POST.get("consent") == "on",
                )
            flash.success(request, "Patient created.")
            return redirect(f"/patients/{patient.pk}/")
        except patient_services.PatientError as exc:
            error = str(exc)
    query = request.GET.get("q", "").strip()
    results = patient_search(principal=principal, query=query) if query else None
    context = {
        "query": query,
        "results": results,
        "recent": patient_directory(principal=principal) if not query else [],
        "unknown": unknown_senders(principal=principal) if not query else [],
        "error": error,
        "form": request.POST if error else {},
        **_form_context(),
    }
    return render(request, "dashboard/patients.html", context, status=400 if error else 200)


@staff_required
@require_http_methods(["GET", "POST"])
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    principal = principal_of(request)
    error = ""
    if request.method == "POST":
        patient = patient_get(principal=principal, patient_id=patient_id, audit=False)
        try:
            patient_services.patient_update(patient=patient, actor=principal.actor, **_patient_fields(request))
            flash.success(request, "Saved.")
            return redirect(f"/patients/{patient_id}/")
        except patient_services.PatientError as exc:
            error = str(exc)
    panel = patient_panel(principal=principal, patient_id=patient_id)
    if panel.patient.merged_into_id is not None:
        flash.info(request, "This record was merged; showing the record it was merged into.")
        return redirect(f"/patients/{panel.patient.merged_into_id}/")
    can_merge = may_merge(principal.actor)
    query = request.GET.get("merge_q", "").strip() if can_merge else ""
    candidates = [p for p in patient_search(principal=principal, query=query) if p.pk != patient_id] if query else []
    context = {
        "patient": panel.patient,
        "panel": panel,
        "error": error,
        "can_merge": can_merge,
        "merge_query": query,
        "merge_candidates": candidates,
        **_form_context(),
    }
    return render(request, "dashboard/patient.html", context, status=400 if error else 200)


@staff_required
@require_POST
def patient_contact_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    principal = principal_of(request)
    patient = patient_get(principal=principal, patient_id=patient_id, audit=False)
    kind = request.POST.get("kind", "")
    try:
        if kind not in [k.value for k in CONTACT_KINDS]:
            raise patient_services.PatientError("kind: choose SMS, WhatsApp or email")
        patient_services.contact_point_add(
            patient=patient,
            actor=principal.actor,
            kind=kind,
            address=request.POST.get("address", ""),
            consent=request.POST.get("consent") == "on",
        )
        flash.success(request, "Contact added.")
    except patient_services.PatientError as exc:
        flash.error(request, str(exc))
    return redirect(f"/patients/{patient_id}/")


@staff_required
@require_POST
def contact_update(request: HttpRequest, contact_id: int) -> HttpResponse:
    principal = principal_of(request)
    contact = contact_point_get(principal=principal, contact_id=contact_id)
    flags = {name: request.POST.get(name) for name in ("opted_out", "consent") if name in request.POST}
    patient_services.contact_point_update(
        contact=contact,
        actor=principal.actor,
        opted_out=flags["opted_out"] == "1" if "opted_out" in flags else None,
        consent=flags["consent"] == "1" if "consent" in flags else None,
    )
    back = request.POST.get("back", "")
    return redirect(back if back.startswith("/c/") else f"/patients/{contact.patient_id}/")


def _open_conversation_of(patient: Patient) -> Conversation | None:
    return (
        Conversation.objects.filter(practice_id=patient.practice_id, patient=patient).exclude(status="resolved").first()
    )


def _merge_refused() -> HttpResponse:
    return HttpResponseForbidden(str(MergeNotAllowed()), content_type="text/plain; charset=utf-8")


@staff_required
@require_http_methods(["GET", "POST"])
def patient_merge_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Merge `other` (the duplicate) into this patient, after a confirmation page."""
    principal = principal_of(request)
    if not may_merge(principal.actor):
        return _merge_refused()
    survivor = patient_get(principal=principal, patient_id=patient_id, audit=False)
    other_id = int_or_none(request.POST.get("other") or request.GET.get("other"))
    loser = patient_get(principal=principal, patient_id=other_id or 0, audit=False)
    if request.method == "POST":
        try:
            patient_merge(survivor=survivor, loser=loser, actor=principal.actor)
        except MergeNotAllowed:
            return _merge_refused()
        except patient_services.PatientError as exc:
            flash.error(request, str(exc))
            return redirect(f"/patients/{patient_id}/")
        flash.success(request, "Records merged.")
        return redirect(f"/patients/{patient_id}/")
    return render(
        request,
        "dashboard/patient_merge.html",
        {
            "survivor": patient_panel(principal=principal, patient_id=survivor.pk),
            "loser": patient_panel(principal=principal, patient_id=loser.pk),
            "mode": "merge",
            "action": f"/patients/{survivor.pk}/merge",
            "hidden_name": "other",
            "hidden_value": loser.pk,
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def patient_link(request: HttpRequest, patient_id: int) -> HttpResponse:
    """An unknown sender (`patient_id`) is really `patient`: confirm, then merge the unverified
    contact into them and open the patient's conversation."""
    principal = principal_of(request)
    unknown = patient_get(principal=principal, patient_id=patient_id, audit=False)
    target_id = int_or_none(request.POST.get("patient") or request.GET.get("patient"))
    if target_id is None:
        query = request.GET.get("q", "").strip()
        results = [p for p in patient_search(principal=principal, query=query) if p.pk != patient_id] if query else []
        return render(
            request,
            "dashboard/_link_results.html",
            {"unknown": unknown, "results": results, "query": query},
        )
    target = patient_get(principal=principal, patient_id=target_id, audit=False)
    if request.method == "POST":
        try:
            patient = patient_link_sender(unknown=unknown, patient=target, actor=principal.actor)
        except patient_services.PatientError as exc:
            flash.error(request, str(exc))
            return redirect(f"/patients/{patient_id}/")
        flash.success(request, f"Linked to {patient.full_name or 'the patient'}.")
        conversation = _open_conversation_of(patient)
        return redirect(f"/c/{conversation.pk}/" if conversation else f"/patients/{patient.pk}/")
    return render(
        request,
        "dashboard/patient_merge.html",
        {
            "survivor": patient_panel(principal=principal, patient_id=target.pk),
            "loser": patient_panel(principal=principal, patient_id=unknown.pk),
            "mode": "link",
            "action": f"/patients/{unknown.pk}/link",
            "hidden_name": "patient",
            "hidden_value": target.pk,
        },
    )


@staff_required
@require_GET
def patient_lookup(request: HttpRequest) -> HttpResponse:
    """Search results for the merge chooser on a patient's page (a partial)."""
    principal = principal_of(request)
    if not may_merge(principal.actor):
        return _merge_refused()
    query = (request.GET.get("q") or request.GET.get("merge_q") or "").strip()
    for_id = int_or_none(request.GET.get("for"))
    results = [p for p in patient_search(principal=principal, query=query) if p.pk != for_id] if query else []
    return render(request, "dashboard/_merge_results.html", {"results": results, "for_id": for_id, "query": query})
