from __future__ import annotations

from datetime import date, datetime

from ninja import Schema
from pydantic import Field


class Error(Schema):
    detail: str


class ContactPointOut(Schema):
    id: int
    kind: str
    address: str
    is_verified: bool
    opted_out: bool
    consent_at: datetime | None
    failing_since: datetime | None


class PatientOut(Schema):
    id: int
    first_name: str
    last_name: str
    display_name: str
    date_of_birth: date | None
    language: str
    preferred_channel: str
    is_verified: bool
    external_id: str


class PatientDetailOut(PatientOut):
    contact_points: list[ContactPointOut]


class PatientIn(Schema):
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    date_of_birth: date | None = None
    language: str = "en"
    preferred_channel: str = ""
    external_id: str = Field(default="", max_length=100)


class PatientPatch(Schema):
    """Only the fields sent are changed. A field left out is unchanged; null is accepted only
    where the record may be empty (date_of_birth): an explicit null name is a 422, not a 500."""

    first_name: str = Field(default=None, max_length=100)  # type: ignore[assignment]
    last_name: str = Field(default=None, max_length=100)  # type: ignore[assignment]
    date_of_birth: date | None = None
    language: str = Field(default=None)  # type: ignore[assignment]
    preferred_channel: str = Field(default=None)  # type: ignore[assignment]
    external_id: str = Field(default=None, max_length=100)  # type: ignore[assignment]


class ContactPointIn(Schema):
    kind: str
    address: str = Field(max_length=254)
    consent: bool = False


class ContactPointPatch(Schema):
    opted_out: bool | None = None
    consent: bool | None = None


class ConversationOut(Schema):
    id: int
    uuid: str
    patient_id: int
    patient_name: str
    status: str
    team_id: int | None
    assignee_id: int | None
    priority: int
    category: str
    last_message_at: datetime
    waiting_since: datetime | None
    snoozed_until: datetime | None
    updated_at: datetime


class ConversationPage(Schema):
    items: list[ConversationOut]
    next_cursor: str | None
    # Pass back as `updated_since` to get what changed after this page (full precision; the
    # JSON timestamps above are rounded to milliseconds).
    sync_cursor: str | None


class MessageOut(Schema):
    id: int
    conversation_id: int
    direction: str
    channel_id: int
    channel_kind: str
    kind: str
    body: str
    status: str
    failure_code: str
    failure_reason: str
    sender_id: int | None
    is_automatic: bool
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None


class ReplyIn(Schema):
    body: str = Field(min_length=1, max_length=4096)
    channel_id: int | None = None
    # Deliver through the secure portal (a neutral notice goes out on the channel instead).
    via_portal: bool = False
    # Send health information on a standard channel anyway; required by the warn/block policies.
    phi_override_reason: str = Field(default="", max_length=300)


class AssignIn(Schema):
    assignee_id: int | None = None
    team_id: int | None = None


class StatusIn(Schema):
    status: str
    snoozed_until: datetime | None = None
