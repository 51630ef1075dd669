"""`converge staff list|invite|disable|enable|role|reset-mfa`: the Settings → Staff page's
operations from the console, through the same services and rules. `--as` names the manager or
administrator the change is made (and audited) as; the practice is theirs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (models load only after django.setup(), in the commands)
    from converge.practices.models import StaffMember


class StaffCommandError(Exception):
    """One line for the console, naming the field; exit 2."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    staff = sub.add_parser("staff", help="list, invite, disable, enable and change staff accounts")
    commands = staff.add_subparsers(dest="staff_command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        p.add_argument("--as", dest="actor", required=True, metavar="EMAIL", help="the manager or administrator acting")
        p.set_defaults(func=_guarded(func))
        return p

    add("list", cmd_list, "list the practice's staff, pending invitations and seats")
    p = add("invite", cmd_invite, "invite a person by email (a single-use link valid for 72 hours)")
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True, help="the person's name as colleagues see it")
    p.add_argument("--role", required=True, help="front_desk, scheduler, nurse, provider, manager or admin")
    p.add_argument("--team", action="append", default=[], metavar="SLUG", help="a team (repeat for several)")
    for name, func, text in (
        ("disable", cmd_disable, "disable an account (ends every session and WebSocket at once)"),
        ("enable", cmd_enable, "re-enable a disabled account (takes a seat)"),
        ("reset-mfa", cmd_reset_mfa, "remove a person's second factor and end their sessions"),
    ):
        add(name, func, text).add_argument("email", help="the staff member's email address")
    r = add("role", cmd_role, "change a person's role (and teams, with --team)")
    r.add_argument("email", help="the staff member's email address")
    r.add_argument("role", help="front_desk, scheduler, nurse, provider, manager or admin")
    r.add_argument("--team", action="append", default=None, metavar="SLUG", help="replace the teams (repeatable)")


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from converge.cli import _setup

        _setup()
        from converge.accounts.invites import InviteError
        from converge.accounts.services import StaffChangeNotAllowed

        try:
            return func(args)
        except StaffCommandError as exc:
            message = str(exc)
        except StaffChangeNotAllowed as exc:
            message = f"--as: {exc}"
        except InviteError as exc:
            message = str(exc)
        print(f"converge: error: {message}", file=sys.stderr)
        return 2

    return run


def _actor(args: argparse.Namespace) -> StaffMember:
    from converge.practices.models import StaffMember
    from converge.practices.permissions import Perm, can

    actor = (
        StaffMember.objects.select_related("practice", "user").filter(user__email__iexact=args.actor.strip()).first()
    )
    if actor is None or not actor.is_active:
        raise StaffCommandError(f"--as: no active staff member with email {args.actor!r}")
    if not can(actor, Perm.MANAGE_STAFF):
        raise StaffCommandError("--as: only practice managers and administrators manage staff")
    return actor


def _member(actor: StaffMember, email: str) -> StaffMember:
    from converge.practices.models import StaffMember

    member = (
        StaffMember.objects.select_related("user", "practice")
        .filter(practice_id=actor.practice_id, user__email__iexact=email.strip())
        .first()
    )
    if member is None:
        raise StaffCommandError(f"email: no staff member {email!r} in {actor.practice.slug}")
    return member


def _team_ids(actor: StaffMember, slugs: list[str]) -> list[str]:
    from converge.practices.models import Team

    known = dict(Team.objects.filter(practice_id=actor.practice_id).values_list("slug", "pk"))
    missing = [s for s in slugs if s not in known]
    if missing:
        raise StaffCommandError(f"--team: no team {missing[0]!r} (choose from {', '.join(sorted(known))})")
    return [str(known[s]) for s in slugs]


def _role(value: str) -> str:
    from converge.practices.models import Role

    if value not in Role.values:
        raise StaffCommandError(f"role: {value!r} is not one of {', '.join(Role.values)}")
    return value


def cmd_list(args: argparse.Namespace) -> int:
    from converge.accounts import invites, services
    from converge.audit.services import audit_record
    from converge.practices.models import StaffMember

    actor = _actor(args)
    members = list(
        StaffMember.objects.filter(practice_id=actor.practice_id)
        .select_related("user")
        .prefetch_related("teams")
        .order_by("display_name", "pk")
    )
    with_mfa = services.users_with_mfa([m.user_id for m in members])
    audit_record(practice_id=actor.practice_id, actor=actor, action="staff_list.read", detail={"via": "cli"})
    for m in members:
        teams = ",".join(sorted(t.slug for t in m.teams.all())) or "-"
        state = "active" if m.is_active else "disabled"
        mfa = "mfa" if m.user_id in with_mfa else "no-mfa"
        print(f"{m.user.email}\t{m.display_name}\t{m.role}\t{teams}\t{state}\t{mfa}")
    for i in invites.pending(actor.practice_id).order_by("created_at"):
        print(f"{i.email}\t{i.display_name}\t{i.role}\tinvited until {i.expires_at:%Y-%m-%d %H:%M} UTC")
    seats = invites.seats(actor.practice)
    print(f"seats: {seats.used} of {seats.limit} in use ({seats.active} active, {seats.invited} invited)")
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    from converge.accounts import invites

    actor = _actor(args)
    invitation, token = invites.invitation_create(
        actor=actor,
        email=args.email,
        display_name=args.name,
        role=_role(args.role),
        team_ids=_team_ids(actor, args.team),
    )
    if invites.invitation_send(invitation, token):
        print(f"invited {invitation.email}: the link is on its way by email (valid 72 hours, once)")
    else:
        print(f"invited {invitation.email}; no practice mailbox to email it, so give them this link (once, 72 hours):")
        print(invites.invite_link(token))
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    return _set_enabled(args, active=False)


def cmd_enable(args: argparse.Namespace) -> int:
    return _set_enabled(args, active=True)


def _set_enabled(args: argparse.Namespace, *, active: bool) -> int:
    from converge.accounts import invites

    actor = _actor(args)
    member = _member(actor, args.email)
    changed = invites.staff_set_enabled(staff=member, actor=actor, active=active)
    state = "enabled" if active else "disabled"
    if not changed:
        print(f"{member.user.email} was already {state}")
    else:
        print(f"{member.user.email} is now {state}" + ("" if active else " and signed out everywhere"))
    return 0


def cmd_role(args: argparse.Namespace) -> int:
    from converge.accounts import invites

    actor = _actor(args)
    member = _member(actor, args.email)
    if args.team is None:
        team_ids = [str(pk) for pk in member.teams.values_list("pk", flat=True)]
    else:
        team_ids = _team_ids(actor, args.team)
    changed = invites.staff_change(staff=member, actor=actor, role=_role(args.role), team_ids=team_ids)
    print(f"{member.user.email}: {' and '.join(changed) + ' changed' if changed else 'nothing to change'}")
    return 0


def cmd_reset_mfa(args: argparse.Namespace) -> int:
    from converge.accounts import services

    actor = _actor(args)
    member = _member(actor, args.email)
    services.mfa_reset(staff=member, actor=actor)
    print(f"{member.user.email}: second factor removed and sessions ended; they sign in with the password next")
    return 0
