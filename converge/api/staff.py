"""Staff administration over the API: the Settings → Staff page's operations, through the same
services (converge.accounts.invites / services). Managers and administrators only; a practice
token may read the lists, but changes to people are made by a signed-in person (400)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Annotated, Literal

from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from converge.accounts import invites, services
from converge.accounts.models import StaffInvitation
from converge.api.auth import principal_of
from converge.api.schemas import ClockTime, Day, Id, Input, Text, answers
from converge.audit.services import audit_record
from converge.conversations.services import ServiceError
from converge.core.principal import Principal
from converge.practices import rota
from converge.practices.models import OnCallShift, Practice, StaffMember
from converge.practices.permissions import Perm, can

router = Router(tags=["staff"])

# The role codes, listed in the OpenAPI document as an enum (the values of practices.models.Role).
RoleValue = Literal["front_desk", "scheduler", "nurse", "provider", "manager", "admin"]

STAFF_ONLY = "staff changes are made by a signed-in manager or administrator, not a practice token"


class StaffOut(Schema):
    id: int
    display_name: str
    email: str
    role: str
    team_ids: list[int]
    is_active: bool
    mfa_enrolled: bool


class SeatsOut(Schema):
    limit: int
    active: int
    invited: int
    free: int


class StaffListOut(Schema):
    items: list[StaffOut]
    seats: SeatsOut


class InvitationOut(Schema):
    id: int
    email: str
    display_name: str
    role: str
    team_ids: list[int]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class InviteIn(Input):
    email: Text = Field(min_length=3, max_length=254)
    display_name: Text = Field(min_length=1, max_length=120)
    role: RoleValue
    team_ids: list[Id] = Field(default_factory=list, max_length=50)


class InvitedOut(Schema):
    invitation: InvitationOut
    # True: the email is queued (the worker sends it; GET /staff/invitations has no link). Else
    # the practice has no mailbox that sends, and the link is given here, once.
    email_queued: bool
    link: str | None


class StaffPatch(Input):
    role: RoleValue | None = None
    team_ids: list[Id] | None = Field(default=None, max_length=50)


def _manager(request: HttpRequest, *, write: bool) -> Principal:
    principal = principal_of(request)
    if principal.staff is None:
        if write:
            raise ServiceError(STAFF_ONLY)
        return principal
    if not can(principal.staff, Perm.MANAGE_STAFF):
        raise services.StaffChangeNotAllowed
    return principal


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except invites.InviteError as error:
        raise ServiceError(str(error)) from None


def _member(principal: Principal, staff_id: int) -> StaffMember:
    member = (
        StaffMember.objects.select_related("user", "practice")
        .filter(practice_id=principal.practice_id, pk=staff_id)
        .first()
    )
    if member is None:
        raise Http404("staff member not found")
    return member


def _staff_out(member: StaffMember, with_mfa: set[int]) -> StaffOut:
    return StaffOut(
        id=member.pk,
        display_name=member.display_name,
        email=member.user.email,
        role=member.role,
        team_ids=sorted(t.pk for t in member.teams.all()),
        is_active=member.is_active,
        mfa_enrolled=member.user_id in with_mfa,
    )


def _one(member: StaffMember) -> StaffOut:
    return _staff_out(member, services.users_with_mfa([member.user_id]))


def _invitation_out(invitation: StaffInvitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.pk,
        email=invitation.email,
        display_name=invitation.display_name,
        role=invitation.role,
        team_ids=sorted(t.pk for t in invitation.teams.all()),
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        used_at=invitation.used_at,
        revoked_at=invitation.revoked_at,
    )


@router.get("/staff", response=answers({200: StaffListOut}, 403))
def list_staff(request: HttpRequest):  # type: ignore[no-untyped-def]
    """Everyone in the practice, disabled people included, and the seats in use."""
    principal = _manager(request, write=False)
    members = list(
        StaffMember.objects.filter(practice_id=principal.practice_id)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("display_name", "pk")
    )
    with_mfa = services.users_with_mfa([m.user_id for m in members])
    audit_record(practice_id=principal.practice_id, actor=principal.actor, action="staff_list.read", ip=principal.ip)
    seats = invites.seats(Practice.objects.get(pk=principal.practice_id))
    return StaffListOut(
        items=[_staff_out(m, with_mfa) for m in members],
        seats=SeatsOut(limit=seats.limit, active=seats.active, invited=seats.invited, free=seats.free),
    )


class SeatsIn(Input):
    limit: int = Field(ge=1, le=invites.SEATS_MAX)


@router.put("/staff/seats", response=answers({200: SeatsOut}, 400, 403))
def set_seat_limit(request: HttpRequest, payload: SeatsIn):  # type: ignore[no-untyped-def]
    """The practice's staff seat limit: 400 below the seats in use (active staff plus pending
    invitations)."""
    principal = _manager(request, write=True)
    assert principal.staff is not None
    with _refusals():
        seats = invites.seat_limit_set(actor=principal.staff, limit=payload.limit)
    return SeatsOut(limit=seats.limit, active=seats.active, invited=seats.invited, free=seats.free)


# (Before the /staff/{staff_id} operations: Django would read "invitations" as a staff_id.)
@router.get("/staff/invitations", response=answers({200: list[InvitationOut]}, 403))
def list_invitations(request: HttpRequest):  # type: ignore[no-untyped-def]
    """Pending invitations (not used, withdrawn or expired), oldest first."""
    principal = _manager(request, write=False)
    pending = invites.pending(principal.practice_id).prefetch_related("teams").order_by("created_at", "pk")
    return [_invitation_out(i) for i in pending]


@router.post("/staff/invitations", response=answers({201: InvitedOut}, 400, 403))
def invite_staff(request: HttpRequest, payload: InviteIn):  # type: ignore[no-untyped-def]
    """A single-use link valid for 72 hours; a new invitation to the same address replaces a
    pending one. 400 when every seat is taken or the address already has an account."""
    principal = _manager(request, write=True)
    assert principal.staff is not None
    with _refusals():
        invitation, token = invites.invitation_create(
            actor=principal.staff,
            email=payload.email,
            display_name=payload.display_name,
            role=payload.role,
            team_ids=[str(t) for t in payload.team_ids],
        )
    queued = invites.invitation_send(invitation, token)
    link = None if queued else invites.invite_link(token)
    return Status(201, InvitedOut(invitation=_invitation_out(invitation), email_queued=queued, link=link))


@router.post("/staff/invitations/{invitation_id}/withdraw", response=answers({200: InvitationOut}, 400, 403, 404))
def withdraw_invitation(request: HttpRequest, invitation_id: Id):  # type: ignore[no-untyped-def]
    principal = _manager(request, write=True)
    assert principal.staff is not None
    invitation = StaffInvitation.objects.filter(practice_id=principal.practice_id, pk=invitation_id).first()
    if invitation is None:
        raise Http404("invitation not found")
    invites.invitation_revoke(invitation=invitation, actor=principal.staff)
    invitation.refresh_from_db()
    return _invitation_out(invitation)


@router.patch("/staff/{staff_id}", response=answers({200: StaffOut}, 400, 403, 404))
def change_staff(request: HttpRequest, staff_id: Id, payload: StaffPatch):  # type: ignore[no-untyped-def]
    """Role and/or teams (`team_ids` replaces the set). A manager cannot grant or change the
    administrator role, and nobody changes their own role."""
    principal = _manager(request, write=True)
    assert principal.staff is not None
    member = _member(principal, staff_id)
    role = payload.role if payload.role is not None else member.role
    team_ids = payload.team_ids if payload.team_ids is not None else list(member.teams.values_list("pk", flat=True))
    with _refusals():
        invites.staff_change(staff=member, actor=principal.staff, role=role, team_ids=[str(t) for t in team_ids])
    member.refresh_from_db()
    return _one(member)


@router.post("/staff/{staff_id}/disable", response=answers({200: StaffOut}, 400, 403, 404))
def disable_staff(request: HttpRequest, staff_id: Id):  # type: ignore[no-untyped-def]
    """Ends every session and WebSocket of the person at once."""
    principal = _manager(request, write=True)
    assert principal.staff is not None
    member = _member(principal, staff_id)
    with _refusals():
        invites.staff_set_enabled(staff=member, actor=principal.staff, active=False)
    return _one(member)


@router.post("/staff/{staff_id}/enable", response=answers({200: StaffOut}, 400, 403, 404))
def enable_staff(request: HttpRequest, staff_id: Id):  # type: ignore[no-untyped-def]
    """Takes a seat again: 400 when every seat is in use."""
    principal = _manager(request, write=True)
    assert principal.staff is not None
    member = _member(principal, staff_id)
    with _refusals():
        invites.staff_set_enabled(staff=member, actor=principal.staff, active=True)
    return _one(member)


@router.post("/staff/{staff_id}/mfa/reset", response=answers({200: StaffOut}, 400, 403, 404))
def reset_staff_mfa(request: HttpRequest, staff_id: Id):  # type: ignore[no-untyped-def]
    """Removes the person's authenticator and recovery codes and ends their sessions."""
    principal = _manager(request, write=True)
    assert principal.staff is not None
    member = _member(principal, staff_id)
    services.mfa_reset(staff=member, actor=principal.staff)
    return _one(member)


