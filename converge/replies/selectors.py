"""Reads of canned responses, always scoped to the practice."""

from __future__ import annotations

from django.http import Http404

from converge.replies.models import CannedResponse


def canned_response_list(*, practice_id: int, query: str = "") -> list[CannedResponse]:
    qs = CannedResponse.objects.filter(practice_id=practice_id)
    query = query.strip().lstrip("/").lower()
    if query:
        qs = qs.filter(shortcut__startswith=query) | qs.filter(title__icontains=query)
    return list(qs.order_by("shortcut", "language", "id")[:200])


def canned_response_get(*, practice_id: int, response_id: int) -> CannedResponse:
    response = CannedResponse.objects.filter(practice_id=practice_id, pk=response_id).first()
    if response is None:
        raise Http404("canned response not found")
    return response


def canned_response_for(*, practice_id: int, shortcut: str, language: str) -> CannedResponse:
    """The variant of `shortcut` in the patient's language, else English, else any."""
    variants = {
        r.language: r for r in CannedResponse.objects.filter(practice_id=practice_id, shortcut=shortcut.lower())
    }
    for choice in (language, "en"):
        if choice in variants:
            return variants[choice]
    if variants:
        return variants[sorted(variants)[0]]
    raise Http404("canned response not found")
