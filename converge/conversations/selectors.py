"""Reads of conversations for a principal: always scoped to its practice; reads of a patient's
messages write an audit row."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import (
    Case,
    Exists,
    Func,
    IntegerField,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.http import Http404

from converge.audit.services import audit_record
from converge.connectors.models import Channel
from converge.conversations.models import (
    STAFF_PAGE_KIND,
    Attachment,
    Conversation,
    ConversationEvent,
    ConversationRead,
    Direction,
    Mention,
    Message,
    Note,
    Priority,
)
from converge.core import clock
from converge.core.principal import Principal
from converge.patients.models import ContactPoint
from converge.practices.models import Practice, StaffMember
from converge.privacy import access
from converge.providers.types import ChannelKind, DeliveryStatus

INBOX_VIEWS = ("all", "mine", "unassigned", "urgent", "snoozed", "resolved")


@dataclass(frozen=True)
class ConversationFilter:
    view: str = "all"
    team_id: int | None = None
    status: str | None = None
    updated_since: datetime | None = None
    before: tuple[datetime, int] | None = None
    # inbox_page only: whether the row `before` points at was pinned (see `pinned_q`).
    before_pinned: bool = False


class ClinicalRestricted(PermissionDenied):
    """A clinical conversation under the practice's clinical confidentiality: readable by
    clinical roles, or with break-glass access (POST /api/v1/patients/{id}/break-glass)."""

    def __init__(self, patient_id: int) -> None:
        super().__init__("clinical conversation: clinical staff only (emergency access needs a reason)")
        self.patient_id = patient_id


def scoped(principal: Principal) -> QuerySet[Conversation]:
    """The conversations this principal may see: its practice's, minus clinical ones it may not read."""
    return access.visible(Conversation.objects.filter(practice_id=principal.practice_id), principal)


def conversation_list(*, principal: Principal, filters: ConversationFilter, limit: int = 50) -> list[Conversation]:
    qs: QuerySet[Conversation] = scoped(principal)
    if filters.view == "mine" and principal.staff is not None:
        qs = qs.filter(assignee=principal.staff).exclude(status__in=["resolved", "snoozed"])
    elif filters.view == "unassigned":
        qs = qs.filter(assignee__isnull=True, status__in=["open", "pending"])
    elif filters.view == "urgent":
        qs = qs.filter(priority=3, status__in=["open", "pending"])
    elif filters.view in ("snoozed", "resolved"):
        qs = qs.filter(status=filters.view)
    else:
        qs = qs.filter(status__in=["open", "pending"])
    if filters.team_id is not None:
        qs = qs.filter(team_id=filters.team_id)
    if filters.status is not None:
        qs = qs.filter(status=filters.status)
    if filters.updated_since is not None:
        qs = qs.filter(updated_at__gt=filters.updated_since).order_by("updated_at", "id")
    else:
        qs = qs.order_by("-last_message_at", "-id")
        if filters.before is not None:
            at, pk = filters.before
            qs = qs.filter(Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk))
    return list(qs.select_related("patient", "assignee", "team")[:limit])