# --- the on-call rota (converge.practices.rota) -------------------------------------------------


class ShiftOut(Schema):
    id: int
    staff_id: int
    weekdays: list[int]
    start_date: date | None
    end_date: date | None
    start_time: time
    end_time: time
    description: str


class ShiftIn(Input):
    """Weekly (`weekdays`, 0 = Monday) or dated (`start_date` and `end_date`); times HH:MM in the
    practice's time zone; a weekly end at or before its start runs past midnight."""

    staff_id: Id
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=list, max_length=7)
    start_date: Day | None = None
    end_date: Day | None = None
    start_time: ClockTime
    end_time: ClockTime


class OnCallNowOut(Schema):
    staff_ids: list[int]
    shifts: list[ShiftOut]


def _settings_manager(request: HttpRequest, *, write: bool) -> Principal:
    principal = principal_of(request)
    if principal.staff is None:
        if write:
            raise ServiceError("rota changes are made by a signed-in manager or administrator, not a practice token")
        return principal
    if not can(principal.staff, Perm.MANAGE_SETTINGS):
        raise rota.RotaNotAllowed
    return principal


def _shift_out(shift: OnCallShift) -> ShiftOut:
    return ShiftOut(
        id=shift.pk,
        staff_id=shift.staff_id,
        weekdays=list(shift.weekdays or []),
        start_date=shift.start_date,
        end_date=shift.end_date,
        start_time=shift.start_time,
        end_time=shift.end_time,
        description=rota.describe(shift),
    )


