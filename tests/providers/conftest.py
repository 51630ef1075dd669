"""Fixtures for provider protocol tests, imported by tests/connectors too. Free of Django so
protocol tests run with `-p no:django`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.providers.fakes import FakeGraphAPI, FakeTwilioAPI


@pytest.fixture
def fake_graph() -> Iterator[FakeGraphAPI]:
    """A local Graph API; the test fails if any request broke the documented contract."""
    with FakeGraphAPI() as fake:
        yield fake
    fake.assert_no_problems()


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioAPI]:
    """A local Twilio API; the test fails if any request broke the documented contract."""
    with FakeTwilioAPI() as fake:
        yield fake
    fake.assert_no_problems()
