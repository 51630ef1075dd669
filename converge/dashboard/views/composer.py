"""The composer's PHI-guard preview: while staff type a reply, what the guard will do with it on
the chosen channel ("this will go through the secure portal because it mentions …").

Advisory only: the send runs the guard again and decides. POST, so the draft never appears in a
URL or an access log; CSRF-checked like every form post; scoped to the practice and to the
conversation's clinical confidentiality (the reply's own check). Nothing here logs the text."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from converge.connectors.models import Channel
from converge.conversations.selectors import conversation_get
from converge.core.throttle import allow
from converge.dashboard.templatetags.converge_ui import channel_name
from converge.dashboard.views.common import int_or_none, principal_of, staff_of, staff_required
from converge.privacy.guard import preview_outbound

# A debounced composer asks about once a second of typing at most; this only stops a runaway.
PREVIEWS_PER_MINUTE = 120
MAX_DRAFT_CHARS = 4096


@staff_required
@require_POST
def guard_preview(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    if not allow(f"guard-preview:{staff_of(request).pk}", PREVIEWS_PER_MINUTE):
        response = HttpResponse("Too many checks; the send will still be checked.", status=429)
        response["Retry-After"] = "60"
        return response
    channel = Channel.objects.filter(
        practice_id=principal.practice_id, pk=int_or_none(request.POST.get("channel")) or 0
    ).first()
    body = request.POST.get("body", "")[:MAX_DRAFT_CHARS]
    preview = None
    if channel is not None:
        patient = conversation.patient
        preview = preview_outbound(
            channel=channel,
            body=body,
            patient_names=tuple(n for n in (patient.full_name, patient.first_name) if n),
        )
    response = render(
        request,
        "dashboard/_guard_preview.html",
        {
            "preview": preview,
            "mentions": preview.mentions() if preview else [],
            "channel_label": channel_name(channel.kind) if channel else "",
        },
    )
    response["Cache-Control"] = "no-store"
    return response
