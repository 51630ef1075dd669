"""Security issue 12, the role walk: every URL pattern, API operation and WebSocket route, asked
by every role with clinical confidentiality on and off, must answer as the README's permission
table says.

The table is parsed from README.md ("Privacy and security"), so README and code cannot drift.
ROUTES / API declare, for every route, which permission it needs (or PUBLIC, WEBHOOK,
PATIENT_PORTAL, MFA_STEP, ANY_STAFF) and how clinical confidentiality applies to it:

- GATE: the route opens one conversation (or a message of it); a role without "read clinical"
  is refused the clinical one with 403 (ClinicalRestricted: the page offers break-glass, so it
  does not pretend the conversation is missing) and may use the administrative one.
- FILTER: the route lists or quotes conversations; it answers, minus the clinical ones.

Refusals are 403, or 404 where the route deliberately hides that an object exists (marked
`hidden`). Whatever the route, with confidentiality on, a role without "read clinical" never
gets the clinical message's text; and a refused request never gets any object's marker text.

Every request runs in a savepoint rolled back afterwards, so the cases are independent and a
POST can do what it would do for real (data that succeeds when allowed)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import get_resolver

from converge.accounts.models import StaffInvitation
from converge.api.v1 import api
from converge.conversations.models import Conversation, Note
from converge.core import clock
from converge.practices.models import OnCallShift, Role
from converge.privacy.models import PrivacySettings
from tests.conftest import ALWAYS_OPEN, clear_cache
from tests.core.urlwalk import PARAM, api_operations, fill, walk
from tests.helpers import make_staff, receive

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_HEADER = "| permission | Front desk | Scheduler | Nurse | Provider | Practice manager | Administrator |"

# Unique words of the practice's objects. CLINICAL is the clinical conversation's text.
CLINICAL = "QUINCUNX-4417"
ADMIN_TEXT = "PARAPET-2290"
CANNED = "MARZIPAN-5150"
TEMPLATE = "TOBOGGAN-8812"
QUARANTINE = "FLOTSAM-3021"
CLINICAL_PATIENT = "Quillfeather"
ADMIN_PATIENT = "Brightwater"
MARKERS = (CLINICAL, ADMIN_TEXT, CANNED, TEMPLATE, QUARANTINE, CLINICAL_PATIENT, ADMIN_PATIENT)

# Who may use a route, besides a permission of the README's table.
PUBLIC = "PUBLIC"  # no practice data
WEBHOOK = "WEBHOOK"  # providers and the website widget, by an unguessable channel key
PATIENT_PORTAL = "PATIENT_PORTAL"  # the patient's own session (tests/portal)
MFA_STEP = "MFA_STEP"  # the second-factor step: a half-signed-in person (tests/accounts)
ANY_STAFF = "ANY_STAFF"  # any signed-in, active staff member: their own things, no practice data
BREAK_GLASS = "BREAK_GLASS"  # "break glass" or "read clinical", see API below
NOT_STAFF = {PUBLIC, WEBHOOK, PATIENT_PORTAL, MFA_STEP}

GATE, FILTER = "gate", "filter"


@dataclass(frozen=True)
class R:
    who: str
    clinical: str = ""  # GATE or FILTER, see the module docstring
    methods: tuple[str, ...] = ("GET",)
    data: dict[str, Any] = field(default_factory=dict)  # POST form; "{name}" filled from the ids
    query: str = ""  # GET query string; "{name}" filled from the ids
    shows: bool = False  # a readable clinical conversation's text is on the page (a positive check)
    form_refusal_ok: bool = False  # a 400 (the form refuses) still got past the permission check
    hidden: bool = False  # refused with 404


RC, RP, MP = "read conversations", "reply", "manage patients"

ROUTES: dict[str, R] = {
    "healthz": R(PUBLIC),
    "readyz": R(PUBLIC),
    "metrics": R(PUBLIC),  # bearer token (CONVERGE_METRICS_TOKEN), no session; 404 when unset
    "favicon.ico": R(PUBLIC),
    "widget.js": R(PUBLIC),
    "demo-site/": R(PUBLIC),
    "login/": R(PUBLIC),
    "logout/": R(PUBLIC, methods=()),  # signing out is walked by tests/accounts, not here
    "api/v1/": R(PUBLIC),
    "api/v1/openapi.json": R(PUBLIC),
    "api/v1/docs": R(PUBLIC),
    "webhooks/simulator/<str:key>": R(WEBHOOK, methods=()),
    "webhooks/whatsapp/<str:key>": R(WEBHOOK, methods=()),
    "webhooks/twilio/<str:key>": R(WEBHOOK, methods=()),
    "webhooks/twilio/<str:key>/status": R(WEBHOOK, methods=()),
    "webchat/<str:key>/config": R(WEBHOOK, methods=()),
    "webchat/<str:key>/session": R(WEBHOOK, methods=()),
    "portal/": R(PATIENT_PORTAL, methods=()),
    "portal/t/<str:token>": R(PATIENT_PORTAL, methods=()),
    "portal/reply": R(PATIENT_PORTAL, methods=()),
    "portal/sign-out": R(PATIENT_PORTAL, methods=()),
    "login/verify": R(MFA_STEP, methods=()),
    "account/mfa/": R(MFA_STEP, methods=("GET",)),
    "session/ping": R(ANY_STAFF, methods=("POST",)),
    "notifications/": R(ANY_STAFF, FILTER),
    "notifications/badge": R(ANY_STAFF),
    "notifications/read": R(ANY_STAFF, methods=("POST",)),
    "mentions/handles": R(ANY_STAFF),
    "settings/": R(ANY_STAFF),
    # The inbox.
    "": R(RC, FILTER, shows=True),
    "inbox/list": R(RC, FILTER, shows=True),
    "inbox/counts": R(RC, FILTER),
    "inbox/bulk": R(
        "assign",
        FILTER,
        methods=("POST",),
        data={"ids": ["{clinical_conversation}", "{admin_conversation}"], "action": "assign", "assignee": "me"},
    ),
    # Searched for another word of the clinical message, so the page's echo of the query is no leak.
    "search": R(RC, FILTER, query="q=metformin", shows=True),
    "c/<int:conversation_id>/": R(RC, GATE, shows=True),
    "c/<int:conversation_id>/thread": R(RC, GATE, shows=True),
    "c/<int:conversation_id>/read": R(RC, GATE, methods=("POST",)),
    "c/<int:conversation_id>/header": R(RC, GATE),
    "c/<int:conversation_id>/channels": R(RC, GATE),
    "c/<int:conversation_id>/patient": R(RC, GATE),
    "c/<int:conversation_id>/replies/render": R(RP, GATE, query="shortcut=secret"),
    "c/<int:conversation_id>/reply": R(RP, GATE, methods=("POST",), data={"channel": "{sms}", "body": "See you soon"}),
    "c/<int:conversation_id>/guard-preview": R(
        RP, GATE, methods=("POST",), data={"channel": "{sms}", "body": "Your HbA1c is 7.2"}
    ),
    "c/<int:conversation_id>/note": R(RP, GATE, methods=("POST",), data={"body": "Called back"}),
    "c/<int:conversation_id>/assign": R("assign", GATE, methods=("POST",), data={"assignee": "me"}),
    "c/<int:conversation_id>/status": R("assign", GATE, methods=("POST",), data={"status": "resolved"}),
    "c/<int:conversation_id>/triage": R("assign", GATE, methods=("POST",), data={"priority": "2"}),
    # Urgent alerts: everyone sees that one waits (the banner names the patient only to a reader of
    # the conversation); acknowledging is for those who may read it.
    "urgent/alerts": R(RC, FILTER),
    "c/<int:conversation_id>/acknowledge": R(RC, GATE, methods=("POST",)),
    "m/<int:message_id>/retry": R(RP, GATE, methods=("POST",), form_refusal_ok=True),  # only a failed one
    "m/<int:message_id>/category": R("assign", GATE, methods=("POST",), data={"category": "administrative"}),
    "replies/suggest": R(RC, query="q=sec"),
    # A patient's attachment: the file of its message, as confidential as the conversation.
    "a/<int:attachment_id>/download": R(RC, GATE, shows=True),
    # Patients.
    "patients/": R(MP, FILTER, methods=("GET", "POST"), data={"first_name": "Nova", "last_name": "Person"}),
    "patients/lookup": R("merge patients", query="q=Bright"),
    "patients/<int:patient_id>/": R(
        MP, FILTER, methods=("GET", "POST"), data={"first_name": "Renamed", "last_name": "Person"}
    ),
    "patients/<int:patient_id>/contacts": R(MP, methods=("POST",), data={"kind": "sms", "address": "+15550009999"}),
    "patients/<int:patient_id>/merge": R(
        "merge patients",
        FILTER,
        methods=("GET", "POST"),
        query="other={other_patient}",
        data={"other": "{other_patient}"},
    ),
    # Linking needs an unknown sender; with a known one the form refuses (a redirect with a message).
    "patients/<int:patient_id>/link": R(
        MP, FILTER, methods=("GET", "POST"), query="patient={other_patient}", data={"patient": "{other_patient}"}
    ),
    "contacts/<int:contact_id>": R(MP, methods=("POST",), data={"opted_out": "1"}),
    # Canned responses.
    "settings/replies/": R(RC, methods=("GET",)),  # the list; creating one is "manage templates", below as POST
    "settings/replies/<int:response_id>/": R(
        "manage templates",
        methods=("GET", "POST"),
        data={"shortcut": "secret", "title": "t", "body": "Edited", "language": "en"},
    ),
    "settings/replies/<int:response_id>/delete": R("manage templates", methods=("POST",)),
    # Scheduling.
    "calendar/": R("book appointments"),
    "calendar/book": R(
        "book appointments",
        methods=("POST",),
        data={"patient": "{admin_patient}", "type": "{appointment_type}", "slot": "{slot}"},
    ),
    "calendar/appointments/<int:appointment_id>/move": R(
        "book appointments", methods=("POST",), data={"slot": "{slot}"}
    ),
    "calendar/appointments/<int:appointment_id>/status": R(
        "book appointments", methods=("POST",), data={"status": "confirmed"}
    ),
    "waitlist/": R("book appointments"),
    "waitlist/<int:entry_id>/remove": R("book appointments", methods=("POST",)),
    "waitlist/follow-ups/<int:item_id>/done": R("book appointments", methods=("POST",)),
    "figures/": R("view figures"),
    "recall/": R("manage settings"),
    # Settings.
    "settings/staff/": R("manage staff"),
    "settings/staff/<int:staff_id>/mfa/reset": R("manage staff", methods=("POST",)),
    "settings/staff/<int:staff_id>/active": R("manage staff", methods=("POST",), data={"active": "0"}),
    "settings/staff/<int:staff_id>/change": R(
        "manage staff", methods=("POST",), data={"role": "scheduler", "teams": ["{front_desk_team}"]}
    ),
    "settings/staff/invite": R(
        "manage staff",
        methods=("POST",),
        data={"display_name": "New Walker", "email": "new.walker@sunrise.example", "role": "front_desk"},
    ),
    "settings/staff/invitations/<int:invitation_id>/revoke": R("manage staff", methods=("POST",)),
    "settings/staff/seats": R("manage staff", methods=("POST",), data={"staff_seats": "40"}),
    "invite/<str:token>": R(PUBLIC, methods=("GET", "POST"), data={"password": "x", "password_again": "x"}),
    "setup/<str:token>": R(PUBLIC),  # the first-run link: a 404 once a practice exists
    "welcome/": R("manage settings"),
    "welcome/hours": R(
        "manage settings", methods=("POST",), data={"open_0": "on", "opens_0": "09:00", "closes_0": "17:00"}
    ),
    "welcome/teams": R("manage settings", methods=("POST",), data={"name": "Billing"}),
    "settings/on-call/": R("manage settings"),
    "settings/on-call/add": R(
        "manage settings",
        methods=("POST",),
        data={"staff": "{nurse}", "weekdays": ["5", "6"], "start_time": "00:00", "end_time": "00:00"},
        form_refusal_ok=True,
    ),
    "settings/on-call/<int:shift_id>/remove": R("manage settings", methods=("POST",)),
    "settings/audit/": R("view audit"),
    "settings/audit.csv": R("view audit"),
    "settings/policies/": R(
        "manage settings", methods=("GET", "POST"), data={"form": "privacy", "clinical_confidentiality": "on"}
    ),
    "simulator/": R(ANY_STAFF, FILTER),
    # Team messages: any staff member, in what they belong to (the walkers are all members of the
    # walk channel and the walk group); a manager creates channels. "Ask the team" opens a
    # conversation, so it is gated like one.
    "team/": R(ANY_STAFF),
    "team/sidebar": R(ANY_STAFF),
    "team/badge": R(ANY_STAFF),
    "team/search": R(ANY_STAFF, query="q=rota"),
    "team/status": R(ANY_STAFF, methods=("POST",), data={"status": "in_visit"}),
    "team/direct": R(ANY_STAFF, methods=("POST",), data={"members": ["{nurse}", "{staff_id}"]}),
    "team/channels": R("manage staff", methods=("POST",), data={"name": "Walk huddle"}),
    "team/c/<int:team_channel_id>/": R(ANY_STAFF, methods=("GET", "POST"), data={"title": "Rota", "body": "Swap?"}),
    "team/t/<int:topic_id>/": R(ANY_STAFF),
    "team/t/<int:topic_id>/messages": R(ANY_STAFF, query="before=999999"),
    "team/t/<int:topic_id>/post": R(ANY_STAFF, methods=("POST",), data={"body": "On it"}),
    "team/t/<int:topic_id>/read": R(ANY_STAFF, methods=("POST",), data={"up_to": "{team_message_id}"}),
    "team/d/<int:thread_id>/": R(ANY_STAFF),
    "team/d/<int:thread_id>/messages": R(ANY_STAFF),
    "team/d/<int:thread_id>/post": R(ANY_STAFF, methods=("POST",), data={"body": "Thanks"}),
    "team/d/<int:thread_id>/read": R(ANY_STAFF, methods=("POST",), data={"up_to": "999999"}),
    # Only the author may change a message: the others are refused by the form (400).
    "team/m/<int:team_message_id>/edit": R(ANY_STAFF, methods=("POST",), data={"body": "Edited"}, form_refusal_ok=True),
    "team/m/<int:team_message_id>/delete": R(ANY_STAFF, methods=("POST",), form_refusal_ok=True),
    "team/ask/<int:conversation_id>": R(
        RC, GATE, methods=("POST",), data={"channel": "{team_channel_id}", "body": "Can a nurse call back?"}
    ),
    "settings/channels/": R("manage channels"),
    "settings/channels/add/whatsapp": R("manage channels"),
    "settings/channels/add/sms": R("manage channels"),
    "settings/channels/<int:channel_id>/": R("manage channels"),
    "settings/channels/<int:channel_id>/test": R("manage channels", methods=("POST",), form_refusal_ok=True),
    "settings/channels/<int:channel_id>/credentials": R(
        "manage channels", methods=("POST",), data={"name": "Renamed"}, form_refusal_ok=True
    ),
    "settings/channels/<int:channel_id>/enabled": R("manage channels", methods=("POST",), data={"enabled": "0"}),
    "settings/channels/<int:channel_id>/templates": R(
        "manage channels",
        methods=("POST",),
        data={"name": "new_template", "language": "en_US", "body": "Hello {{1}}", "category": "utility"},
        form_refusal_ok=True,
    ),
    "settings/channels/<int:channel_id>/templates/<int:template_id>/": R("manage channels"),
    "settings/channels/<int:channel_id>/templates/<int:template_id>/delete": R("manage channels", methods=("POST",)),
    "settings/channels/email-webchat/": R("manage channels"),
    "settings/channels/email/new": R("manage channels"),
    "settings/channels/email/<int:channel_id>/": R("manage channels"),
    "settings/channels/email/<int:channel_id>/check": R("manage channels", methods=("POST",), form_refusal_ok=True),
    "settings/channels/email/quarantine/<int:quarantine_id>": R("manage channels"),
    "settings/channels/webchat/new": R("manage channels"),
    "settings/channels/webchat/<int:channel_id>/": R("manage channels"),
}
# Creating a canned response (POST to the list page) needs "manage templates", unlike reading it.
REPLIES_CREATE = R(
    "manage templates",
    methods=("POST",),
    data={"shortcut": "fresh", "title": "Fresh", "body": "Hello", "language": "en"},
)

# Which channel each channel route is pointed at.
CHANNEL_OF = {"settings/channels/email/": "mailbox", "settings/channels/webchat/": "webchat"}

# Ninja operations under /api/v1/: (METHOD, path) → rule; data is the JSON body.
API: dict[tuple[str, str], R] = {
    ("GET", "/conversations"): R(RC, FILTER),  # no message text; the count is checked below
    ("GET", "/conversations/{conversation_id}"): R(RC, GATE),
    ("GET", "/conversations/{conversation_id}/messages"): R(RC, GATE, shows=True),
    ("POST", "/conversations/{conversation_id}/messages"): R(
        RP, GATE, data={"body": "See you soon", "channel_id": "{sms}"}
    ),
    ("POST", "/conversations/{conversation_id}/assign"): R("assign", GATE, data={"assignee_id": "{nurse}"}),
    ("POST", "/conversations/{conversation_id}/status"): R("assign", GATE, data={"status": "resolved"}),
    ("GET", "/patients"): R(MP, query="q=Bright"),
    ("POST", "/patients"): R(MP, data={"first_name": "Nova", "last_name": "Person"}),
    ("GET", "/patients/{patient_id}"): R(MP),
    ("PATCH", "/patients/{patient_id}"): R(MP, data={"first_name": "Renamed"}),
    ("GET", "/patients/{patient_id}/contact-points"): R(MP),
    ("POST", "/patients/{patient_id}/contact-points"): R(MP, data={"kind": "sms", "address": "+15550009999"}),
    ("PATCH", "/contact-points/{contact_id}"): R(MP, data={"opted_out": True}),
    ("GET", "/availability"): R("book appointments", query="provider_id={provider}&date={day}"),
    ("GET", "/appointments"): R("book appointments", query="start={day}T00:00:00Z&end={day_after}T00:00:00Z"),
    ("POST", "/appointments"): R(
        "book appointments",
        data={
            "patient_id": "{admin_patient}",
            "provider_id": "{provider}",
            "appointment_type_id": "{appointment_type}",
            "start": "{free_start}",
        },
    ),
    ("GET", "/appointments/{appointment_id}"): R("book appointments"),
    ("PATCH", "/appointments/{appointment_id}"): R("book appointments", data={"status": "confirmed"}),
    ("GET", "/appointments/{appointment_id}/reminders"): R("book appointments"),
    ("POST", "/waitlist"): R("book appointments", data={"patient_id": "{admin_patient}"}),
    ("GET", "/figures/appointments"): R("view figures"),
    ("GET", "/figures/inbox"): R("view figures"),
    ("GET", "/routing/rules"): R(RC),
    ("PUT", "/routing/rules/{category}"): R("manage settings", data={"priority": 1, "response_minutes": 120}),
    ("POST", "/messages/{message_id}/category"): R("assign", GATE, data={"category": "administrative"}),
    # The README's "break glass" column, plus the roles with "read clinical": they already read
    # everything, so a grant gives them nothing (privacy/access.py allows it; harmless, audited).
    ("POST", "/patients/{patient_id}/break-glass"): R(BREAK_GLASS, data={"reason": "patient called, urgent"}),
    # Staff administration (converge/api/staff.py): a token reads the lists; changes are STAFF_ONLY_API.
    ("GET", "/staff"): R("manage staff"),
    ("PATCH", "/staff/{staff_id}"): R("manage staff", data={"role": "scheduler"}),
    ("POST", "/staff/{staff_id}/disable"): R("manage staff"),
    ("POST", "/staff/{staff_id}/enable"): R("manage staff"),
    ("POST", "/staff/{staff_id}/mfa/reset"): R("manage staff"),
    ("GET", "/staff/invitations"): R("manage staff"),
    ("PUT", "/staff/seats"): R("manage staff", data={"limit": 40}),
    ("POST", "/staff/invitations"): R(
        "manage staff", data={"email": "api.walker@sunrise.example", "display_name": "Api Walker", "role": "nurse"}
    ),
    ("POST", "/staff/invitations/{invitation_id}/withdraw"): R("manage staff"),
    ("GET", "/oncall/shifts"): R("manage settings"),
    ("POST", "/oncall/shifts"): R(
        "manage settings",
        data={"staff_id": "{nurse}", "weekdays": [5], "start_time": "00:00", "end_time": "00:00"},
        form_refusal_ok=True,  # the walk's nurse has no mobile number: a 400 past the role check
    ),
    ("POST", "/oncall/shifts/{shift_id}/remove"): R("manage settings"),
}
# Operations a practice token may not use: they act as a staff member (400, "... are made by staff").
STAFF_ONLY_API = {
    ("POST", "/messages/{message_id}/category"),
    ("POST", "/patients/{patient_id}/break-glass"),
    ("PATCH", "/staff/{staff_id}"),
    ("POST", "/staff/{staff_id}/disable"),
    ("POST", "/staff/{staff_id}/enable"),
    ("POST", "/staff/{staff_id}/mfa/reset"),
    ("POST", "/staff/invitations"),
    ("POST", "/staff/invitations/{invitation_id}/withdraw"),
    ("PUT", "/staff/seats"),
    ("POST", "/oncall/shifts"),
    ("POST", "/oncall/shifts/{shift_id}/remove"),
}

# Role-rule bugs the walk found in code another helper owns (reported, not fixed here). A listed
# case that starts passing fails the walk, so the entry is removed when the fix lands.
KNOWN: dict[str, str] = {}


def readme_matrix() -> dict[str, set[str]]:
    """Role label → permissions, from the README's table."""
    lines = README.read_text().splitlines()
    start = lines.index(TABLE_HEADER)
    roles = [cell.strip() for cell in TABLE_HEADER.strip("|").split("|")][1:]
    matrix: dict[str, set[str]] = {role: set() for role in roles}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for role, cell in zip(roles, cells[1:], strict=True):
            assert cell in ("yes", "—"), line
            if cell == "yes":
                matrix[role].add(cells[0])
    return matrix


