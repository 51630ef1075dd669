"""Hostile input on every staff form: each POST route the role walk declares (and each GET that
reads a query), as an administrator, with hypothesis-drawn values in its fields — empty, huge,
negative and malformed numbers and dates, NUL and control characters, markup, very long text,
repeated fields. The answer is never a 5xx: a form refuses bad input with a 4xx or a redirect
carrying a message. Runs on SQLite and on PostgreSQL (CONVERGE_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.practices.models import Role
from tests.core.test_role_walk import ROUTES, Case, request, web_cases, world  # noqa: F401 -- the fixture

EXAMPLES = int(os.environ.get("CONVERGE_FORM_FUZZ_EXAMPLES", "12"))

TRICKY = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "99999999999999999999999999",
    "-99999999999999999999999999",
    "1e309",
    "nan",
    "inf",
    "on",
    "true",
    "null",
    "[]",
    "{}",
    "\x00",
    "a\x00b",
    "\r\nSet-Cookie: x=1",
    "<script>alert(1)</script>",
    "'; DROP TABLE patients; --",
    "../../../etc/passwd",
    "%00",
    "2026-13-45",
    "0000-00-00",
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00+14:00",
    "12|2026-02-30T10:00:00",
    "abc|def",
    "|",
    "me",
    "x" * 5000,
    "\u202eevil",
    "💥",
]
# Fields the forms read besides their declared ones (booking overrides, filters, paging).
EXTRA_FIELDS = ["override_hours", "override_reason", "reason", "page", "cursor", "view", "q", "next", "date"]

value = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=80),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
values = st.one_of(value, st.lists(value, min_size=2, max_size=3))


def fuzz_cases() -> list[str]:
    return [route for route, rule in ROUTES.items() if rule.who not in {"WEBHOOK", "PATIENT_PORTAL", "MFA_STEP"}]


def _hostile_form(draw: Any, valid: dict[str, Any]) -> dict[str, Any]:
    fields = list(valid) + draw(st.lists(st.sampled_from(EXTRA_FIELDS), max_size=3, unique=True))
    form: dict[str, Any] = {}
    for name in fields:
        keep_valid = name in valid and draw(st.booleans())  # one good field lets the next be reached
        form[name] = valid[name] if keep_valid else draw(values)
    return form


@pytest.mark.django_db
@pytest.mark.parametrize("route", fuzz_cases())
def test_no_form_answers_a_server_error(world: dict[str, Any], route: str) -> None:
    client = Client()
    client.force_login(world["staff"][Role.ADMIN].user)
    cases: list[Case] = [c for c in web_cases(world["ids"]) if c.label.split(" ")[1] == route]
    if not cases:
        pytest.skip(f"{route} is walked by its own suite")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        case = data.draw(st.sampled_from(cases))
        if case.method == "GET":
            path, _, query = case.url.partition("?")
            valid = dict(parse_qsl(query)) or {"q": "", "page": "", "date": ""}
            form = _hostile_form(data.draw, valid)
            probe = Case(case.label, "GET", f"{path}?{urlencode(form, doseq=True)}", case.rule, case.variant)
        else:
            form = _hostile_form(data.draw, dict(case.data or {}))
            probe = Case(case.label, "POST", case.url, case.rule, case.variant, form)
        status, body, _location, _after = request(client, probe)
        assert status < 500, f"{probe.method} {probe.url} {probe.data!r} answered {status}: {body[:300]!r}"

    one()
