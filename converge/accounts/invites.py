"""Inviting staff: a single-use link valid for 72 hours, emailed through the practice's mailbox
channel by the worker when it has one (converge.accounts.mail; else shown once to the person
who invited), and the seat limit.

Only a SHA-256 of the link's secret is stored. The invitee's account is created when the link is
accepted, in one transaction with marking the invitation used. Seats are active staff plus
pending invitations; `Practice.staff_seats` is the limit."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet

from converge.accounts import mail
from converge.accounts.models import StaffInvitation
from converge.accounts.services import StaffChangeNotAllowed
from converge.audit.services import audit_record
from converge.core import clock
from converge.practices.models import Practice, Role, StaffMember, Team
from converge.practices.permissions import Perm, can

log = logging.getLogger(__name__)

VALID_FOR = timedelta(hours=72)
NAME_MAX = 120
EMAIL_MAX = 254


class InviteError(ValueError):
    """The invitation cannot be made; the message says why, for the page."""


class InvitationUnusable(Exception):
    """The link is unknown (status 404), or used, revoked or expired (410)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def invite_link(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/invite/{token}"


def pending(practice_id: int) -> QuerySet[StaffInvitation]:
    return StaffInvitation.objects.filter(
        practice_id=practice_id, used_at=None, revoked_at=None, expires_at__gt=clock.now()
    )


@dataclass(frozen=True)
class Seats:
    active: int
    invited: int
    limit: int

    @property
    def used(self) -> int:
        return self.active + self.invited

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


def seats(practice: Practice) -> Seats:
    active = StaffMember.objects.filter(practice_id=practice.pk, is_active=True).count()
    return Seats(active=active, invited=pending(practice.pk).count(), limit=practice.staff_seats)


def may_grant(actor: StaffMember, role: str) -> bool:
    """Managers and administrators invite and change staff; only an administrator grants the
    administrator role (the rule of `services.may_manage_staff`)."""
    return can(actor, Perm.MANAGE_STAFF) and (role != Role.ADMIN or actor.role == Role.ADMIN)


def clean_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InviteError("Enter the person's name.")
    if len(name) > NAME_MAX or any(ord(ch) < 32 or ch == "\x7f" for ch in name):
        raise InviteError(f"The name must be at most {NAME_MAX} characters of ordinary text.")
    return name


def clean_email(value: str) -> str:
    email = value.strip().lower()
    if not email or len(email) > EMAIL_MAX or "\x00" in email:
        raise InviteError("Enter a valid email address.")
    try:
        validate_email(email)
    except ValidationError:
        raise InviteError("Enter a valid email address.") from None
    return email


def clean_role(value: str) -> str:
    if value not in Role.values:
        raise InviteError("Choose one of the roles.")
    return value


def practice_teams(practice_id: int, team_ids: list[str]) -> list[Team]:
    try:
        wanted = {int(t) for t in team_ids}
    except (TypeError, ValueError):
        raise InviteError("Choose teams from the list.") from None
    teams = list(Team.objects.filter(practice_id=practice_id, pk__in=wanted))
    if len(teams) != len(wanted):
        raise InviteError("Choose teams from the list.")
    return teams


def invitation_create(
    *, actor: StaffMember, email: str, display_name: str, role: str, team_ids: list[str]
) -> tuple[StaffInvitation, str]:
    """The invitation and its secret token (shown or sent once, never stored). Raises
    StaffChangeNotAllowed or InviteError."""
    role = clean_role(role)
    if not may_grant(actor, role):
        raise StaffChangeNotAllowed
    name, email = clean_name(display_name), clean_email(email)
    teams = practice_teams(actor.practice_id, team_ids)
    if get_user_model().objects.filter(Q(username=email) | Q(email=email)).exists():
        raise InviteError("Someone with that email address already has a Converge account.")
    token = secrets.token_urlsafe(32)
    now = clock.now()
    with transaction.atomic():
        practice = Practice.objects.select_for_update().get(pk=actor.practice_id)  # one seat count at a time
        superseded = list(pending(practice.pk).filter(email=email).values_list("pk", flat=True))
        StaffInvitation.objects.filter(pk__in=superseded).update(revoked_at=now)
        mail.cancel(superseded)
        if seats(practice).free < 1:
            raise InviteError(
                f"All {practice.staff_seats} staff seats are in use (active staff and pending invitations). "
                "Disable someone or withdraw an invitation first."
            )
        invitation = StaffInvitation.objects.create(
            practice=practice,
            email=email,
            display_name=name,
            role=role,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + VALID_FOR,
            invited_by=actor,
        )
        invitation.teams.set(teams)
        audit_record(
            practice_id=practice.pk,
            actor=actor,
            action="staff.invite",
            obj=invitation,
            detail={"role": role, "teams": sorted(t.slug for t in teams), "replaces": superseded},
        )
    return invitation, token


def invitation_revoke(*, invitation: StaffInvitation, actor: StaffMember) -> None:
    if invitation.practice_id != actor.practice_id or not may_grant(actor, invitation.role):
        raise StaffChangeNotAllowed
    with transaction.atomic():
        if StaffInvitation.objects.filter(pk=invitation.pk, used_at=None, revoked_at=None).update(
            revoked_at=clock.now()
        ):
            mail.cancel([invitation.pk])
            audit_record(practice_id=invitation.practice_id, actor=actor, action="staff.invite_revoke", obj=invitation)


def invitation_send(invitation: StaffInvitation, token: str) -> bool:
    """Queues the link's email through the practice's mailbox channel (the worker sends it);
    False when there is none that sends (the page then shows the link to copy, once)."""
    from converge.accounts import mail

    return mail.queue(invitation, token)


def invitation_for(token: str) -> StaffInvitation:
    """The usable invitation the link names; raises InvitationUnusable."""
    if not token or len(token) > 100 or not token.isascii():
        raise InvitationUnusable("This invitation link is not valid.", 404)
    invitation = StaffInvitation.objects.select_related("practice").filter(token_hash=token_hash(token)).first()
    if invitation is None:
        raise InvitationUnusable("This invitation link is not valid.", 404)
    _check_usable(invitation)
    return invitation


def _check_usable(invitation: StaffInvitation) -> None:
    if invitation.used_at is not None:
        raise InvitationUnusable("This invitation has already been used. Sign in with your email and password.", 410)
    if invitation.revoked_at is not None:
        raise InvitationUnusable("This invitation was withdrawn. Ask your practice manager for a new one.", 410)
    if invitation.expires_at <= clock.now():
        raise InvitationUnusable("This invitation has expired. Ask your practice manager for a new one.", 410)


def invitation_accept(*, token: str, password: str, password_again: str, ip: str = "") -> StaffMember:
    """Creates the account with the invitation's role and teams and marks the invitation used,
    in one transaction. Raises InvitationUnusable, or ValidationError for the password."""
    from converge.practices.services import staff_create

    found = invitation_for(token)
    if password != password_again:
        raise ValidationError("The two passwords do not match.")
    if len(password) > 4096 or "\x00" in password:
        raise ValidationError("Choose another password.")
    user_model = get_user_model()
    validate_password(password, user_model(username=found.email, email=found.email))
    with transaction.atomic():
        invitation = StaffInvitation.objects.select_for_update().get(pk=found.pk)
        _check_usable(invitation)
        if user_model.objects.filter(Q(username=invitation.email) | Q(email=invitation.email)).exists():
            raise InvitationUnusable("An account with this email address already exists. Sign in instead.", 410)
        staff = staff_create(
            practice=invitation.practice,
            email=invitation.email,
            password=password,
            display_name=invitation.display_name,
            role=invitation.role,
            team_slugs=tuple(invitation.teams.values_list("slug", flat=True)),
            validate=False,  # validated above, outside the transaction
        )
        invitation.used_at = clock.now()
        invitation.accepted_by = staff
        invitation.save(update_fields=["used_at", "accepted_by"])
        mail.cancel([invitation.pk])
        audit_record(
            practice_id=invitation.practice_id,
            actor=staff,
            action="staff.invite_accept",
            obj=staff,
            ip=ip,
            detail={"invitation": invitation.pk, "role": staff.role},
        )
    return staff


# --- changing role and teams ------------------------------------------------------------------


def staff_change(*, staff: StaffMember, actor: StaffMember, role: str, team_ids: list[str]) -> list[str]:
    """Sets the member's role and teams; returns what changed ("role", "teams"). A manager may
    not grant or change the administrator role; nobody changes their own role (so nobody takes
    away their own right to manage staff); one's own teams may change."""
    from converge.accounts.services import may_manage_staff, staff_set_role

    role = clean_role(role)
    teams = practice_teams(actor.practice_id, team_ids)
    myself = staff.pk == actor.pk and staff.practice_id == actor.practice_id
    if myself:
        if not can(actor, Perm.MANAGE_STAFF):
            raise StaffChangeNotAllowed
        if role != staff.role:
            raise InviteError("You cannot change your own role; ask another manager or an administrator.")
    elif not may_manage_staff(actor, staff) or not may_grant(actor, role):
        raise StaffChangeNotAllowed
    changed = []
    with transaction.atomic():
        if role != staff.role:
            staff_set_role(staff=staff, role=role, actor=actor)
            changed.append("role")
        before = set(staff.teams.values_list("pk", flat=True))
        after = {t.pk for t in teams}
        if before != after:
            staff.teams.set(teams)
            slugs: dict[int, Any] = dict(Team.objects.filter(pk__in=before | after).values_list("pk", "slug"))
            audit_record(
                practice_id=staff.practice_id,
                actor=actor,
                action="staff.teams",
                obj=staff,
                detail={"from": sorted(slugs[i] for i in before), "to": sorted(slugs[i] for i in after)},
            )
            changed.append("teams")
    return changed


def staff_set_enabled(*, staff: StaffMember, actor: StaffMember, active: bool) -> bool:
    """Disables (every session and WebSocket ends) or re-enables a member; False when it was so
    already. Re-enabling takes a seat, so it is refused when none is free."""
    from converge.accounts.services import may_manage_staff, staff_set_active

    if not may_manage_staff(actor, staff):
        raise StaffChangeNotAllowed
    if staff.is_active == active:
        return False
    with transaction.atomic():
        practice = Practice.objects.select_for_update().get(pk=staff.practice_id)
        if active and seats(practice).free < 1:
            raise InviteError(
                f"All {practice.staff_seats} staff seats are in use; {staff.display_name} cannot be enabled."
            )
        staff_set_active(staff=staff, active=active, actor=actor)
    return True


SEATS_MAX = 500


def seat_limit_set(*, actor: StaffMember, limit: int) -> Seats:
    """The practice's staff seat limit (a manager's or administrator's setting): never below the
    seats in use, active staff plus pending invitations."""
    if not can(actor, Perm.MANAGE_STAFF):
        raise StaffChangeNotAllowed
    if not 1 <= limit <= SEATS_MAX:
        raise InviteError(f"Seats: choose a number from 1 to {SEATS_MAX}.")
    with transaction.atomic():
        practice = Practice.objects.select_for_update().get(pk=actor.practice_id)
        in_use = seats(practice)
        if limit < in_use.used:
            raise InviteError(
                f"Seats: {in_use.used} are in use ({in_use.active} active staff, {in_use.invited} pending "
                f"invitations), so the limit cannot be {limit}. Disable someone or withdraw an invitation first."
            )
        previous = practice.staff_seats
        if previous != limit:
            practice.staff_seats = limit
            practice.save(update_fields=["staff_seats"])
            audit_record(
                practice_id=practice.pk,
                actor=actor,
                action="practice.staff_seats",
                obj=practice,
                detail={"from": previous, "to": limit},
            )
        return seats(practice)
