"""Routing: classify each patient message, decide team, priority and response target, assign,
handle urgent messages (alert, safety reply, escalation) and after-hours replies."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction

from converge.audit.services import audit_record
from converge.conversations.models import Conversation, ConversationEvent, Message, Priority
from converge.core import clock, events
from converge.core.localcache import LocalCache
from converge.patients.models import ContactPoint
from converge.practices.models import Practice, StaffMember, Team
from converge.providers.types import ChannelKind
from converge.routing.models import (
    DEFAULT_RULES,
    AssignmentMode,
    Correction,
    RoutingRule,
    RoutingSettings,
    TeamAssignment,
    UrgentAlert,
)
from converge.routing.selectors import routing_settings_read, rules_read

log = logging.getLogger(__name__)

# Which category wins when a conversation's messages disagree: the more clinical one.
SEVERITY = {"": 0, "administrative": 1, "scheduling": 2, "refill": 3, "clinical": 4, "urgent": 5}
SKIP_KINDS = frozenset({"auto_reply", "reaction", "unsupported"})


def routing_settings(practice_id: int) -> RoutingSettings:
    """For the settings saves only (privacy.services): creates the practice's row on first use.
    Readers use routing.selectors.routing_settings_read, which never writes."""
    settings, _ = RoutingSettings.objects.get_or_create(practice_id=practice_id)
    return settings


_settings_cache: LocalCache[RoutingSettings] = LocalCache("routing-settings", watch=[RoutingSettings])
_rules_cache: LocalCache[dict[str, RoutingRule]] = LocalCache("routing-rules", watch=[RoutingRule, Team])
_assignment_modes: LocalCache[str | None] = LocalCache("assignment-modes", watch=[TeamAssignment])


def cached_routing_settings(practice_id: int) -> RoutingSettings:
    """Read-only, for the inbound pipeline (see converge.core.localcache): the row, or unsaved
    defaults (a practice that never saved its policies has none, and a message does not make one)."""
    return _settings_cache.get(practice_id, lambda: routing_settings_read(practice_id))


def cached_rules(practice_id: int) -> dict[str, RoutingRule]:
    """Read-only, for the inbound pipeline (see converge.core.localcache); a category with no row
    reads as its unsaved default."""
    return _rules_cache.get(practice_id, lambda: rules_read(practice_id))


def rules_for(practice_id: int) -> dict[str, RoutingRule]:
    """For rule_update only: the rules as rows, creating the missing categories' rows. Readers use
    routing.selectors.rules_read (unsaved defaults, no write)."""
    rules = {r.category: r for r in RoutingRule.objects.filter(practice_id=practice_id).select_related("team")}
    missing = [c for c in DEFAULT_RULES if c not in rules]
    if missing:
        teams = {t.slug: t for t in Team.objects.filter(practice_id=practice_id)}
        for category in missing:
            slug, priority, minutes = DEFAULT_RULES[category]
            rules[category], _ = RoutingRule.objects.get_or_create(
                practice_id=practice_id,
                category=category,
                defaults={"team": teams.get(slug), "priority": priority, "response_minutes": minutes},
            )
    return rules


def rule_update(
    *, practice_id: int, category: str, actor: object, team: Team | None, priority: int, response_minutes: int
) -> RoutingRule:
    if category not in DEFAULT_RULES:
        raise ValueError(f"category: must be one of {', '.join(DEFAULT_RULES)}")
    if team is not None and team.practice_id != practice_id:
        raise ValueError("team: not found")
    if priority not in Priority.values:
        raise ValueError("priority: must be 0-3")
    if not 1 <= response_minutes <= 7 * 24 * 60:
        raise ValueError("response_minutes: between 1 minute and 7 days")
    rule = rules_for(practice_id)[category]
    with transaction.atomic():
        rule.team, rule.priority, rule.response_minutes = team, priority, response_minutes
        rule.save(update_fields=["team", "priority", "response_minutes"])
        audit_record(
            practice_id=practice_id,
            actor=actor,
            action="routing.rule",
            obj=rule,
            detail={"category": category, "team": team.pk if team else None, "priority": priority},
        )
    return rule


def _is_reminder_reply(message: Message) -> bool:
    from converge.reminders.replies import has_open_prompt

    return has_open_prompt(message)


def _needs_triage(message: Message) -> bool:
    # Carrier keywords (STOP, HELP, ...) are answered by the opt-out handling, not triaged.
    if message.kind in SKIP_KINDS or not message.body.strip() or message.metadata.get("keyword"):
        return False
    from converge.providers.twilio.protocol import classify_keyword

    return not (message.channel.kind == ChannelKind.SMS and classify_keyword(message.body))


def classify_inbound(message: Message) -> None:
    """Triage a patient message before it is stored; the result goes into its metadata."""
    if not _needs_triage(message):
        return
    from converge.routing.classifier import classify

    result = classify(message.body, is_reply_to_reminder=_is_reminder_reply(message))
    message.metadata = {**message.metadata, "classification": result.as_dict()}


def route_inbound(*, conversation: Conversation, message: Message, first_message: bool = False) -> None:
    """Route a stored message's conversation by its triage (classify_inbound). The caller saves
    the conversation. `first_message`: the message started the conversation, so nothing of ours
    has been sent in it yet."""
    if not _needs_triage(message):
        if conversation.team_id is None:
            conversation.team_id = conversation.practice.default_team_id
        return
    if "classification" not in message.metadata:  # stored without triage
        classify_inbound(message)
        Message.objects.filter(pk=message.pk).update(metadata=message.metadata)
    result = message.metadata["classification"]
    rules = cached_rules(conversation.practice_id)
    category = result["category"]
    if SEVERITY.get(category, 0) >= SEVERITY.get(conversation.category, 0) or not conversation.category:
        rule = rules[category]
        previous_team = conversation.team_id
        conversation.category = category
        if rule.team_id is not None:
            conversation.team_id = rule.team_id
        conversation.priority = max(conversation.priority, rule.priority)
        if previous_team != conversation.team_id and conversation.assignee_id is not None:
            conversation.assignee_id = None  # the new team decides who answers
        if conversation.team_id is not None:
            _auto_assign(conversation)
    elif conversation.team_id is None:
        conversation.team_id = conversation.practice.default_team_id
    if result["urgent"]:
        _urgent(conversation, message, first_message)
    else:
        _after_hours(conversation, message, first_message)


def _online_staff_ids(practice_id: int) -> set[int]:
    from converge.connectors.models import StaffPresence
    from converge.connectors.webchat_availability import PRESENCE_TTL

    return set(
        StaffPresence.objects.filter(practice_id=practice_id, last_seen_at__gte=clock.now() - PRESENCE_TTL).values_list(
            "staff_id", flat=True
        )
    )


def _auto_assign(conversation: Conversation) -> None:
    if conversation.assignee_id is not None:
        return
    if conversation.team_id is None:
        return
    team_id = conversation.team_id
    mode = _assignment_modes.get(
        team_id, lambda: TeamAssignment.objects.filter(team_id=team_id).values_list("mode", flat=True).first()
    )
    if mode is None or mode == AssignmentMode.MANUAL:
        return  # most teams: no read of the round-robin state at all
    setting = TeamAssignment.objects.filter(team_id=team_id).first()
    if setting is None or setting.mode == AssignmentMode.MANUAL:
        return
    online = _online_staff_ids(conversation.practice_id)
    members = list(StaffMember.objects.filter(teams=conversation.team_id, is_active=True, pk__in=online).order_by("pk"))
    if not members:
        return
    from django.db.models import Count, Q

    loads = dict(
        Conversation.objects.filter(assignee__in=members)
        .exclude(status="resolved")
        .values_list("assignee")
        .annotate(n=Count("id", filter=Q(status__in=["open", "pending"])))
    )
    available = [m for m in members if loads.get(m.pk, 0) < setting.capacity]
    if not available:
        return
    if setting.mode == AssignmentMode.LEAST_LOADED:
        chosen = min(available, key=lambda m: (loads.get(m.pk, 0), m.pk))
    else:
        after = [m for m in available if setting.last_assigned_id is None or m.pk > setting.last_assigned_id]
        chosen = (after or available)[0]
    conversation.assignee_id = chosen.pk
    TeamAssignment.objects.filter(pk=setting.pk).update(last_assigned=chosen)
    ConversationEvent.objects.create(
        practice_id=conversation.practice_id,
        conversation=conversation,
        kind="assigned",
        text=f"Assigned to {chosen.display_name} automatically",
        created_at=clock.now(),
    )


def _auto_reply(conversation: Conversation, message: Message, body: str, tag: str) -> None:
    from converge.conversations.services import ServiceError, message_queue

    try:
        message_queue(
            conversation=conversation,
            channel=message.channel,
            body=body,
            sender=None,
            is_automatic=True,
            metadata={"auto_reply": tag},
            contact=_sender_address(conversation, message),
            # Safety instructions reach the patient's phone as written, never behind a portal link.
            our_wording=tag == "safety",
        )
    except ServiceError:
        log.info("automatic %s reply not sent conversation=%s", tag, conversation.pk)


def _sender_address(conversation: Conversation, message: Message) -> ContactPoint | None:
    """The address the patient just wrote from, when it can take the answer; otherwise None and
    message_queue looks for one (after an opt-out, or a merge that moved the patient)."""
    contact = message.contact_point
    if contact is None or contact.opted_out_at is not None or contact.patient_id != conversation.patient_id:
        return None
    return contact if contact.kind == message.channel.kind else None


def _recent_auto_reply(conversation: Conversation, tag: str, since: datetime) -> bool:
    return Message.objects.filter(conversation=conversation, metadata__auto_reply=tag, created_at__gte=since).exists()


def reply_language(conversation: Conversation, message: Message) -> str:
    """The patient's language when we know them; otherwise the language they wrote in."""
    from converge.routing.texts import guess_language

    patient = conversation.patient
    if patient.is_verified:
        return "es" if patient.language == "es" else "en"
    guessed = guess_language(message.body)
    if guessed != patient.language:
        patient.language = guessed
        patient.save(update_fields=["language", "updated_at"])
    return guessed


