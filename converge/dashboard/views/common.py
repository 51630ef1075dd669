"""What every staff view shares: the sign-in check, and answering htmx and plain form posts."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from converge.core.principal import Principal, client_ip, staff_principal
from converge.practices.models import StaffMember


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        staff = getattr(user, "staff", None) if user.is_authenticated else None
        if staff is None or not staff.is_active:
            if is_htmx(request):
                return HttpResponse("Please sign in again.", status=401, content_type="text/plain")
            return redirect(f"/login/?next={request.path}")
        request.principal = staff_principal(staff, client_ip(request))  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


def principal_of(request: HttpRequest) -> Principal:
    return request.principal  # type: ignore[attr-defined,no-any-return]


def staff_of(request: HttpRequest) -> StaffMember:
    staff = principal_of(request).staff
    assert staff is not None  # staff_required guarantees it
    return staff


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def done(request: HttpRequest, back: str, *, conversation_id: int | None = None, note: str = "") -> HttpResponse:
    """A successful action: htmx gets 204 and an event that tells the page what to re-read; a
    plain form post is redirected back."""
    if is_htmx(request):
        response = HttpResponse(status=204)
        detail: dict[str, Any] = {"conversation_id": conversation_id}
        if note:
            detail["note"] = note
        response["HX-Trigger"] = json.dumps({"converge:changed": detail})
        return response
    if note:
        flash.success(request, note)
    return redirect(back)


def refused(request: HttpRequest, back: str, problem: str) -> HttpResponse:
    """A refused action: htmx gets the reason as plain text (shown in the form's alert region);
    a plain form post gets it as a flash message."""
    if is_htmx(request):
        return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
    flash.error(request, problem)
    return redirect(back)
