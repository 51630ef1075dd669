"""Writes on canned responses."""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.core import clock
from converge.patients.models import Language
from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can
from converge.replies.models import CannedResponse

SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,29}$")


class ReplyError(ValueError):
    """Bad canned-response input; the message names the field."""


class TemplatesNotAllowed(PermissionDenied):
    """The actor's role may use canned responses but not change them (README permission matrix)."""

    def __init__(self) -> None:
        super().__init__("Only nurses, providers, managers and administrators can change canned responses.")


def may_manage(actor: StaffMember | None) -> bool:
    """Staff need MANAGE_TEMPLATES; None is the system (demo data, the command line)."""
    return actor is None or can(actor, Perm.MANAGE_TEMPLATES)


def _require_manage(actor: StaffMember | None) -> None:
    if not may_manage(actor):
        raise TemplatesNotAllowed


def _clean(*, shortcut: str, title: str, body: str, language: str) -> tuple[str, str, str, str]:
    shortcut = shortcut.strip().lstrip("/").lower()
    title = title.strip()
    body = body.strip()
    if not SHORTCUT.match(shortcut):
        raise ReplyError("shortcut: 1-30 lowercase letters, digits, - or _")
    if not title or len(title) > 100:
        raise ReplyError("title: required, at most 100 characters")
    if not body or len(body) > 4096:
        raise ReplyError("body: required, at most 4096 characters")
    if language not in Language.values:
        raise ReplyError(f"language: must be one of {', '.join(Language.values)}")
    return shortcut, title, body, language


def canned_response_create(
    *, practice_id: int, actor: StaffMember | None, shortcut: str, title: str, body: str, language: str = "en"
) -> CannedResponse:
    _require_manage(actor)
    shortcut, title, body, language = _clean(shortcut=shortcut, title=title, body=body, language=language)
    now = clock.now()
    try:
        with transaction.atomic():
            response = CannedResponse.objects.create(
                practice_id=practice_id,
                shortcut=shortcut,
                title=title,
                body=body,
                language=language,
                created_at=now,
                updated_at=now,
            )
            audit_record(practice_id=practice_id, actor=actor, action="canned_response.create", obj=response)
    except IntegrityError:
        raise ReplyError(f"shortcut: /{shortcut} already exists in this language") from None
    return response


def canned_response_update(
    *, response: CannedResponse, actor: StaffMember | None, shortcut: str, title: str, body: str, language: str
) -> CannedResponse:
    _require_manage(actor)
    shortcut, title, body, language = _clean(shortcut=shortcut, title=title, body=body, language=language)
    try:
        with transaction.atomic():
            response.shortcut, response.title, response.body, response.language = shortcut, title, body, language
            response.updated_at = clock.now()
            response.save(update_fields=["shortcut", "title", "body", "language", "updated_at"])
            audit_record(practice_id=response.practice_id, actor=actor, action="canned_response.update", obj=response)
    except IntegrityError:
        raise ReplyError(f"shortcut: /{shortcut} already exists in this language") from None
    return response


def canned_response_delete(*, response: CannedResponse, actor: StaffMember | None) -> None:
    _require_manage(actor)
    with transaction.atomic():
        audit_record(practice_id=response.practice_id, actor=actor, action="canned_response.delete", obj=response)
        response.delete()
