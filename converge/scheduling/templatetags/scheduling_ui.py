"""Template helpers for the scheduling pages' links in the main navigation."""

from __future__ import annotations

from typing import Any

from django import template

from converge.scheduling.access import PAGE_PERMS, may_open

register = template.Library()


@register.simple_tag(takes_context=True)
def may_open_page(context: dict[str, Any], page: str) -> bool:
    """Whether the signed-in staff member may open a scheduling page, so its link shows only to
    the roles the page would not refuse."""
    user = context.get("user")
    staff = getattr(user, "staff", None) if user is not None and user.is_authenticated else None
    return page in PAGE_PERMS and may_open(staff, page)
