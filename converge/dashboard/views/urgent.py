"""Urgent alerts on every staff page: the banner's partial (re-read on live events) and
"Acknowledge"."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from converge.conversations.selectors import conversation_get
from converge.dashboard.views.common import is_htmx, principal_of, staff_of, staff_required
from converge.routing.selectors import open_alerts
from converge.routing.services import urgent_acknowledge


@staff_required
@require_GET
def urgent_alerts(request: HttpRequest) -> HttpResponse:
    # A plain form post from the banner goes back to the page it is on, not to this partial.
    back = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
    return render(
        request, "dashboard/_urgent_alerts.html", {"alerts": open_alerts(principal=principal_of(request)), "back": back}
    )


@staff_required
@require_POST
def urgent_acknowledge_view(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Acknowledge a conversation's urgent alerts: 404 for another practice's conversation, 403
    (as on /c/<id>/) for one the member may not read under clinical confidentiality."""
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    urgent_acknowledge(conversation=conversation, staff=staff_of(request), ip=principal.ip)
    if is_htmx(request):
        # The live event tells every open page, this one included; the banner re-reads itself.
        response = HttpResponse(status=204)
        response["HX-Trigger"] = "converge:urgent-acknowledged"
        return response
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or not back.startswith("/"):
        back = "/"
    return redirect(back)
