"""The JSON API at /api/v1/ (OpenAPI at /api/v1/openapi.json). Every endpoint is scoped to the
caller's practice: another practice's object is a plain 404, indistinguishable from a missing one."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import NinjaAPI, Query, Status
from ninja.errors import ValidationError as NinjaValidationError

from converge.api.auth import PracticeToken, StaffSession, principal_of
from converge.api.schemas import (
    MAX_ID,
    AssignIn,
    ContactPointIn,
    ContactPointOut,
    ContactPointPatch,
    ConversationOut,
    ConversationPage,
    Id,
    InboxView,
    MessageOut,
    PatientDetailOut,
    PatientIn,
    PatientOut,
    PatientPatch,
    ReplyIn,
    StatusIn,
    Text,
    Time,
    answers,
    time_in_range,
)
from converge.connectors.models import Channel
from converge.conversations import services as conversation_services
from converge.conversations.models import Conversation, Message
from converge.conversations.selectors import (
    ConversationFilter,
    conversation_get,
    conversation_list,
    message_list,
)
from converge.conversations.services import ServiceError
from converge.patients import services as patient_services
from converge.patients.models import ContactPoint, Patient
from converge.patients.selectors import (
    contact_point_get,
    contact_points_of,
    patient_get,
    patient_list,
)
from converge.practices.models import StaffMember, Team

api = NinjaAPI(
    title="Converge API",
    version="1",
    urls_namespace="api-v1",
    auth=[PracticeToken(), StaffSession()],
    docs_url="/docs",
)


from converge.api.scheduling import router as scheduling_router  # noqa: E402

api.add_router("/", scheduling_router)

from converge.api.routing import router as routing_router  # noqa: E402

api.add_router("/", routing_router)

from converge.api.staff import router as staff_router  # noqa: E402

api.add_router("/", staff_router)


@api.exception_handler(ServiceError)
def service_error(request: HttpRequest, exc: ServiceError):  # type: ignore[no-untyped-def]
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(patient_services.PatientError)
def patient_error(request: HttpRequest, exc: patient_services.PatientError):  # type: ignore[no-untyped-def]
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied):  # type: ignore[no-untyped-def]
    # Clinical confidentiality (conversations.selectors.ClinicalRestricted): JSON, like every answer.
    return api.create_response(request, {"detail": str(exc) or "not allowed for your role"}, status=403)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404):  # type: ignore[no-untyped-def]
    return api.create_response(request, {"detail": str(exc) or "not found"}, status=404)


@api.exception_handler(NinjaValidationError)
def invalid(request: HttpRequest, exc: NinjaValidationError):  # type: ignore[no-untyped-def]
    problems = []
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        if len(loc) > 1 and loc[0] == "payload":
            loc = loc[1:]
        where = ".".join(loc)
        problems.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return api.create_response(request, {"detail": "; ".join(problems), "errors": exc.errors}, status=422)


MAX_OFFSET = 1_000_000_000


def _conversation_out(conversation: Conversation) -> ConversationOut:
    return ConversationOut(
        id=conversation.pk,
        uuid=str(conversation.uuid),
        patient_id=conversation.patient_id,
        patient_name=conversation.patient.display_name,
        status=conversation.status,
        team_id=conversation.team_id,
        assignee_id=conversation.assignee_id,
        priority=conversation.priority,
        category=conversation.category,
        last_message_at=conversation.last_message_at,
        waiting_since=conversation.waiting_since,
        snoozed_until=conversation.snoozed_until,
        updated_at=conversation.updated_at,
    )


def _message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.pk,
        conversation_id=message.conversation_id,
        direction=message.direction,
        channel_id=message.channel_id,
        channel_kind=message.channel.kind,
        kind=message.kind,
        body=message.body,
        status=message.status,
        failure_code=message.failure_code,
        failure_reason=message.failure_reason,
        sender_id=message.sender_id,
        is_automatic=message.is_automatic,
        created_at=message.created_at,
        sent_at=message.sent_at,
        delivered_at=message.delivered_at,
        read_at=message.read_at,
    )


def _encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.last_message_at.isoformat()}|{conversation.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        at, pk = base64.urlsafe_b64decode(cursor.encode()).decode().rsplit("|", 1)
        when, number = datetime.fromisoformat(at), int(pk)
        if when.tzinfo is None or not 1 <= number <= MAX_ID:
            raise ValueError(pk)
        return time_in_range("cursor", when), number
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ServiceError("cursor: not a cursor this API returned") from None


@api.get("/conversations", response=answers({200: ConversationPage}, 400), tags=["conversations"])
def list_conversations(
    request: HttpRequest,
    view: InboxView = "all",
    team_id: Id | None = None,
    updated_since: Time | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=200),  # type: ignore[type-arg]
):  # type: ignore[no-untyped-def]
    """Inbox views (`all`, `mine`, `unassigned`, `urgent`, `snoozed`, `resolved`), newest first.
    With `updated_since`, every conversation changed after that time, oldest change first: what
    a reconnecting client re-reads."""
    if updated_since is not None:
        time_in_range("updated_since", updated_since)
    filters = ConversationFilter(
        view=view,
        team_id=team_id,
        updated_since=updated_since,
        before=_decode_cursor(cursor) if cursor else None,
    )
    principal = principal_of(request)
    conversations = conversation_list(principal=principal, filters=filters, limit=limit)
    next_cursor = None
    if len(conversations) == limit and updated_since is None:
        next_cursor = _encode_cursor(conversations[-1])
    latest = max((c.updated_at for c in conversations), default=updated_since)
    return ConversationPage(
        items=[_conversation_out(c) for c in conversations],
        next_cursor=next_cursor,
        sync_cursor=latest.isoformat() if latest else None,
    )


@api.get(
    "/conversations/{conversation_id}",
    response=answers({200: ConversationOut}, 403, 404),
    tags=["conversations"],
)
def get_conversation(request: HttpRequest, conversation_id: Id):  # type: ignore[no-untyped-def]
    return _conversation_out(conversation_get(principal=principal_of(request), conversation_id=conversation_id))


@api.get(
    "/conversations/{conversation_id}/messages",
    response=answers({200: list[MessageOut]}, 404),
    tags=["conversations"],
)
def list_messages(
    request: HttpRequest,
    conversation_id: Id,
    after_id: Id | None = None,
    limit: int = Query(200, ge=1, le=500),  # type: ignore[type-arg]
):  # type: ignore[no-untyped-def]
    conversation = conversation_get(principal=principal_of(request), conversation_id=conversation_id)
    return [_message_out(m) for m in message_list(conversation=conversation, after_id=after_id, limit=limit)]


@api.post(
    "/conversations/{conversation_id}/messages",
    response=answers({201: MessageOut}, 400, 403, 404),
    tags=["conversations"],
)
def send_reply(request: HttpRequest, conversation_id: Id, payload: ReplyIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    if payload.channel_id is not None:
        channel = Channel.objects.filter(practice_id=principal.practice_id, pk=payload.channel_id).first()
        if channel is None:
            raise ServiceError("channel_id: no such channel")
    else:
        channel = conversation_services.reply_channel_default(conversation)
        if channel is None:
            raise ServiceError("channel_id: the patient has not written on any channel yet; choose one")
    message = conversation_services.message_queue(
        conversation=conversation,
        channel=channel,
        body=payload.body,
        sender=principal.staff,
        via_portal=payload.via_portal,
        phi_override_reason=payload.phi_override_reason,
    )
    return Status(201, _message_out(message))


@api.post(
    "/conversations/{conversation_id}/assign",
    response=answers({200: ConversationOut}, 400, 403, 404),
    tags=["conversations"],
)
def assign(request: HttpRequest, conversation_id: Id, payload: AssignIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    assignee = team = None
    if payload.assignee_id is not None:
        assignee = StaffMember.objects.filter(practice_id=principal.practice_id, pk=payload.assignee_id).first()
        if assignee is None:
            raise ServiceError("assignee_id: no such staff member")
    if payload.team_id is not None:
        team = Team.objects.filter(practice_id=principal.practice_id, pk=payload.team_id).first()
        if team is None:
            raise ServiceError("team_id: no such team")
    conversation_services.conversation_assign(
        conversation=conversation, actor=principal.staff, assignee=assignee, team=team
    )
    return _conversation_out(conversation)


@api.post(
    "/conversations/{conversation_id}/status",
    response=answers({200: ConversationOut}, 400, 403, 404),
    tags=["conversations"],
)
def set_status(request: HttpRequest, conversation_id: Id, payload: StatusIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    conversation_services.conversation_set_status(
        conversation=conversation,
        actor=principal.staff,
        status=payload.status,
        snoozed_until=time_in_range("snoozed_until", payload.snoozed_until) if payload.snoozed_until else None,
    )
    return _conversation_out(conversation)


def _patient_out(patient: Patient) -> PatientOut:
    return PatientOut(
        id=patient.pk,
        first_name=patient.first_name,
        last_name=patient.last_name,
        display_name=patient.display_name,
        date_of_birth=patient.date_of_birth,
        language=patient.language,
        preferred_channel=patient.preferred_channel,
        is_verified=patient.is_verified,
        external_id=patient.external_id,
    )


def _contact_out(contact: ContactPoint) -> ContactPointOut:
    return ContactPointOut(
        id=contact.pk,
        kind=contact.kind,
        address=contact.address,
        is_verified=contact.is_verified,
        opted_out=contact.opted_out,
        consent_at=contact.consent_at,
        failing_since=contact.failing_since,
    )


def _patient_detail(patient: Patient) -> PatientDetailOut:
    contacts = contact_points_of(patient)
    base = _patient_out(patient).model_dump()
    return PatientDetailOut(**base, contact_points=[_contact_out(c) for c in contacts])


@api.get("/patients", response=answers({200: list[PatientOut]}), tags=["patients"])
def list_patients(
    request: HttpRequest,
    q: Text = "",
    limit: int = Query(50, ge=1, le=200),  # type: ignore[type-arg]
    # Bounded: an offset past the database's integer range was a 500.
    offset: int = Query(0, ge=0, le=MAX_OFFSET),  # type: ignore[type-arg]
):  # type: ignore[no-untyped-def]
    patients = patient_list(principal=principal_of(request), query=q[:200], limit=limit, offset=offset)
    return [_patient_out(p) for p in patients]


@api.post("/patients", response=answers({201: PatientDetailOut}, 400), tags=["patients"])
def create_patient(request: HttpRequest, payload: PatientIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    patient = patient_services.patient_create(
        practice_id=principal.practice_id, actor=principal.actor, **payload.model_dump()
    )
    return Status(201, _patient_detail(patient))


@api.get("/patients/{patient_id}", response=answers({200: PatientDetailOut}, 404), tags=["patients"])
def get_patient(request: HttpRequest, patient_id: Id):  # type: ignore[no-untyped-def]
    return _patient_detail(patient_get(principal=principal_of(request), patient_id=patient_id))


@api.patch(
    "/patients/{patient_id}",
    response=answers({200: PatientDetailOut}, 400, 404),
    tags=["patients"],
)
def update_patient(request: HttpRequest, patient_id: Id, payload: PatientPatch):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    patient = patient_get(principal=principal, patient_id=patient_id, audit=False)
    changes = payload.model_dump(exclude_unset=True)
    patient_services.patient_update(patient=patient, actor=principal.actor, **changes)
    return _patient_detail(patient)


@api.get(
    "/patients/{patient_id}/contact-points",
    response=answers({200: list[ContactPointOut]}, 404),
    tags=["patients"],
)
def list_contact_points(request: HttpRequest, patient_id: Id):  # type: ignore[no-untyped-def]
    patient = patient_get(principal=principal_of(request), patient_id=patient_id)
    return [_contact_out(c) for c in contact_points_of(patient)]


@api.post(
    "/patients/{patient_id}/contact-points",
    response=answers({201: ContactPointOut}, 400, 404),
    tags=["patients"],
)
def add_contact_point(request: HttpRequest, patient_id: Id, payload: ContactPointIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    patient = patient_get(principal=principal, patient_id=patient_id, audit=False)
    contact = patient_services.contact_point_add(
        patient=patient,
        actor=principal.actor,
        kind=payload.kind,
        address=payload.address,
        consent=payload.consent,
    )
    return Status(201, _contact_out(contact))


@api.patch(
    "/contact-points/{contact_id}",
    response=answers({200: ContactPointOut}, 400, 404),
    tags=["patients"],
)
def update_contact_point(request: HttpRequest, contact_id: Id, payload: ContactPointPatch):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    contact = contact_point_get(principal=principal, contact_id=contact_id)
    patient_services.contact_point_update(
        contact=contact, actor=principal.actor, opted_out=payload.opted_out, consent=payload.consent
    )
    return _contact_out(contact)
