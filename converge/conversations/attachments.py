"""Reading a patient's attachment for a principal: scoped to its practice and to the
conversation's clinical confidentiality (exactly as the conversation itself), decrypted in memory
from the encrypted store, checked against its recorded SHA-256, and audited."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.core.exceptions import PermissionDenied
from django.http import Http404

from converge.audit.services import audit_record
from converge.conversations.models import Attachment
from converge.conversations.selectors import ClinicalRestricted
from converge.core import storage
from converge.core.principal import Principal
from converge.practices.permissions import Perm, can
from converge.privacy import access

log = logging.getLogger(__name__)


class AttachmentUnavailable(Exception):
    """We do not hold the file (yet): it is pending, failed or was rejected."""


class AttachmentDamaged(Exception):
    """The stored file is missing, cannot be decrypted, or does not match its checksum."""


@dataclass(frozen=True)
class Download:
    attachment: Attachment
    content: bytes


def attachment_get(*, principal: Principal, attachment_id: int) -> Attachment:
    attachment = (
        Attachment.objects.select_related("message__conversation")
        .filter(practice_id=principal.practice_id, pk=attachment_id)
        .first()
    )
    if attachment is None:
        raise Http404("attachment not found")
    if principal.staff is not None and not can(principal.staff, Perm.READ_CONVERSATIONS):
        raise PermissionDenied("your role cannot read conversations")
    conversation = attachment.message.conversation
    if not access.may_read(conversation, principal):
        raise ClinicalRestricted(conversation.patient_id)
    return attachment


def attachment_download(*, principal: Principal, attachment_id: int) -> Download:
    attachment = attachment_get(principal=principal, attachment_id=attachment_id)
    if attachment.state != Attachment.State.STORED:
        raise AttachmentUnavailable(_unavailable_reason(attachment))
    content = _read_verified(attachment)
    conversation = attachment.message.conversation
    audit_record(
        practice_id=principal.practice_id,
        actor=principal.actor,
        action="attachment.download",
        obj=attachment,
        patient_id=conversation.patient_id,
        detail={"conversation_id": conversation.pk, "message_id": attachment.message_id, "size": len(content)},
        ip=principal.ip,
    )
    return Download(attachment=attachment, content=content)


def _unavailable_reason(attachment: Attachment) -> str:
    label = Attachment.State(attachment.state).label.lower()
    if attachment.state == Attachment.State.PENDING:
        return f"This attachment is not available yet ({label} from the provider). Try again in a minute."
    reason = f" {attachment.failure_reason}" if attachment.failure_reason else ""
    return f"This attachment is not available: the file was {label}.{reason}"


def _read_verified(attachment: Attachment) -> bytes:
    try:
        if not attachment.storage_path:
            raise FileNotFoundError
        content = storage.read_decrypted(attachment.storage_path)
    except (OSError, ValueError, InvalidToken) as exc:
        log.warning("attachment %s: stored file unreadable (%s)", attachment.pk, type(exc).__name__)
        raise AttachmentDamaged(
            "The stored file cannot be read (missing, or encrypted with a key this server does not have)."
        ) from None
    if attachment.sha256 and hashlib.sha256(content).hexdigest() != attachment.sha256.lower():
        log.warning("attachment %s: stored file does not match its checksum", attachment.pk)
        raise AttachmentDamaged("The stored file does not match its recorded checksum, so it was not served.")
    return content