MATRIX = readme_matrix()
ROLES = [Role(value) for value in Role.values]


def test_readme_table_is_the_code_table() -> None:
    from converge.practices.permissions import MATRIX as CODE

    assert set(MATRIX) == {r.label for r in ROLES}
    for role in ROLES:
        assert MATRIX[role.label] == {p.value.replace("_", " ") for p in CODE[role]}, role


# --- the practice ---------------------------------------------------------------------------


def build_world() -> dict[str, Any]:
    from converge.connectors.channel_setup import whatsapp_channel_create
    from converge.connectors.models import Channel, QuarantinedMail
    from converge.connectors.models import Provider as ChannelProvider
    from converge.connectors.services import simulator_channel_create
    from converge.connectors.webchat import webchat_channel_create
    from converge.connectors.whatsapp_templates import whatsapp_template_save
    from converge.conversations.models import Attachment, Mention
    from converge.core import storage
    from converge.patients.models import Patient
    from converge.practices.services import practice_create
    from converge.replies.models import CannedResponse
    from converge.scheduling.models import Appointment, AppointmentType, FollowUpItem, Provider, WaitlistEntry

    practice = practice_create(name="Sunrise Family Clinic", slug="sunrise-walk")
    practice.business_hours = ALWAYS_OPEN
    practice.save(update_fields=["business_hours"])
    PrivacySettings.objects.update_or_create(practice=practice, defaults={"clinical_confidentiality": False})
    sms = simulator_channel_create(practice=practice, kind="sms")
    staff = {role: make_staff(practice, f"{role.label.split()[-1].title()} Walker", role) for role in ROLES}
    target = make_staff(practice, "Target Person", Role.FRONT_DESK)

    clinical = receive(sms, "+15550001111", f"{CLINICAL} my metformin refill please").message
    admin = receive(sms, "+15550002222", f"{ADMIN_TEXT} what are your opening hours").message
    Conversation.objects.filter(pk=clinical.conversation_id).update(category="clinical")
    Conversation.objects.filter(pk=admin.conversation_id).update(category="administrative")
    Patient.objects.filter(pk=clinical.patient_id).update(
        first_name=CLINICAL_PATIENT, last_name="Walk", is_verified=True
    )
    Patient.objects.filter(pk=admin.patient_id).update(first_name=ADMIN_PATIENT, last_name="Walk", is_verified=True)
    now = clock.now()
    note = Note.objects.create(
        practice=practice,
        conversation_id=clinical.conversation_id,
        author=staff[Role.NURSE],
        body=f"{CLINICAL} dose checked",
        created_at=now,
    )
    for member in staff.values():  # everyone is @mentioned in the clinical note
        Mention.objects.create(
            practice=practice,
            note=note,
            conversation_id=clinical.conversation_id,
            staff=member,
            author=staff[Role.NURSE],
            created_at=now,
        )
    provider = Provider.objects.create(practice=practice, display_name="Dr. Walk")
    kind = AppointmentType.objects.create(practice=practice, name="Visit")
    start = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    appointment = Appointment.objects.create(
        practice=practice,
        patient_id=admin.patient_id,
        provider=provider,
        appointment_type=kind,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_until=start + timedelta(minutes=20),
    )
    free = start + timedelta(hours=2)
    response = CannedResponse.objects.create(
        practice=practice, shortcut="secret", title="t", body=CANNED, created_at=now, updated_at=now
    )
    whatsapp = whatsapp_channel_create(
        practice=practice, phone_number_id="11223344556677", access_token="t", app_secret="s", verify_token="v"
    )
    template = whatsapp_template_save(
        channel=whatsapp, name="walk_template", language="en_US", body=TEMPLATE, actor=None
    )
    mailbox = Channel.objects.create(
        practice=practice, kind="email", provider=ChannelProvider.MAILBOX, name="Mail", display_address="x@s.example"
    )
    webchat = webchat_channel_create(practice=practice, origins=["https://sunrise.example"], actor=None)
    attachments = {
        name: Attachment.objects.create(
            practice=practice,
            message=message,
            filename=f"{name}.txt",
            content_type="text/plain",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            storage_path=storage.save_encrypted(practice.pk, content, dedupe=True),
            state=Attachment.State.STORED,
        )
        for name, message, content in (
            ("clinical", clinical, f"{CLINICAL} lab result".encode()),
            ("admin", admin, b"opening hours"),
        )
    }
    raw = f"Subject: hi\r\n\r\n{QUARANTINE}\r\n".encode()
    quarantine = QuarantinedMail.objects.create(
        practice=practice,
        channel=mailbox,
        uid=1,
        reason="too big",
        raw_sha256="0" * 64,
        raw_size=len(raw),
        storage_path=storage.save_encrypted(practice.pk, raw, area="quarantine"),
        created_at=now,
    )
    team_ids = team_world(practice, staff)
    return {
        "practice": practice,
        "staff": staff,
        "ids": {
            "sms": sms.pk,
            "nurse": staff[Role.NURSE].pk,
            "clinical_conversation": clinical.conversation_id,
            "admin_conversation": admin.conversation_id,
            "clinical_message": clinical.pk,
            "admin_message": admin.pk,
            "clinical_patient": clinical.patient_id,
            "admin_patient": admin.patient_id,
            "contact_id": admin.contact_point_id,
            "appointment_id": appointment.pk,
            "appointment_type": kind.pk,
            "provider": provider.pk,
            "slot": f"{provider.pk}|{free.isoformat()}",
            "free_start": free.isoformat(),
            "day": start.date().isoformat(),
            "day_after": (start.date() + timedelta(days=1)).isoformat(),
            "response_id": response.pk,
            "entry_id": WaitlistEntry.objects.create(practice=practice, patient_id=admin.patient_id, created_at=now).pk,
            "item_id": FollowUpItem.objects.create(
                practice=practice, patient_id=admin.patient_id, kind="no_show", created_at=now
            ).pk,
            "staff_id": target.pk,
            "front_desk_team": practice.default_team_id,
            "invitation_id": StaffInvitation.objects.create(
                practice=practice,
                email="invited.walker@sunrise.example",
                display_name="Invited Walker",
                role=Role.FRONT_DESK,
                token_hash="0" * 64,
                created_at=now,
                expires_at=now + timedelta(hours=72),
            ).pk,
            "token": "not-an-invitation-token",
            "shift_id": OnCallShift.objects.create(
                practice=practice, staff=target, weekdays=[0], start_time=time(9), end_time=time(17)
            ).pk,
            "channel_id": whatsapp.pk,
            "mailbox": mailbox.pk,
            "webchat": webchat.pk,
            "template_id": template.pk,
            "quarantine_id": quarantine.pk,
            "category": "administrative",
            "clinical_attachment": attachments["clinical"].pk,
            "admin_attachment": attachments["admin"].pk,
            **team_ids,
        },
    }


