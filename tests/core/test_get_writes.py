"""Issue 16, item 3: a GET handler does not write. Every GET route of the pages and of the API is
asked by every role, and the API's by a practice token (the role walk's routes, practice and
requests: tests/core/test_role_walk.py), while a connection.execute_wrapper records each INSERT,
UPDATE and DELETE; a write to a table outside ALLOWED fails the walk, naming the route and the
statement.

The practice is one whose settings were never saved (no privacy, routing or reminder settings
rows) and that has a team from before team channels were made with their team: a read must use
the defaults, and only a save creates the rows."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from converge.practices.models import Role
from converge.practices.permissions import MATRIX, Perm
from tests.core.test_role_walk import ROLES, Case, api_cases, request, set_confidentiality, web_cases, world

__all__ = ["world"]  # the role walk's practice, a module-scoped fixture, shared

# The writes a read is meant to make, and no others: what a person has read, their settings and
# every domain row change only by a POST. audit_auditevent: the access log (converge.audit)
# records who read which patient's data as the read happens, the one write a read makes (DESIGN
# "The layers"). django_session, accounts_staffsession and practices_apitoken: session
# bookkeeping, refreshed by any signed-in request (Django's session row; the idle timeout and the
# signed-in sessions list; an API token's last use, at most once a minute). Presence is not here:
# it is said over the WebSocket and by POST /team/status, never by a GET.
ALLOWED = frozenset({"audit_auditevent", "django_session", "accounts_staffsession", "practices_apitoken"})

WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


@contextmanager
def writes_recorded() -> Iterator[list[tuple[str, str]]]:
    """(table, statement) of every INSERT / UPDATE / DELETE run inside the block."""
    seen: list[tuple[str, str]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        match = WRITE.match(sql)
        if match:
            seen.append((match.group(1).lower(), sql[:200]))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


@pytest.mark.django_db
def test_the_recorder_sees_writes_and_not_reads(practice: Any) -> None:
    from converge.practices.models import Team

    with writes_recorded() as seen:
        assert Team.objects.filter(practice=practice).count() == 4
        team = Team.objects.create(practice=practice, name="Recorded", slug="recorded")
        Team.objects.filter(pk=team.pk).update(name="Renamed")
        Team.objects.filter(pk=team.pk).delete()
    tables = [table for table, _ in seen]
    assert tables[:2] == ["practices_team", "practices_team"] and tables[-1] == "practices_team", seen


def never_saved(practice: Any) -> None:
    """The practice as first run left it: no settings rows, and a team with no channel yet."""
    from converge.practices.models import Team
    from converge.privacy.models import PrivacySettings
    from converge.reminders.models import ReminderPolicy
    from converge.routing.models import RoutingRule, RoutingSettings

    RoutingSettings.objects.filter(practice=practice).delete()
    RoutingRule.objects.filter(practice=practice).delete()
    ReminderPolicy.objects.filter(practice=practice).delete()
    PrivacySettings.objects.filter(practice=practice).delete()
    Team.objects.create(practice=practice, name="Billing", slug="billing")


def walk_writes(client: Client, cases: list[Case], *, api_call: bool, token: str = "") -> list[str]:
    problems = []
    for case in cases:
        with writes_recorded() as seen:
            status, _body, _location, _ = request(client, case, api_call=api_call, token=token)
        for table, sql in sorted(set(seen)):
            if table not in ALLOWED:
                problems.append(f"{case.label} (answered {status}) writes {table}: {sql}")
    return problems


def gets(cases: list[Case]) -> list[Case]:
    return [case for case in cases if case.method == "GET"]


# Confidentiality changes what a role without "read clinical" may open (refusals, break-glass
# offers); the others read the same either way.
WALKS = [
    pytest.param(role, confidential, id=f"{role.value}-{'confidential' if confidential else 'open'}")
    for role in ROLES
    for confidential in (False, True)
    if not confidential or Perm.READ_CLINICAL not in MATRIX[role]
]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "confidential"), WALKS)
def test_no_get_route_writes(world: dict[str, Any], role: Role, confidential: bool) -> None:
    never_saved(world["practice"])
    if confidential:  # the one setting the walk needs saved
        from converge.privacy.models import PrivacySettings

        PrivacySettings.objects.create(practice=world["practice"], clinical_confidentiality=True)
    set_confidentiality(world, confidential)
    client = Client()
    client.force_login(world["staff"][role].user)
    pages, api = gets(web_cases(world["ids"])), gets(api_cases(world["ids"]))
    assert len(pages) > 60 and len(api) > 10
    problems = walk_writes(client, pages, api_call=False) + walk_writes(client, api, api_call=True)
    assert not problems, f"{len(problems)} writes on GET as {role.label}:\n" + "\n".join(problems)


@pytest.mark.django_db
def test_no_api_get_writes_for_a_practice_token(world: dict[str, Any]) -> None:
    from converge.practices.services import api_token_create

    never_saved(world["practice"])
    set_confidentiality(world, False)
    _token, secret = api_token_create(practice=world["practice"], name="walk")
    problems = walk_writes(Client(), gets(api_cases(world["ids"])), api_call=True, token=secret)
    assert not problems, f"{len(problems)} writes on GET with a practice token:\n" + "\n".join(problems)
