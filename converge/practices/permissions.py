"""Who may do what. One table, documented in the README; views and the API ask `can()`."""

from __future__ import annotations

import enum

from converge.practices.models import Role, StaffMember


class Perm(enum.StrEnum):
    READ_CONVERSATIONS = "read_conversations"
    REPLY = "reply"
    ASSIGN = "assign"
    READ_CLINICAL = "read_clinical"  # when the practice turns on clinical confidentiality
    MANAGE_PATIENTS = "manage_patients"
    MERGE_PATIENTS = "merge_patients"
    BOOK_APPOINTMENTS = "book_appointments"
    MANAGE_TEMPLATES = "manage_templates"
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_STAFF = "manage_staff"
    MANAGE_SETTINGS = "manage_settings"
    VIEW_AUDIT = "view_audit"
    EXPORT_DATA = "export_data"
    VIEW_FIGURES = "view_figures"
    BREAK_GLASS = "break_glass"


_EVERYONE = {Perm.READ_CONVERSATIONS, Perm.REPLY, Perm.ASSIGN, Perm.MANAGE_PATIENTS, Perm.BOOK_APPOINTMENTS}

MATRIX: dict[str, frozenset[Perm]] = {
    Role.FRONT_DESK: frozenset(_EVERYONE | {Perm.BREAK_GLASS}),
    Role.SCHEDULER: frozenset(_EVERYONE | {Perm.BREAK_GLASS}),
    Role.NURSE: frozenset(_EVERYONE | {Perm.READ_CLINICAL, Perm.MANAGE_TEMPLATES}),
    Role.PROVIDER: frozenset(_EVERYONE | {Perm.READ_CLINICAL, Perm.MANAGE_TEMPLATES}),
    Role.MANAGER: frozenset(
        _EVERYONE
        | {
            Perm.READ_CLINICAL,
            Perm.MERGE_PATIENTS,
            Perm.MANAGE_TEMPLATES,
            Perm.MANAGE_CHANNELS,
            Perm.MANAGE_STAFF,
            Perm.VIEW_AUDIT,
            Perm.EXPORT_DATA,
            Perm.VIEW_FIGURES,
            Perm.MANAGE_SETTINGS,
        }
    ),
    Role.ADMIN: frozenset(Perm),
}


def can(staff: StaffMember | None, perm: Perm) -> bool:
    if staff is None or not staff.is_active:
        return False
    return perm in MATRIX.get(staff.role, frozenset())


def matrix_markdown() -> str:
    """The README's permission table, generated so the two never disagree."""
    roles = [Role(r) for r in MATRIX]
    lines = ["| permission | " + " | ".join(r.label for r in roles) + " |", "| --- |" + " --- |" * len(roles)]
    for perm in Perm:
        cells = ["yes" if perm in MATRIX[r] else "—" for r in roles]
        lines.append(f"| {perm.value.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
