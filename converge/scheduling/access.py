"""Which permission opens each scheduling page: one table for the views and the navigation."""

from __future__ import annotations

from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can

PAGE_PERMS: dict[str, Perm] = {
    "calendar": Perm.BOOK_APPOINTMENTS,
    "waitlist": Perm.BOOK_APPOINTMENTS,
    "figures": Perm.VIEW_FIGURES,
    # Sending one message to hundreds of patients is a practice-wide decision.
    "recall": Perm.MANAGE_SETTINGS,
}


def may_open(staff: StaffMember | None, page: str) -> bool:
    return can(staff, PAGE_PERMS[page])