def _urgent(conversation: Conversation, message: Message, first_message: bool) -> None:
    from converge.routing.oncall import escalation_start
    from converge.routing.texts import safety_text

    now = clock.now()
    conversation.priority = Priority.URGENT
    alert = UrgentAlert.objects.create(
        practice_id=conversation.practice_id, conversation=conversation, message=message, created_at=now
    )
    settings = cached_routing_settings(conversation.practice_id)
    escalation_start(alert, ack_minutes=settings.urgent_ack_minutes)
    ConversationEvent.objects.create(
        practice_id=conversation.practice_id,
        conversation=conversation,
        kind="urgent",
        text="Flagged urgent: " + ", ".join(message.metadata["classification"]["reasons"][:3]),
        created_at=now,
    )
    events.publish_on_commit(
        [events.practice_group(conversation.practice_id)],
        {"type": "conversation.urgent", "conversation_id": conversation.pk},
    )
    # A conversation the message just started holds nothing of ours yet: no query for it.
    if settings.safety_reply and (
        first_message or not _recent_auto_reply(conversation, "safety", now - timedelta(hours=1))
    ):
        text = safety_text(
            list(message.metadata["classification"].get("families", [])),
            reply_language(conversation, message),
            practice=conversation.practice.name,
            emergency=settings.emergency_number,
            crisis=settings.crisis_line,
            poison=settings.poison_control,
        )
        _auto_reply(conversation, message, text, "safety")