def conversation_get(*, principal: Principal, conversation_id: int, audit: bool = True) -> Conversation:
    conversation = (
        Conversation.objects.select_related("patient", "assignee", "team")
        .filter(practice_id=principal.practice_id, pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise Http404("conversation not found")
    if not access.may_read(conversation, principal):
        raise ClinicalRestricted(conversation.patient_id)
    if audit:
        audit_record(
            practice_id=principal.practice_id,
            actor=principal.actor,
            action="conversation.read",
            obj=conversation,
            patient_id=conversation.patient_id,
            ip=principal.ip,
        )
    return conversation


def message_list(*, conversation: Conversation, after_id: int | None = None, limit: int = 200) -> list[Message]:
    qs = Message.objects.filter(practice_id=conversation.practice_id, conversation=conversation).exclude(
        kind=STAFF_PAGE_KIND
    )
    if after_id is not None:
        qs = qs.filter(id__gt=after_id).order_by("created_at", "id")
        return list(qs.select_related("channel", "sender")[:limit])
    # The newest `limit` messages, oldest first.
    newest = list(qs.select_related("channel", "sender").order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest


# --- The staff inbox ------------------------------------------------------------------------

OPEN_STATUSES = ("open", "pending")
PREVIEW_CHARS = 160


def _view_q(view: str, staff_id: int | None) -> Q:
    if view == "mine":
        return Q(assignee_id=staff_id, status__in=OPEN_STATUSES)
    if view == "unassigned":
        return Q(assignee__isnull=True, status__in=OPEN_STATUSES)
    if view == "urgent":
        return Q(priority=3, status__in=OPEN_STATUSES)
    if view in ("snoozed", "resolved"):
        return Q(status=view)
    return Q(status__in=OPEN_STATUSES)


def pinned_q() -> Q:
    """Urgent conversations still waiting for the practice: pinned above the rest of every inbox
    list (snoozed and resolved ones are not pinned)."""
    return Q(priority=Priority.URGENT, status__in=OPEN_STATUSES)


# Views of statuses that are never pinned: sorted by the status index alone. The pinned key there
# is always 1, but the database cannot know it and sorted every resolved conversation (a practice's
# whole history) to find a page: 350 ms at 96,000 on SQLite.
UNPINNED_VIEWS = frozenset({"snoozed", "resolved"})


def _list_order(view: str) -> tuple[Any, ...]:
    newest = ("-last_message_at", "-id")
    if view in UNPINNED_VIEWS:
        return newest
    return (Case(When(pinned_q(), then=Value(0)), default=Value(1)), *newest)


def is_pinned(conversation: Conversation) -> bool:
    return conversation.priority == Priority.URGENT and conversation.status in OPEN_STATUSES


@dataclass(frozen=True)
class InboxCounts:
    views: dict[str, int]
    teams: dict[int, int]
    # Views whose count stopped at its cap: at least views[view] conversations (shown "999+").
    capped: frozenset[str] = frozenset()


# Resolved conversations are a practice's whole history (96,000 of 100,000 in bench/inbox.py, and
# growing every day): counting them all on every inbox load and live update cost 8 ms on SQLite
# and 20 ms on PostgreSQL, for a number nobody acts on. Beyond the cap the view shows "999+".
RESOLVED_COUNT_CAP = 999


def inbox_counts(*, principal: Principal, team_ids: list[int]) -> InboxCounts:
    """Every view's count in one query: one scalar subquery per view and team, each a range of
    the index that view's list uses (the assignee, priority, team or status index, with practice
    and status as its leading columns), so the database counts index entries instead of reading
    conversations. One aggregate over the unresolved rows with conditional counts looked
    cheaper, but SQLite's statistics cannot tell that three statuses out of four are 4 % of the
    rows, and it read the whole table (100,000 conversations: 40 ms). Team counts are open
    conversations; the resolved count stops at RESOLVED_COUNT_CAP."""
    staff_id = principal.staff.pk if principal.staff is not None else None
    # One scoped queryset for every subquery: building eleven subqueries through the ORM costs
    # more than the database takes to answer them.
    base = scoped(principal).order_by()
    subqueries: dict[str, Any] = {
        view: _count(base.filter(_view_q(view, staff_id))) for view in INBOX_VIEWS if view != "resolved"
    }
    resolved = base.filter(_view_q("resolved", staff_id))
    beyond = resolved.values("pk")[RESOLVED_COUNT_CAP : RESOLVED_COUNT_CAP + 1]
    # The EXISTS that skips RESOLVED_COUNT_CAP index entries decides first; the exact count runs
    # only when it finds nothing (both databases evaluate an uncorrelated subquery when first
    # needed).
    subqueries["resolved"] = Case(When(Exists(beyond), then=Value(RESOLVED_COUNT_CAP + 1)), default=_count(resolved))
    for team_id in team_ids:
        subqueries[f"team_{team_id}"] = _count(base.filter(team_id=team_id, status__in=OPEN_STATUSES))
    # The subqueries ride on the practice's own row: one query, one row.
    row: dict[str, Any] = dict(Practice.objects.filter(pk=principal.practice_id).values(**subqueries).first() or {})
    views = {view: int(row.get(view) or 0) for view in INBOX_VIEWS}
    capped = frozenset({"resolved"} if views["resolved"] > RESOLVED_COUNT_CAP else ())
    if capped:
        views["resolved"] = RESOLVED_COUNT_CAP
    return InboxCounts(views=views, teams={t: int(row.get(f"team_{t}") or 0) for t in team_ids}, capped=capped)


def _count(matching: QuerySet[Conversation]) -> Subquery:
    """`(SELECT COUNT(*) FROM … WHERE …)`: uncorrelated, so evaluated once, and always one row.
    COUNT(*), not COUNT(id), so that PostgreSQL can answer from the index alone; no GROUP BY
    (an ORM aggregate adds one, and comparing the group key of every row costs SQLite a
    quarter more)."""
    return Subquery(matching.annotate(n=_COUNT_ROWS).values("n"), output_field=IntegerField())


_COUNT_ROWS = Func(template="COUNT(*)", output_field=IntegerField())


def inbox_page(
    *,
    principal: Principal,
    filters: ConversationFilter,
    limit: int = 50,
) -> list[Conversation]:
    """One page of an inbox view, urgent ones pinned first (`pinned_q`), then newest first, with
    what a list row shows: the last message's preview, direction and channel, the channel kinds
    used, and whether the member has unread patient messages in it. A fixed number of queries,
    whatever the page size. The pinned sort needs no index of its own: the open views' queries
    already sort their (unresolved) rows, and the plan is the same with the pinned key.

    The page's ids are chosen in a subquery that reads only the conversation rows; the outer
    query computes the previews (eight correlated subqueries) and joins patient, assignee and
    team for those rows alone. In one flat query SQLite computed every preview of every row it
    sorted (the 3,300 open conversations of a big practice, not the 50 shown) and PostgreSQL
    joined all 100,000 patients before sorting."""
    staff_id = principal.staff.pk if principal.staff is not None else None
    qs = scoped(principal).filter(_view_q(filters.view, staff_id))
    if filters.team_id is not None:
        qs = qs.filter(team_id=filters.team_id)
    if filters.before is not None:
        at, pk = filters.before
        older = Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk)
        # Pinned rows first, then the rest; each part newest first.
        qs = qs.filter((pinned_q() & older) | ~pinned_q()) if filters.before_pinned else qs.filter(~pinned_q() & older)
    order = _list_order(filters.view)
    page_ids = qs.order_by(*order).values("pk")[:limit]
    last = (
        Message.objects.filter(conversation=OuterRef("pk")).exclude(kind=STAFF_PAGE_KIND).order_by("-created_at", "-id")
    )
    inbound = last.filter(direction=Direction.INBOUND)
    outbound = last.filter(direction=Direction.OUTBOUND)
    # The preview is what the patient last wrote; replies after it only mark the row (all
    # subqueries of this one query: the page's query count stays the same).
    qs = Conversation.objects.filter(pk__in=page_ids).annotate(
        last_preview=Subquery(last.values("body")[:1]),
        last_direction=Subquery(last.values("direction")[:1]),
        last_channel_kind=Subquery(last.values("channel__kind")[:1]),
        patient_preview=Subquery(inbound.values("body")[:1]),
        patient_wrote_at=Subquery(inbound.values("created_at")[:1]),
        staff_replied_at=Subquery(
            outbound.filter(sender__isnull=False).exclude(status=DeliveryStatus.FAILED).values("created_at")[:1]
        ),
        automatic_at=Subquery(outbound.filter(is_automatic=True).values("created_at")[:1]),
        my_last_read_at=Subquery(
            ConversationRead.objects.filter(conversation=OuterRef("pk"), staff_id=staff_id).values("last_read_at")[:1]
        ),
    )
    conversations: list[Conversation] = list(qs.select_related("patient", "assignee", "team").order_by(*order))
    # display_name reads them (an unnamed patient is "Unknown +1 555…").
    patients = [c.patient for c in conversations]
    attach_children(patients, "contact_points", ContactPoint.objects.order_by("id"), fk="patient")
    _attach_channel_kinds(conversations)
    for c in conversations:
        _choose_preview(c)
        preview = " ".join((c.last_preview or "").split())  # type: ignore[attr-defined]
        c.last_preview = preview[:PREVIEW_CHARS] + ("…" if len(preview) > PREVIEW_CHARS else "")  # type: ignore[attr-defined]
        read_at = c.my_last_read_at  # type: ignore[attr-defined]
        c.is_unread = c.last_inbound_at is not None and (read_at is None or c.last_inbound_at > read_at)  # type: ignore[attr-defined]
    return conversations


def attach_children(parents: Sequence[Model], name: str, children: QuerySet[Any], *, fk: str) -> None:
    """What prefetch_related(name) does, in the same one query: each parent's `name.all()`
    then returns its rows (a list) without a query. Django's own prefetch builds and filters a
    queryset per parent to hold them, about 0.15 ms each: 7 ms of a 50-row inbox page."""
    groups: dict[int, list[Any]] = {parent.pk: [] for parent in parents}
    if groups:
        for child in children.filter(**{f"{fk}_id__in": list(groups)}):
            groups[getattr(child, f"{fk}_id")].append(child)
    for parent in parents:
        cache = parent.__dict__.setdefault("_prefetched_objects_cache", {})
        cache[name] = groups[parent.pk]


def _choose_preview(c: Conversation) -> None:
    """`last_preview`: the patient's newest message, or, before the patient has written, the
    practice's last message (`preview_from_practice`, shown as "You: …"). `preview_marker`:
    "replied" when staff answered after the patient's message (not a failed send), "automatic" when only an
    automatic message did, "" otherwise."""
    wrote_at = c.patient_wrote_at  # type: ignore[attr-defined]
    c.preview_marker = ""  # type: ignore[attr-defined]
    c.preview_from_practice = wrote_at is None and c.last_direction == Direction.OUTBOUND  # type: ignore[attr-defined]
    if wrote_at is None:
        return
    c.last_preview = c.patient_preview  # type: ignore[attr-defined]
    replied, automatic = c.staff_replied_at, c.automatic_at  # type: ignore[attr-defined]
    if replied is not None and replied >= wrote_at:
        c.preview_marker = "replied"  # type: ignore[attr-defined]
    elif automatic is not None and automatic >= wrote_at:
        c.preview_marker = "automatic"  # type: ignore[attr-defined]


def _attach_channel_kinds(conversations: list[Conversation]) -> None:
    """The channel kinds each conversation has used, in one query for the whole page."""
    kinds: dict[int, list[str]] = {c.pk: [] for c in conversations}
    if kinds:
        rows = (
            Message.objects.filter(conversation_id__in=list(kinds))
            .exclude(kind=STAFF_PAGE_KIND)
            .order_by()
            .values_list("conversation_id", "channel__kind")
            .distinct()
        )
        for conversation_id, kind in rows:
            if kind not in kinds[conversation_id]:
                kinds[conversation_id].append(kind)
    for c in conversations:
        c.channel_kinds = sorted(kinds[c.pk])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ThreadPage:
    items: list[Message | Note | ConversationEvent]
    has_earlier: bool
    oldest_message_id: int | None


# The newest messages a conversation opens with, and how many each "load earlier" adds. Enough
# to answer from; a long history (2,000 messages) is paged in as the reader scrolls up rather
# than built, sent and laid out on every open.
THREAD_PAGE = 50
THREAD_EARLIER_PAGE = 100


def thread_page(
    *,
    conversation: Conversation,
    before_id: int | None = None,
    from_id: int | None = None,
    limit: int = THREAD_PAGE,
) -> ThreadPage:
    """Messages, notes and system events interleaved by time. By default the newest `limit`
    messages; `before_id` pages back ("load earlier"); `from_id` re-reads everything from that
    message on (a live refresh that keeps what the reader already loaded). A fixed number of
    queries, whatever the page size."""
    # On-call pages are shown by their event lines, not as messages to the patient.
    messages_qs = Message.objects.filter(practice_id=conversation.practice_id, conversation=conversation).exclude(
        kind=STAFF_PAGE_KIND
    )
    anchor: Message | None = None
    for anchor_id in (before_id, from_id):
        if anchor_id is not None:
            anchor = messages_qs.filter(pk=anchor_id).only("id", "created_at").first()
    upper = None
    if before_id is not None and anchor is not None:
        messages_qs = messages_qs.filter(
            Q(created_at__lt=anchor.created_at) | Q(created_at=anchor.created_at, id__lt=anchor.pk)
        )
        upper = anchor.created_at
    if from_id is not None and anchor is not None:
        messages_qs = messages_qs.filter(
            Q(created_at__gt=anchor.created_at) | Q(created_at=anchor.created_at, id__gte=anchor.pk)
        )
        limit = max(limit, 5000)
    newest = list(messages_qs.select_related("channel", "sender").order_by("-created_at", "-id")[: limit + 1])
    has_earlier = len(newest) > limit
    newest = newest[:limit]
    newest.reverse()
    attach_children(newest, "attachments", Attachment.objects.order_by("id"), fk="message")
    if from_id is not None and anchor is not None:
        has_earlier = (
            Message.objects.filter(conversation=conversation, created_at__lt=anchor.created_at)
            .exclude(kind=STAFF_PAGE_KIND)
            .exists()
        )
    lower = newest[0].created_at if newest and has_earlier else None
    notes_qs = Note.objects.filter(conversation=conversation).select_related("author")
    events_qs = ConversationEvent.objects.filter(conversation=conversation)
    if lower is not None:
        notes_qs = notes_qs.filter(created_at__gte=lower)
        events_qs = events_qs.filter(created_at__gte=lower)
    if upper is not None:
        notes_qs = notes_qs.filter(created_at__lt=upper)
        events_qs = events_qs.filter(created_at__lt=upper)
    items: list[Message | Note | ConversationEvent] = [*newest, *notes_qs, *events_qs]
    items.sort(key=lambda item: (item.created_at, type(item).__name__ != "Message", item.pk))
    return ThreadPage(items=items, has_earlier=has_earlier, oldest_message_id=newest[0].pk if newest else None)


@dataclass(frozen=True)
class ChannelOption:
    channel: Channel
    available: bool
    reason: str = ""
    # The reason in a few words, for the picker's disabled option ("no address", "opted out").
    note: str = ""
    # No address of the kind at all: the ordinary case (most patients never use web chat), which
    # the picker states once, quietly, rather than as a warning.
    no_address: bool = False


WHATSAPP_WINDOW = timedelta(hours=24)


def reply_channel_options(*, conversation: Conversation) -> tuple[list[ChannelOption], int | None]:
    """The channels staff may answer on, each with why not when it is unavailable (no address,
    opted out, outside WhatsApp's 24-hour customer-service window), and the default: the channel
    the patient last wrote on, else their preferred kind, else the first available."""
    channels = list(
        Channel.objects.filter(practice_id=conversation.practice_id, enabled=True)
        .exclude(kind=ChannelKind.PORTAL)
        .order_by("kind", "name", "id")
    )
    contacts = list(
        ContactPoint.objects.filter(practice_id=conversation.practice_id, patient_id=conversation.patient_id)
    )
    now = clock.now()
    options: list[ChannelOption] = []
    for channel in channels:
        of_kind = [c for c in contacts if c.kind == channel.kind]
        usable = [c for c in of_kind if c.opted_out_at is None]
        reason = note = ""
        if not of_kind:
            reason, note = f"no {_kind_label(channel.kind)} address", "no address"
        elif not usable:
            reason, note = f"opted out of {_kind_label(channel.kind)}", "opted out"
        elif channel.kind == ChannelKind.WHATSAPP:
            last = max((c.last_inbound_at for c in usable if c.last_inbound_at), default=None)
            if last is None:
                reason = "the patient has not written on WhatsApp (24-hour window)"
                note = "not until the patient writes"
            elif now - last > WHATSAPP_WINDOW:
                reason = "outside the 24-hour window since the patient last wrote"
                note = "24-hour window closed"
        options.append(
            ChannelOption(channel=channel, available=not reason, reason=reason, note=note, no_address=not of_kind)
        )
    available = [o for o in options if o.available]
    default_id: int | None = None
    last_inbound = (
        Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
        .order_by("-created_at", "-id")
        .values_list("channel_id", flat=True)
        .first()
    )
    if any(o.channel.pk == last_inbound for o in available):
        default_id = last_inbound
    else:
        preferred = conversation.patient.preferred_channel
        choice = next((o for o in available if o.channel.kind == preferred), available[0] if available else None)
        default_id = choice.channel.pk if choice else None
    return options, default_id


def _kind_label(kind: str) -> str:
    return {"sms": "SMS", "whatsapp": "WhatsApp", "email": "email", "webchat": "web chat"}.get(kind, kind)


# --- @mentions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MentionCandidate:
    staff: StaffMember
    handle: str


def mention_candidates(*, practice_id: int) -> list[MentionCandidate]:
    """Active colleagues and the @handle each answers to: the part of their sign-in email before
    the @ (unique by construction)."""
    members = StaffMember.objects.filter(practice_id=practice_id, is_active=True).select_related("user")
    return sorted(
        (MentionCandidate(staff=m, handle=m.user.email.split("@")[0].lower()) for m in members),
        key=lambda c: c.staff.display_name.lower(),
    )


def mentioned_staff(*, practice_id: int, text: str) -> list[StaffMember]:
    """Colleagues named in `text` as @handle or @Full Name (case-insensitive)."""
    lowered = text.lower()
    found: list[StaffMember] = []
    for candidate in mention_candidates(practice_id=practice_id):
        names = {candidate.handle, candidate.staff.display_name.lower()}
        for name in names:
            if name and re.search(r"(?<![\w@])@" + re.escape(name) + r"(?![\w-])", lowered):
                found.append(candidate.staff)
                break
    return found


def mention_list(*, staff: StaffMember, limit: int = 20) -> list[Mention]:
    return list(
        Mention.objects.filter(practice_id=staff.practice_id, staff=staff)
        .select_related("author", "conversation__patient", "note")
        .prefetch_related(
            Prefetch("conversation__patient__contact_points", queryset=ContactPoint.objects.order_by("id"))
        )
        .order_by("-created_at", "-id")[:limit]
    )


def mentions_unread_count(*, staff: StaffMember) -> int:
    return Mention.objects.filter(practice_id=staff.practice_id, staff=staff, read_at__isnull=True).count()
