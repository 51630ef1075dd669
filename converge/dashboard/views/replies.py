"""Canned responses: the settings page, and the composer's `/shortcut` suggestions and rendering."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from converge.conversations.selectors import conversation_get
from converge.dashboard.views.common import int_or_none, principal_of, staff_of, staff_required
from converge.patients.models import Language
from converge.replies import services
from converge.replies.rendering import VARIABLES, render_for_conversation
from converge.replies.selectors import canned_response_for, canned_response_get, canned_response_list


def _fields(request: HttpRequest) -> dict[str, str]:
    return {name: request.POST.get(name, "") for name in ("shortcut", "title", "body", "language")}


def _refused() -> HttpResponse:
    return HttpResponseForbidden(str(services.TemplatesNotAllowed()), content_type="text/plain; charset=utf-8")


@staff_required
@require_http_methods(["GET", "POST"])
def replies_settings(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    can_manage = services.may_manage(staff_of(request))
    error = ""
    if request.method == "POST":
        if not can_manage:
            return _refused()
        try:
            services.canned_response_create(
                practice_id=principal.practice_id, actor=staff_of(request), **_fields(request)
            )
            flash.success(request, "Canned response saved.")
            return redirect("/settings/replies/")
        except services.ReplyError as exc:
            error = str(exc)
    return render(
        request,
        "dashboard/replies.html",
        {
            "responses": canned_response_list(practice_id=principal.practice_id),
            "can_manage": can_manage,
            "languages": Language.choices,
            "variables": VARIABLES,
            "error": error,
            "form": request.POST if error else {"language": "en"},
        },
        status=400 if error else 200,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def reply_edit(request: HttpRequest, response_id: int) -> HttpResponse:
    principal = principal_of(request)
    if not services.may_manage(staff_of(request)):
        return _refused()
    response = canned_response_get(practice_id=principal.practice_id, response_id=response_id)
    error = ""
    if request.method == "POST":
        try:
            services.canned_response_update(response=response, actor=staff_of(request), **_fields(request))
            flash.success(request, "Canned response saved.")
            return redirect("/settings/replies/")
        except services.ReplyError as exc:
            error = str(exc)
    form = (
        request.POST
        if error
        else {
            "shortcut": response.shortcut,
            "title": response.title,
            "body": response.body,
            "language": response.language,
        }
    )
    return render(
        request,
        "dashboard/reply_edit.html",
        {"response": response, "form": form, "error": error, "languages": Language.choices, "variables": VARIABLES},
        status=400 if error else 200,
    )


@staff_required
@require_POST
def reply_delete(request: HttpRequest, response_id: int) -> HttpResponse:
    principal = principal_of(request)
    if not services.may_manage(staff_of(request)):
        return _refused()
    response = canned_response_get(practice_id=principal.practice_id, response_id=response_id)
    services.canned_response_delete(response=response, actor=staff_of(request))
    flash.success(request, "Canned response deleted.")
    return redirect("/settings/replies/")


@staff_required
@require_GET
def replies_suggest(request: HttpRequest) -> JsonResponse:
    """Shortcuts matching what follows the `/` in the composer, one entry per shortcut."""
    principal = principal_of(request)
    seen: dict[str, dict[str, object]] = {}
    for response in canned_response_list(practice_id=principal.practice_id, query=request.GET.get("q", "")[:30]):
        entry = seen.setdefault(
            response.shortcut, {"shortcut": response.shortcut, "title": response.title, "languages": []}
        )
        entry["languages"].append(response.language)  # type: ignore[attr-defined]
    return JsonResponse({"items": list(seen.values())[:20]})


@staff_required
@require_GET
def reply_render(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """The chosen canned response in the patient's language with its variables filled in, so
    staff see (and can edit) the exact text before it goes out."""
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    shortcut = request.GET.get("shortcut", "").strip().lstrip("/").lower()
    if int_or_none(request.GET.get("id")) is not None:
        response = canned_response_get(practice_id=principal.practice_id, response_id=int(request.GET["id"]))
    else:
        response = canned_response_for(
            practice_id=principal.practice_id, shortcut=shortcut, language=conversation.patient.language
        )
    rendered = render_for_conversation(
        text=response.body, conversation=conversation, staff=principal.staff, language=response.language
    )
    return JsonResponse(
        {"text": rendered.text, "missing": rendered.missing, "language": response.language, "title": response.title}
    )