def _after_hours(conversation: Conversation, message: Message, first_message: bool) -> None:
    from converge.practices.hours import next_opening, practice_open_now
    from converge.routing.texts import AFTER_HOURS, when_text

    practice: Practice = conversation.practice
    now = clock.now()
    if not cached_routing_settings(practice.pk).after_hours_reply or practice_open_now(practice, now):
        return
    if message.metadata.get("reply_id") or _is_reminder_reply(message):
        return  # answers to our own questions are handled without a person
    opening = next_opening(practice, now)
    if opening is None or (
        not first_message and _recent_auto_reply(conversation, "after_hours", now - timedelta(hours=12))
    ):
        return
    language = reply_language(conversation, message)
    text = AFTER_HOURS[language].format(
        practice=practice.name, when=when_text(opening, now.astimezone(opening.tzinfo), language)
    )
    _auto_reply(conversation, message, text, "after_hours")


def urgent_acknowledge(*, conversation: Conversation, staff: StaffMember, ip: str = "") -> int:
    """A staff member has seen the conversation's urgent alerts and acts on them: they stop
    escalating and leave every staff page (a live `urgent.acknowledged` event says who and when).
    Idempotent: alerts already acknowledged, by a colleague a moment earlier say, are left as they
    are and nothing is written. The caller checks that `staff` may read the conversation."""
    from zoneinfo import ZoneInfo

    from converge.core.clock import clock_label

    now = clock.now()
    with transaction.atomic():
        open_alerts = UrgentAlert.objects.filter(conversation=conversation, acknowledged_at__isnull=True)
        paging = open_alerts.filter(page_step__gt=0, next_escalation_at__isnull=False).exists()
        count = open_alerts.update(acknowledged_at=now, acknowledged_by=staff, next_escalation_at=None)
        if not count:
            return 0
        audit_record(
            practice_id=conversation.practice_id,
            actor=staff,
            action="urgent.acknowledge",
            obj=conversation,
            patient_id=conversation.patient_id,
            detail={"alerts": count, "paging_stopped": paging},
            ip=ip,
        )
        ConversationEvent.objects.create(
            practice_id=conversation.practice_id,
            conversation=conversation,
            kind="urgent_ack",
            actor=staff,
            text=f"Urgent alert acknowledged by {staff.display_name}" + (": on-call paging stopped" if paging else ""),
            created_at=now,
        )
        local = now.astimezone(ZoneInfo(conversation.practice.time_zone))
        # Ids, a colleague's name and a time: no patient data (converge.core.events).
        events.publish_on_commit(
            [events.practice_group(conversation.practice_id)],
            {
                "type": "urgent.acknowledged",
                "conversation_id": conversation.pk,
                "staff_id": staff.pk,
                "staff_name": staff.display_name,
                "acknowledged_at": now.isoformat(),
                "time_label": clock_label(local),
            },
        )
    return count


