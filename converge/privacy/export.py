"""Everything Converge holds about one patient, as one JSON document (for access requests)."""

from __future__ import annotations

from typing import Any

from django.forms.models import model_to_dict

from converge.audit.models import AuditEvent
from converge.audit.services import audit_record
from converge.conversations.models import STAFF_PAGE_KIND, Attachment, Conversation, ConversationEvent, Message, Note
from converge.patients.models import ContactPoint, Patient
from converge.reminders.models import Reminder
from converge.scheduling.models import Appointment, WaitlistEntry


def _rows(qs: Any, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [model_to_dict(obj, exclude=list(exclude)) | {"id": obj.pk} for obj in qs]


def patient_export(*, patient: Patient, actor: Any) -> dict[str, Any]:
    conversations = Conversation.objects.filter(practice_id=patient.practice_id, patient=patient)
    document = {
        "patient": model_to_dict(patient) | {"id": patient.pk},
        "contact_points": _rows(ContactPoint.objects.filter(patient=patient)),
        "conversations": _rows(conversations),
        "messages": _rows(
            # On-call pages went to staff numbers, not the patient: their event lines are below.
            Message.objects.filter(patient=patient).exclude(kind=STAFF_PAGE_KIND).order_by("created_at"),
            exclude=("lease_token", "idempotency_key"),
        ),
        "attachments": _rows(Attachment.objects.filter(message__patient=patient), exclude=("storage_path",)),
        "notes": _rows(Note.objects.filter(conversation__in=conversations)),
        "conversation_events": _rows(ConversationEvent.objects.filter(conversation__in=conversations)),
        "appointments": _rows(Appointment.objects.filter(patient=patient)),
        "reminders": _rows(Reminder.objects.filter(appointment__patient=patient)),
        "waitlist": _rows(WaitlistEntry.objects.filter(patient=patient)),
        "access_log": _rows(
            AuditEvent.objects.filter(practice_id=patient.practice_id, patient_id=patient.pk).order_by("id"),
            exclude=("prev_hash", "hash", "chain_index"),
        ),
    }
    audit_record(
        practice_id=patient.practice_id, actor=actor, action="patient.export", obj=patient, patient_id=patient.pk
    )
    return document