def team_world(practice: Any, staff: dict[Role, Any]) -> dict[str, int]:
    """Team messages every walker can reach: a channel and a group with all of them in it."""
    from converge.teamchat import services as team

    team.team_channels_ensure(practice_id=practice.pk)
    manager = staff[Role.MANAGER]
    channel = team.channel_create(actor=manager, name="Walk", member_ids=[s.pk for s in staff.values()])
    topic, message = team.topic_start(actor=manager, channel=channel, title="Rota", body="Who covers Friday?")
    group = team.direct_open(actor=manager, member_ids=[s.pk for s in staff.values()])
    team.message_post(actor=manager, thread=group, body="Rota is up")
    from converge.teamchat.models import TeamChannel

    nursing = TeamChannel.objects.get(practice=practice, team__slug="nursing")
    return {"team_channel_id": nursing.pk, "topic_id": topic.pk, "thread_id": group.pk, "team_message_id": message.pk}


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """One practice for the whole module, created once inside a transaction that is rolled back
    at the end; each test runs in a savepoint of it (pytest-django's `db`)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


def set_confidentiality(world: dict[str, Any], on: bool) -> None:
    PrivacySettings.objects.filter(practice=world["practice"]).update(clinical_confidentiality=on)
    clear_cache()


# --- the cases ------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    method: str
    url: str
    rule: R
    variant: str  # "clinical", "admin" or "" (the route takes no conversation, message or patient)
    data: Any = None
    clinical_id: int = 0  # the clinical conversation, whose state a refused or blind write must not change


VARIANT_PARAMS = {
    "conversation_id": "conversation",
    "message_id": "message",
    "patient_id": "patient",
    "attachment_id": "attachment",
}


def _ids_for(route: str, ids: dict[str, Any], variant: str) -> dict[str, Any]:
    out = dict(ids)
    if variant:
        other = "admin" if variant == "clinical" else "clinical"
        for param, what in VARIANT_PARAMS.items():
            out[param] = ids[f"{variant}_{what}"]
        out["other_patient"] = ids[f"{other}_patient"]
    for prefix, name in CHANNEL_OF.items():
        if route.startswith(prefix):
            out["channel_id"] = ids[name]
    return out


def _filled(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\{[a-z_]+\}", value):
        return ids[value[1:-1]]
    if isinstance(value, str):
        return re.sub(r"(?<!\{)\{([a-z_]+)\}(?!\})", lambda m: str(ids[m.group(1)]), value)
    if isinstance(value, list):
        return [_filled(v, ids) for v in value]
    return value


def undeclared_routes() -> list[str]:
    missing = []
    for route, pattern in walk(get_resolver().url_patterns):
        route = route.lstrip("^").rstrip("$")
        if route.startswith(("static/", "bench/")):
            continue
        if route.startswith("api/v1/") and pattern.name not in ("openapi-json", "openapi-view", "api-root"):
            continue  # ninja operations: declared in API, checked below
        if route not in ROUTES:
            missing.append(f"decide who may use {pattern.name} {route!r} in tests/core/test_role_walk.py")
    for method, path, name in api_operations(api):
        if (method, path) not in API:
            missing.append(f"decide who may use {name} {method} /api/v1{path} in tests/core/test_role_walk.py")
    missing += [f"{route!r} is declared in ROUTES but no longer exists" for route in set(ROUTES) - set(_routes())]
    missing += [
        f"API {key} is declared but no longer exists" for key in set(API) - {(m, p) for m, p, _ in api_operations(api)}
    ]
    return missing


def _routes() -> list[str]:
    return [r.lstrip("^").rstrip("$") for r, _ in walk(get_resolver().url_patterns)]


def test_every_route_is_declared() -> None:
    missing = undeclared_routes()
    assert not missing, "\n".join(missing)


def web_cases(ids: dict[str, Any]) -> list[Case]:
    cases = []
    for route, rule in ROUTES.items():
        if rule.who in NOT_STAFF and rule.who != PUBLIC:
            continue
        params = PARAM.findall(route)
        variants = ["clinical", "admin"] if set(params) & set(VARIANT_PARAMS) else [""]
        for variant in variants:
            filled = _ids_for(route, ids, variant)
            url = "/" + fill(route, filled)
            for method in rule.methods:
                if method == "GET":
                    query = _filled(rule.query, filled)
                    cases.append(
                        Case(f"GET {route} {variant}", "GET", url + ("?" + query if query else ""), rule, variant)
                    )
                else:
                    data = {k: _filled(v, filled) for k, v in rule.data.items()}
                    cases.append(Case(f"POST {route} {variant}", "POST", url, rule, variant, data))
            if route == "settings/replies/":
                data = dict(REPLIES_CREATE.data)
                cases.append(Case("POST settings/replies/ (create)", "POST", url, REPLIES_CREATE, "", data))
    return cases


def api_cases(ids: dict[str, Any]) -> list[Case]:
    cases = []
    for (method, path), rule in API.items():
        variants = ["clinical", "admin"] if set(re.findall(r"\{(\w+)\}", path)) & set(VARIANT_PARAMS) else [""]
        for variant in variants:
            filled = _ids_for(path, ids, variant)
            url = "/api/v1" + fill(path, filled)
            query = _filled(rule.query, filled)
            data = {k: _filled(v, filled) for k, v in rule.data.items()} if method != "GET" else None
            cases.append(
                Case(
                    f"api {method} {path} {variant}".strip(),
                    method,
                    url + ("?" + query if query else ""),
                    rule,
                    variant,
                    data,
                )
            )
    return cases


def expected(rule: R, perms: set[str] | None, confidential: bool, variant: str) -> bool:
    """Whether the case is allowed: perms None is the practice token (acts for the practice)."""
    if perms is None:
        return True
    if rule.who == BREAK_GLASS:
        return bool(perms & {"break glass", "read clinical"})
    if rule.who not in (PUBLIC, ANY_STAFF) and rule.who not in perms:
        return False
    restricted = confidential and "read clinical" not in perms
    return not (rule.clinical == GATE and restricted and variant == "clinical")


def body_of(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def clinical_state(conversation_id: int) -> tuple[Any, ...]:
    return tuple(
        Conversation.objects.filter(pk=conversation_id)
        .values_list("category", "assignee_id", "status", "priority")
        .get()
    )


def request(
    client: Client, case: Case, *, api_call: bool = False, token: str = ""
) -> tuple[int, str, str, tuple[Any, ...] | None]:
    """(status, body, redirect, the clinical conversation's state after it) of one case, made in
    a savepoint that is rolled back."""
    sid = transaction.savepoint()
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if api_call:
            payload = json.dumps(case.data) if case.data is not None else None
            if payload is None:
                response = client.generic(case.method, case.url, headers=headers)
            else:
                response = client.generic(
                    case.method, case.url, payload, content_type="application/json", headers=headers
                )
        elif case.method == "GET":
            response = client.get(case.url)
        else:
            response = client.post(case.url, case.data)
        after = clinical_state(case.clinical_id) if case.clinical_id else None
        return response.status_code, body_of(response), response.get("Location", ""), after
    finally:
        transaction.savepoint_rollback(sid)
        clear_cache()


def check(case: Case, status: int, body: str, location: str, *, allowed: bool, restricted: bool) -> str:
    """The problem with one answer, or ""."""
    if restricted and CLINICAL in body:
        return f"{case.label}: the clinical text reaches a role without 'read clinical' (status {status})"
    if case.rule.who == PUBLIC:  # answers anyone; absent (404) where not configured, e.g. the demo site
        return f"{case.label}: answered {status}" if status >= 500 else ""
    if allowed:
        if status >= 500 or status in (401, 403, 404, 405) or (status == 400 and not case.rule.form_refusal_ok):
            return f"{case.label}: allowed by the table, answered {status}: {body[:200]!r}"
        if status in (301, 302) and location.startswith("/login"):
            return f"{case.label}: allowed by the table, sent to sign in"
        readable = not restricted or case.variant == "clinical"  # (a clinical variant allowed: break-glass)
        if case.rule.shows and readable and case.method == "GET" and case.variant != "admin" and CLINICAL not in body:
            return f"{case.label}: a readable clinical conversation's text is missing (the marker check proves nothing)"
        return ""
    refused = (403, 404) if case.rule.hidden else (403,)
    if status not in refused:
        return f"{case.label}: forbidden by the table, answered {status} (expected {refused})"
    leaked = [marker for marker in MARKERS if marker in body]
    if leaked:
        return f"{case.label}: refused, but the answer quotes {leaked}"
    return ""


def run_cases(
    client: Client,
    cases: list[Case],
    perms: set[str] | None,
    confidential: bool,
    clinical_id: int,
    *,
    api_call: bool = False,
    token: str = "",
) -> tuple[int, list[str], set[str]]:
    problems, known = [], set()
    restricted = perms is not None and confidential and "read clinical" not in perms
    for case in cases:
        if perms is None and api_call:
            key = next(
                (k for k, r in API.items() if r is case.rule and case.label.startswith(f"api {k[0]} {k[1]}")), None
            )
            if key in STAFF_ONLY_API:
                status, body, _, _ = request(client, case, api_call=True, token=token)
                if status != 400:
                    problems.append(
                        f"{case.label}: a practice token must be told this is for staff (400), got {status}"
                    )
                continue
        if restricted and case.method != "GET":
            case.clinical_id = clinical_id
            before = clinical_state(clinical_id)
        status, body, location, after = request(client, case, api_call=api_call, token=token)
        allowed = expected(case.rule, perms, confidential, case.variant)
        problem = check(case, status, body, location, allowed=allowed, restricted=restricted)
        if not problem and after is not None and after != before:
            problem = (
                f"{case.label}: a role without 'read clinical' changed the clinical conversation {before} → {after}"
            )
        if case.label in KNOWN:
            if problem:
                known.add(case.label)
                continue
            if restricted:
                problems.append(f"{case.label}: listed in KNOWN ({KNOWN[case.label]}) but passes now: remove it")
        if problem:
            problems.append(problem)
    return len(cases), problems, known


ROLE_CASES = [
    pytest.param(role, on, id=f"{role.value}-{'confidential' if on else 'open'}")
    for role in ROLES
    for on in (False, True)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "confidential"), ROLE_CASES)
def test_role_walk_pages(world: dict[str, Any], role: Role, confidential: bool) -> None:
    set_confidentiality(world, confidential)
    client = Client()
    client.force_login(world["staff"][role].user)
    cases = web_cases(world["ids"])
    count, problems, _known = run_cases(
        client, cases, MATRIX[role.label], confidential, world["ids"]["clinical_conversation"]
    )
    assert not problems, f"{len(problems)} role-walk problems for {role.label}:\n" + "\n".join(problems)
    print(f"role walk: {role.label}, confidentiality {'on' if confidential else 'off'}: {count} requests")


API_CASES = [
    pytest.param(role, on, id=f"{role.value if role else 'token'}-{'confidential' if on else 'open'}")
    for role in [*ROLES, None]
    for on in (False, True)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "confidential"), API_CASES)
def test_role_walk_api(world: dict[str, Any], role: Role | None, confidential: bool) -> None:
    from converge.practices.services import api_token_create

    set_confidentiality(world, confidential)
    client = Client()
    token = ""
    if role is None:
        _token, token = api_token_create(practice=world["practice"], name="walk")
    else:
        client.force_login(world["staff"][role].user)
    perms = MATRIX[role.label] if role is not None else None
    count, problems, _known = run_cases(
        client,
        api_cases(world["ids"]),
        perms,
        confidential,
        world["ids"]["clinical_conversation"],
        api_call=True,
        token=token,
    )
    assert not problems, (
        f"{len(problems)} API role-walk problems for {role.label if role else 'a practice token'}:\n"
        + "\n".join(problems)
    )
    print(
        f"role walk: API as {role.label if role else 'token'}, confidentiality {'on' if confidential else 'off'}: {count} requests"
    )


@pytest.mark.django_db
def test_break_glass_opens_the_clinical_conversation_for_a_role_without_read_clinical(world: dict[str, Any]) -> None:
    """The one way round the gate: a front-desk grant for the patient opens every GATE route of
    the clinical conversation (and its text), with confidentiality on."""
    from converge.patients.models import Patient
    from converge.privacy.access import break_glass

    set_confidentiality(world, True)
    desk = world["staff"][Role.FRONT_DESK]
    break_glass(
        staff=desk, patient=Patient.objects.get(pk=world["ids"]["clinical_patient"]), reason="patient on the phone"
    )
    client = Client()
    client.force_login(desk.user)
    gated = [
        c for c in web_cases(world["ids"]) if c.rule.clinical == GATE and c.variant == "clinical" and c.method == "GET"
    ]
    assert len(gated) >= 6
    for case in gated:
        status, body, location, _ = request(client, case)
        assert check(case, status, body, location, allowed=True, restricted=False) == "", case.label
