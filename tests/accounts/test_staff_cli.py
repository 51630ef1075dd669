"""`converge staff ...` (issue 17): the page's operations from the console, through the same
services; a refusal is one line naming the field, exit 2."""

from __future__ import annotations

from typing import Any

import pytest

from converge.accounts.models import StaffInvitation
from converge.audit.models import AuditEvent
from converge.cli import main
from converge.practices.models import Role, StaffMember
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(practice: Any) -> StaffMember:
    return make_staff(practice, "Grace Manager", Role.MANAGER, email="grace@example.org")


def run(capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(["staff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_invite_prints_the_link_once_and_list_shows_it(practice: Any, manager: StaffMember, capsys: Any) -> None:
    code, out, _ = run(
        capsys,
        "invite",
        "--as",
        "grace@example.org",
        "--email",
        "Nia@example.org",
        "--name",
        "Nia Nurse",
        "--role",
        "nurse",
        "--team",
        "nursing",
    )
    assert code == 0 and "/invite/" in out
    invitation = StaffInvitation.objects.get(email="nia@example.org")
    assert list(invitation.teams.values_list("slug", flat=True)) == ["nursing"]
    code, out, _ = run(capsys, "list", "--as", "grace@example.org")
    assert code == 0 and "nia@example.org" in out and "grace@example.org" in out
    assert "seats: 2 of 15 in use" in out


def test_disable_enable_role_and_reset(practice: Any, manager: StaffMember, capsys: Any) -> None:
    member = make_staff(practice, "Dan Desk", Role.FRONT_DESK, email="dan@example.org")
    assert run(capsys, "disable", "--as", "grace@example.org", "dan@example.org")[0] == 0
    assert not StaffMember.objects.get(pk=member.pk).is_active
    assert run(capsys, "enable", "--as", "grace@example.org", "dan@example.org")[0] == 0
    assert StaffMember.objects.get(pk=member.pk).is_active
    code, out, _ = run(
        capsys, "role", "--as", "grace@example.org", "dan@example.org", "scheduler", "--team", "scheduling"
    )
    assert code == 0 and "role and teams changed" in out
    assert StaffMember.objects.get(pk=member.pk).role == Role.SCHEDULER
    assert run(capsys, "reset-mfa", "--as", "grace@example.org", "dan@example.org")[0] == 0
    actions = set(AuditEvent.objects.filter(practice_id=practice.pk).values_list("action", flat=True))
    assert {"staff.disable", "staff.enable", "staff.role", "staff.teams", "auth.mfa_reset"} <= actions


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("disable", "--as", "nobody@example.org", "dan@example.org"), "--as:"),
        (("disable", "--as", "grace@example.org", "ghost@example.org"), "email:"),
        (("role", "--as", "grace@example.org", "dan@example.org", "boss"), "role:"),
        (("role", "--as", "grace@example.org", "dan@example.org", "nurse", "--team", "kitchen"), "--team:"),
        (("role", "--as", "grace@example.org", "dan@example.org", "admin"), "--as:"),
        (("invite", "--as", "grace@example.org", "--email", "x", "--name", "X", "--role", "nurse"), "email"),
    ],
)
def test_refusals_are_one_line_naming_the_field(
    practice: Any, manager: StaffMember, capsys: Any, args: tuple[str, ...], field: str
) -> None:
    make_staff(practice, "Dan Desk", Role.FRONT_DESK, email="dan@example.org")
    code, _, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and field in lines[0].lower(), err


def test_a_non_manager_cannot_act(practice: Any, capsys: Any) -> None:
    make_staff(practice, "Nora Nurse", Role.NURSE, email="nora@example.org")
    code, _, err = run(capsys, "list", "--as", "nora@example.org")
    assert code == 2 and err.startswith("converge: error: --as:")
