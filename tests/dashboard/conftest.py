"""Fixtures for the staff inbox tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

HTMX = {"HX-Request": "true"}


@pytest.fixture
def conversation(sms_channel: Any) -> Any:
    from converge.privacy.models import PrivacySettings
    from tests.helpers import receive

    # One patient message and nothing automatic after it (tests/privacy covers the invitation a
    # refill request gets on SMS).
    PrivacySettings.objects.update_or_create(
        practice_id=sms_channel.practice_id, defaults={"invite_to_portal_on_clinical": False}
    )
    return receive(sms_channel, "+15552017788", "Can I get a refill?").message.conversation


@pytest.fixture
def client(staff: Any) -> Client:
    """A signed-in staff browser (CSRF checks off; test_pages checks CSRF on its own)."""
    client = Client()
    client.force_login(staff.user)
    return client


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    """Events that services publish, captured instead of sent (run on-commit callbacks with
    django_capture_on_commit_callbacks(execute=True))."""
    sent: list[tuple[list[str], dict[str, Any]]] = []
    from converge.core import events

    monkeypatch.setattr(events, "publish_now", lambda groups, event: sent.append((list(groups), event)))
    return sent