@router.get("/oncall/shifts", response=answers({200: OnCallNowOut}, 403), tags=["on-call"])
def list_shifts(request: HttpRequest):  # type: ignore[no-untyped-def]
    """The rota's current and future shifts, and who is on call now."""
    principal = _settings_manager(request, write=False)
    return OnCallNowOut(
        staff_ids=[m.pk for m in rota.on_shift(principal.practice_id)],
        shifts=[_shift_out(s) for s in rota.shifts_of(principal.practice_id)],
    )


@router.post("/oncall/shifts", response=answers({201: ShiftOut}, 400, 403), tags=["on-call"])
def add_shift(request: HttpRequest, payload: ShiftIn):  # type: ignore[no-untyped-def]
    """400 (naming the field) for a person without a mobile number, both or neither of weekdays
    and dates, or an end before the start."""
    principal = _settings_manager(request, write=True)
    assert principal.staff is not None
    try:
        shift = rota.shift_add(
            actor=principal.staff,
            staff_id=payload.staff_id,
            weekdays=[str(d) for d in payload.weekdays],
            start_date=payload.start_date.isoformat() if payload.start_date else "",
            end_date=payload.end_date.isoformat() if payload.end_date else "",
            start_time=payload.start_time.strftime("%H:%M"),
            end_time=payload.end_time.strftime("%H:%M"),
        )
    except rota.RotaError as error:
        raise ServiceError(str(error)) from None
    return Status(201, _shift_out(shift))


@router.post("/oncall/shifts/{shift_id}/remove", response=answers({200: dict}, 400, 403, 404), tags=["on-call"])
def remove_shift(request: HttpRequest, shift_id: Id):  # type: ignore[no-untyped-def]
    principal = _settings_manager(request, write=True)
    assert principal.staff is not None
    if not rota.shift_remove(actor=principal.staff, shift_id=shift_id):
        raise Http404("shift not found")
    return {"removed": shift_id}
