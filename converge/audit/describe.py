"""The audit log in a practice manager's words: what each action code means, who did it and what
it was done to, by name. Names are resolved in bulk for one page of rows (one or two queries per
kind of object on the page, never one per row).

The CSV export keeps the raw codes and ids: it is the machine-readable record."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.db.models import Model

from converge.audit.models import AuditEvent

# Every action code written by audit_record in the codebase (tests/audit/test_audit_page.py walks
# the source and fails on a code missing here). Unknown codes still read well: see action_label.
ACTIONS: dict[str, str] = {
    "api_token.create": "Created an API token",
    "appointment.book": "Booked appointment",
    "appointment.move": "Moved appointment",
    "appointment.read": "Viewed appointment",
    "appointment.status": "Changed appointment status",
    "appointments.import": "Imported appointments",
    "attachment.download": "Downloaded attachment",
    "audit.export": "Exported the audit log",
    "audit.read": "Viewed the audit log",
    "auth.idle_logout": "Signed out (idle)",
    "auth.lockout": "Locked out after failed sign-ins",
    "auth.login": "Signed in",
    "auth.login_failed": "Failed sign-in",
    "auth.logout": "Signed out",
    "auth.mfa_enrolled": "Set up two-step sign-in",
    "auth.mfa_reset": "Reset two-step sign-in",
    "auth.mfa_verified": "Passed two-step sign-in",
    "auth.recovery_code_used": "Signed in with a recovery code",
    "auth.recovery_codes_issued": "Issued recovery codes",
    "canned_response.create": "Created canned response",
    "canned_response.delete": "Deleted canned response",
    "canned_response.update": "Edited canned response",
    "channel.check": "Tested channel",
    "channel.create": "Added channel",
    "channel.credentials_update": "Changed channel credentials",
    "channel.disable": "Turned channel off",
    "channel.enable": "Turned channel on",
    "contact.failing": "Marked contact as failing",
    "contact_point.add": "Added contact details",
    "contact_point.update": "Changed contact details",
    "conversation.assign": "Assigned conversation",
    "conversation.read": "Viewed conversation",
    "conversation.status": "Changed conversation status",
    "conversation.triage": "Triaged conversation",
    "email.quarantine": "Quarantined email",
    "email.quarantine.read": "Viewed quarantined email",
    "follow_up.done": "Completed follow-up",
    "mention.list": "Viewed mentions",
    "message.failed": "Message delivery failed",
    "message.queue": "Sent reply",
    "message.receive": "Received message",
    "message.retry": "Retried message",
    "message.sent": "Message delivered to provider",
    "message.status": "Message status update",
    "note.add": "Added internal note",
    "note.mention": "Mentioned a colleague",
    "patient.create": "Created patient",
    "patient.export": "Exported patient record",
    "patient.import": "Imported patients",
    "patient.merge": "Merged patient records",
    "patient.merged_into": "Patient record merged into another",
    "patient.read": "Viewed patient record",
    "patient.search": "Searched patients",
    "patient.update": "Edited patient record",
    "phi.converted_to_portal": "Sent reply through the secure portal",
    "phi.override": "Sent clinical reply in plain message (override)",
    "portal.check_failed": "Failed portal date-of-birth check",
    "portal.enter": "Opened secure portal",
    "portal.read": "Read messages in the secure portal",
    "oncall.shift_add": "Added on-call shift",
    "oncall.shift_remove": "Removed on-call shift",
    "practice.create": "Created practice",
    "practice.first_run": "Set up the practice (first run)",
    "practice.hours": "Changed opening hours",
    "practice.team_create": "Added a team",
    "privacy.break_glass": "Used emergency access",
    "practice.staff_seats": "Changed the staff seat limit",
    "privacy.settings": "Changed privacy settings",
    "recall.send": "Sent recall message",
    "reminder.send": "Sent appointment reminder",
    "retention.purge_messages": "Deleted old messages (retention)",
    "routing.correct": "Corrected message routing",
    "routing.export_corrections": "Exported routing corrections",
    "routing.on_call": "Changed on-call list",
    "routing.rule": "Changed routing rule",
    "routing.urgent_ack": "Changed how soon urgent alerts must be acknowledged",
    "search": "Searched",
    "simulator_log.read": "Viewed simulator log",
    "staff.create": "Added staff member",
    "staff.disable": "Deactivated staff member",
    "staff.enable": "Reactivated staff member",
    "staff.invite": "Invited staff member",
    "staff.invite_accept": "Accepted staff invitation",
    "staff.invite_revoke": "Withdrew staff invitation",
    "staff.invite_sent": "Emailed staff invitation",
    "staff.invite_mail_failed": "Could not email staff invitation",
    "staff.role": "Changed staff role",
    "staff.teams": "Changed staff teams",
    "staff_list.read": "Viewed staff list",
    "teamchat.channel_create": "Created a team channel",
    "teamchat.message_delete": "Deleted a team message",
    "teamchat.message_edit": "Edited a team message",
    "teamchat.retention_purge": "Deleted team messages past retention",
    "teamchat.thread_read": "Viewed a direct team message about a patient",
    "teamchat.topic_read": "Viewed a team topic about a patient",
    "teamchat.topic_start": "Started a team topic",
    "urgent.acknowledge": "Acknowledged urgent alert",
    "urgent.escalate": "Escalated urgent alert",
    "urgent.escalation_stopped": "Stopped on-call paging: nobody acknowledged",
    "urgent.page": "Paged on-call staff",
    "urgent.page_cancelled": "On-call page not sent: alert acknowledged",
    "urgent.page_failed": "On-call page failed",
    "urgent.page_not_sent": "On-call page not sent (not configured)",
    "urgent.page_sent": "On-call page sent",
    "waitlist.add": "Added to waitlist",
    "waitlist.fill": "Filled slot from waitlist",
    "waitlist.remove": "Removed from waitlist",
    "whatsapp_template.delete": "Deleted WhatsApp template",
    "whatsapp_template.save": "Saved WhatsApp template",
}

# The action filter's groups: a prefix a manager can pick without knowing the codes.
ACTION_GROUPS: list[tuple[str, str]] = [
    ("auth.", "Sign-ins and sign-outs"),
    ("patient.", "Patient records"),
    ("conversation.", "Conversations"),
    ("message.", "Messages"),
    ("note.", "Internal notes"),
    ("appointment", "Appointments"),
    ("reminder.", "Reminders"),
    ("waitlist.", "Waitlist"),
    ("portal.", "Secure portal"),
    ("phi.", "Clinical-content checks"),
    ("privacy.", "Privacy and emergency access"),
    ("urgent.", "Urgent alerts"),
    ("staff", "Staff accounts"),
    ("channel.", "Channels"),
    ("teamchat.", "Team messages"),
    ("audit.", "Audit log"),
]


def action_label(code: str) -> str:
    """Plain words for an action code; an unknown code reads as a sentence ("foo_bar.baz_qux" ->
    "Foo bar: baz qux") rather than as a code."""
    if code in ACTIONS:
        return ACTIONS[code]
    parts = [p.replace("_", " ").strip() for p in code.split(".") if p.strip()]
    if not parts:
        return "Unknown action"
    text = ": ".join(parts)
    return text[0].upper() + text[1:]


ACTORS = {
    "system": "Converge (automatic)",
    "patient": "Patient",
    "patient-portal": "Patient (secure portal)",
    "cli": "Command line",
    "mllp": "Scheduling system (HL7 feed)",
}


@dataclass(frozen=True)
class Row:
    event: AuditEvent
    who: str
    action: str
    what: str
    patient: str
    detail: str


# A resolved object: its label, with "{patient}" standing for the name of patient_id.
Resolved = tuple[str, int | None]
Resolver = Callable[[int, list[int], ZoneInfo], dict[int, Resolved]]


def _when(value: datetime, zone: ZoneInfo) -> str:
    local = value.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y} {local:%H:%M}"


def _conversation(conversation_id: int, patient_id: int | None) -> str:
    return f"#{conversation_id} with {{patient}}" if patient_id else f"#{conversation_id}"


def _patients(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
    return {i: ("{patient}", i) for i in ids}


def _appointments(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
    model = apps.get_model("scheduling", "Appointment")
    rows = model.objects.filter(practice_id=practice_id, id__in=ids).values_list(
        "id", "start", "provider__display_name", "patient_id"
    )
    return {i: (f"Appointment {_when(start, zone)} with {provider}", pid) for i, start, provider, pid in rows}


def _reminders(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
    model = apps.get_model("reminders", "Reminder")
    rows = model.objects.filter(practice_id=practice_id, id__in=ids).values_list(
        "id", "kind", "appointment__start", "appointment__provider__display_name", "appointment__patient_id"
    )
    return {
        i: (f"{kind} reminder for appointment {_when(start, zone)} with {provider}", pid)
        for i, kind, start, provider, pid in rows
    }


def _by_patient(app: str, name: str, words: str) -> Resolver:
    def resolve(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
        model = apps.get_model(app, name)
        rows = model.objects.filter(practice_id=practice_id, id__in=ids).values_list("id", "patient_id")
        return {i: (f"{words} {{patient}}", pid) for i, pid in rows}

    return resolve


def _conversations(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
    model = apps.get_model("conversations", "Conversation")
    rows = model.objects.filter(practice_id=practice_id, id__in=ids).values_list("id", "patient_id")
    return {i: ("Conversation " + _conversation(i, pid), pid) for i, pid in rows}


def _in_conversation(app: str, name: str, words: str, path: str = "conversation") -> Resolver:
    def resolve(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
        model = apps.get_model(app, name)
        rows = model.objects.filter(practice_id=practice_id, id__in=ids).values_list(
            "id", f"{path}_id" if path == "conversation" else f"{path}__id", f"{path}__patient_id"
        )
        return {i: (f"{words} in conversation " + _conversation(cid, pid), pid) for i, cid, pid in rows}

    return resolve


def _messages(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
    model = apps.get_model("conversations", "Message")
    rows = model.objects.filter(practice_id=practice_id, id__in=ids).values_list(
        "id", "direction", "conversation_id", "patient_id"
    )
    return {
        i: (
            f"{'Incoming' if direction == 'in' else 'Outgoing'} message in conversation " + _conversation(cid, pid),
            pid,
        )
        for i, direction, cid, pid in rows
    }


def _named(app: str, name: str, field: str, words: str, *, quoted: bool = True) -> Resolver:
    def resolve(practice_id: int, ids: list[int], zone: ZoneInfo) -> dict[int, Resolved]:
        model = apps.get_model(app, name)
        scope: dict[str, Any] = {"id__in": ids}
        if name != "Practice":
            scope["practice_id"] = practice_id
        elif practice_id not in ids:
            return {}
        rows = model.objects.filter(**scope).values_list("id", field)
        shown = "“{}”" if quoted else "{}"
        return {i: (f"{words} {shown.format(value)}".strip(), None) for i, value in rows}

    return resolve


RESOLVERS: dict[str, Resolver] = {
    "patients.patient": _patients,
    "patients.contactpoint": _by_patient("patients", "ContactPoint", "Contact details of"),
    "scheduling.appointment": _appointments,
    "scheduling.waitlistentry": _by_patient("scheduling", "WaitlistEntry", "Waitlist entry for"),
    "scheduling.followupitem": _by_patient("scheduling", "FollowUpItem", "Follow-up for"),
    "reminders.reminder": _reminders,
    "conversations.conversation": _conversations,
    "conversations.message": _messages,
    "conversations.note": _in_conversation("conversations", "Note", "Note"),
    "conversations.attachment": _in_conversation(
        "conversations", "Attachment", "Attachment", path="message__conversation"
    ),
    "routing.urgentalert": _in_conversation("routing", "UrgentAlert", "Urgent alert"),
    "privacy.breakglassgrant": _by_patient("privacy", "BreakGlassGrant", "Emergency access to"),
    "connectors.channel": _named("connectors", "Channel", "name", "Channel"),
    "connectors.whatsapptemplate": _named("connectors", "WhatsAppTemplate", "name", "WhatsApp template"),
    "replies.cannedresponse": _named("replies", "CannedResponse", "title", "Canned response"),
    "practices.staffmember": _named("practices", "StaffMember", "display_name", "Staff member", quoted=False),
    "practices.practice": _named("practices", "Practice", "name", "Practice", quoted=False),
    "practices.apitoken": _named("practices", "ApiToken", "name", "API token"),
    "accounts.staffinvitation": _named("accounts", "StaffInvitation", "display_name", "Invitation for", quoted=False),
}


def _model_words(object_type: str) -> str:
    try:
        model: type[Model] = apps.get_model(object_type)
    except (LookupError, ValueError):
        return object_type.rsplit(".", 1)[-1].replace("_", " ").capitalize()
    return str(model._meta.verbose_name).capitalize()


def _patient_names(practice_id: int, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    from converge.patients.models import Patient

    patients = Patient.objects.filter(practice_id=practice_id, id__in=wanted).prefetch_related("contact_points")
    return {p.pk: p.display_name for p in patients}


def _detail(event: AuditEvent, staff_names: dict[int, str]) -> str:
    detail = event.detail if isinstance(event.detail, dict) else {}
    parts: list[str] = []
    if "from" in detail and "to" in detail:
        parts.append(f"{_word(detail['from'])} → {_word(detail['to'])}")
    for key, value in detail.items():
        if key in ("from", "to") and "from" in detail and "to" in detail:
            continue
        if value in (None, "", [], {}) or isinstance(value, dict | list):
            continue
        if key == "assignee" and isinstance(value, int):
            parts.append(f"to {staff_names.get(value, 'staff member')}")
        elif key in ("channel", "team") and isinstance(value, int):
            continue  # ids say nothing to a manager; the object column names what it was
        elif isinstance(value, bool):
            if value and not (key == "automatic" and event.action == "message.queue"):
                parts.append(key.replace("_", " "))
        else:
            parts.append(f"{key.replace('_', ' ')}: {_word(value)}")
    return "; ".join(parts)


def _word(value: object) -> str:
    return str(value).replace("_", " ")


def describe(events: list[AuditEvent], *, practice_id: int, tz: str) -> list[Row]:
    """One page of audit rows in plain words, with names resolved in bulk."""
    from converge.practices.models import StaffMember

    zone = ZoneInfo(tz)
    staff = list(StaffMember.objects.filter(practice_id=practice_id).values_list("pk", "user_id", "display_name"))
    by_user = {user_id: name for _, user_id, name in staff}
    by_pk = {pk: name for pk, _, name in staff}

    wanted: dict[str, set[int]] = defaultdict(set)
    for e in events:
        if e.object_type and e.object_id.isdigit() and len(e.object_id) < 19:
            wanted[e.object_type].add(int(e.object_id))
    resolved: dict[str, dict[int, Resolved]] = {}
    for object_type, ids in wanted.items():
        resolver = RESOLVERS.get(object_type)
        resolved[object_type] = resolver(practice_id, sorted(ids), zone) if resolver else {}

    channel_ids = {
        int(e.actor_label.split(":", 1)[1])
        for e in events
        if e.actor_label.startswith("channel:") and e.actor_label.split(":", 1)[1].isdigit()
    }
    channels: dict[int, str] = {}
    if channel_ids:
        from converge.connectors.models import Channel

        channels = dict(Channel.objects.filter(practice_id=practice_id, id__in=channel_ids).values_list("id", "name"))

    patient_ids = {e.patient_id for e in events if e.patient_id}
    patient_ids |= {pid for labels in resolved.values() for _, pid in labels.values() if pid}
    names = _patient_names(practice_id, patient_ids)

    def patient_name(pid: int | None) -> str:
        if not pid:
            return ""
        return names.get(pid, f"Deleted patient #{pid}")

    rows = []
    for e in events:
        what = ""
        if e.object_type:
            found = resolved.get(e.object_type, {}).get(int(e.object_id)) if e.object_id.isdigit() else None
            if found is not None:
                label, pid = found
                what = label.replace("{patient}", patient_name(pid) or "unknown patient")
            else:
                gone = " (deleted)" if e.object_type in RESOLVERS else ""
                what = f"{_model_words(e.object_type)} #{e.object_id}{gone}"
        rows.append(
            Row(
                event=e,
                who=_actor(e, by_user, channels, patient_name(e.patient_id)),
                action=_action(e),
                what=what,
                patient=patient_name(e.patient_id),
                detail=_detail(e, by_pk),
            )
        )
    return rows


def _action(e: AuditEvent) -> str:
    if e.action == "message.queue" and not e.actor_user_id:
        return "Sent automatic message" if (e.detail or {}).get("automatic") else "Sent message"
    return action_label(e.action)


def _actor(e: AuditEvent, by_user: dict[int, str], channels: dict[int, str], patient: str) -> str:
    if e.actor_user_id:
        return by_user.get(e.actor_user_id, "Former staff member")
    label = e.actor_label
    if label.startswith("channel:"):
        key = label.split(":", 1)[1]
        name = channels.get(int(key)) if key.isdigit() else None
        if patient:
            return f"{patient} via “{name}”" if name else patient
        return f"Incoming on “{name}”" if name else "Incoming message"
    if label in ("patient", "patient-portal") and patient:
        return f"{patient} ({'secure portal' if label == 'patient-portal' else 'patient'})"
    if label.startswith("staff:"):
        return "Former staff member"
    return ACTORS.get(label, label or "Unknown")
