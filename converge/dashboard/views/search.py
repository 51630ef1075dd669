"""Search: patients and messages, scoped to the practice and audited (counts only)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from converge.dashboard.views.common import is_htmx, principal_of, staff_required
from converge.search.selectors import search


@staff_required
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    results = search(principal=principal_of(request), query=request.GET.get("q", ""))
    template = "dashboard/_search_results.html" if is_htmx(request) else "dashboard/search.html"
    return render(request, template, {"results": results, "query": results.query})