def urgent_escalate_due() -> int:
    """Page the next on-call person about urgent alerts nobody acknowledged in time, through the
    outbox (converge.routing.oncall). Returns how many pages were queued."""
    from converge.routing.oncall import escalate_due

    return escalate_due()


def message_recategorise(*, message: Message, category: str, staff: StaffMember) -> Correction:
    if category not in DEFAULT_RULES:
        raise ValueError(f"category: must be one of {', '.join(DEFAULT_RULES)}")
    old = (message.metadata.get("classification") or {}).get("category", "")
    with transaction.atomic():
        correction = Correction.objects.create(
            practice_id=message.practice_id,
            message=message,
            old_category=old,
            new_category=category,
            staff=staff,
            created_at=clock.now(),
        )
        metadata = {**message.metadata, "corrected_category": category}
        Message.objects.filter(pk=message.pk).update(metadata=metadata)
        conversation = message.conversation
        rule = rules_read(message.practice_id)[category]
        conversation.category = category
        if rule.team_id is not None:
            conversation.team_id = rule.team_id
        conversation.priority = rule.priority
        conversation.updated_at = clock.now()
        conversation.save(update_fields=["category", "team", "priority", "updated_at"])
        audit_record(
            practice_id=message.practice_id,
            actor=staff,
            action="routing.correct",
            obj=message,
            patient_id=message.patient_id,
            detail={"from": old, "to": category},
        )
        events.publish_on_commit(
            [events.practice_group(message.practice_id)],
            {"type": "conversation.updated", "conversation_id": conversation.pk},
        )
    return correction
