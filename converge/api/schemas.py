from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field, Strict, model_validator

from converge.conversations.services import ServiceError

# The values the API accepts, listed in the OpenAPI document as enums (tests/api/test_api.py
# checks them against the models' choices).
InboxView = Literal["all", "mine", "unassigned", "urgent", "snoozed", "resolved"]
ConversationStatusValue = Literal["open", "pending", "snoozed", "resolved"]
LanguageCode = Literal["en", "es"]
ContactKind = Literal["sms", "whatsapp", "email"]
PreferredChannel = Literal["", "sms", "whatsapp", "email", "webchat", "portal"]
RoutingCategory = Literal["administrative", "scheduling", "refill", "clinical", "urgent"]
AppointmentStatusValue = Literal[
    "booked", "confirmed", "cancelled", "rescheduled", "no_show", "checked_in", "completed"
]

# An object's id: bounded, because a filter on a number past the database's integer range was
# an OverflowError (a 500) on SQLite.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

# Times the API takes carry a UTC offset (RFC 3339 date-time; without one, a 422) and fall within
# these years (a 400 otherwise): near year 1 or 9999, applying an offset leaves the range Python's
# datetime can hold (it was an OverflowError, a 500).
MIN_TIME = datetime.fromisoformat("1000-01-01T00:00:00+00:00")
MAX_TIME = datetime.fromisoformat("9000-01-01T00:00:00+00:00")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: Any) -> Any:
    """Dates and times as the document states them, ISO 8601 text: not a number of seconds since
    1970, which pydantic would otherwise take."""
    if isinstance(value, str) and not _ISO_DATE.match(value) and not re.match(r"\d{2}:\d{2}", value):
        raise ValueError("must be ISO 8601 text")
    if isinstance(value, int | float | bool):
        raise ValueError("must be ISO 8601 text")
    return value


# (Not strict, which would refuse text for them: see Input.)
Time = Annotated[AwareDatetime, BeforeValidator(_iso_text), Strict(False)]
Day = Annotated[date, BeforeValidator(_iso_text), Strict(False)]
ClockTime = Annotated[time, BeforeValidator(_iso_text), Strict(False)]


# Text the API takes: anything but NUL, which PostgreSQL cannot store or compare (it was a
# DataError, a 500).
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]


class Input(Schema):
    """A request body, read strictly: JSON's types as the document states them, so "5" is not
    an integer and 0 is not false (negative input must be refused, not coerced)."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        # ninja reads an empty JSON array as an empty body; the document asks for an object.
        if isinstance(getattr(data, "_obj", data), list | str | int | float | bool):  # (ninja's DjangoGetter)
            raise ValueError("the body must be a JSON object")
        return data


def time_in_range(name: str, value: datetime) -> datetime:
    if not MIN_TIME <= value <= MAX_TIME:
        raise ServiceError(f"{name}: must be between the years 1000 and 9000")
    return value


class Error(Schema):
    detail: str


class ValidationErrorOut(Schema):
    """The request does not match this document: which fields, and why."""

    detail: str
    errors: list[dict[str, Any]]


def answers(ok: dict[int, Any], *refusals: int) -> dict[int, Any]:
    """An operation's documented responses: its success, the refusals it uses (400 a rule the
    schema cannot state, 403, 404, 409), and on every operation 401 (no or a wrong token) and 422
    (input that does not match the schema)."""
    return {**ok, **{code: Error for code in refusals}, 401: Error, 422: ValidationErrorOut}


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


class PatientIn(Input):
    first_name: Text = Field(default="", max_length=100)
    last_name: Text = Field(default="", max_length=100)
    # A past date, from 1900 (a later one is a 400).
    date_of_birth: Day | None = None
    language: LanguageCode = "en"
    preferred_channel: PreferredChannel = ""
    external_id: Text = Field(default="", max_length=100)


class PatientPatch(Input):
    """Only the fields sent are changed. A field left out is unchanged; null is accepted only
    where the record may be empty (date_of_birth): an explicit null name is a 422, not a 500."""

    first_name: Text = Field(default=None, max_length=100)  # type: ignore[assignment]
    last_name: Text = Field(default=None, max_length=100)  # type: ignore[assignment]
    date_of_birth: Day | None = None
    language: LanguageCode = Field(default=None)  # type: ignore[assignment,arg-type]
    preferred_channel: PreferredChannel = Field(default=None)  # type: ignore[assignment,arg-type]
    external_id: Text = Field(default=None, max_length=100)  # type: ignore[assignment]


class ContactPointIn(Input):
    kind: ContactKind
    address: Text = Field(max_length=254)
    consent: bool = False


class ContactPointPatch(Input):
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


class ReplyIn(Input):
    body: Text = Field(min_length=1, max_length=4096)
    channel_id: Id | None = None
    # Deliver through the secure portal (a neutral notice goes out on the channel instead).
    via_portal: bool = False
    # Send health information on a standard channel anyway; required by the warn/block policies.
    phi_override_reason: Text = Field(default="", max_length=300)


class AssignIn(Input):
    assignee_id: Id | None = None
    team_id: Id | None = None


class StatusIn(Input):
    status: ConversationStatusValue
    # Required for snoozed, and then in the future (a 400 otherwise).
    snoozed_until: Time | None = None
