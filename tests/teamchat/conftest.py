from __future__ import annotations

from typing import Any

import pytest

from converge.practices.models import Role
from converge.teamchat.models import TeamChannel
from converge.teamchat.services import team_channels_ensure
from tests.helpers import make_staff


@pytest.fixture
def channels(practice: Any) -> dict[str, TeamChannel]:
    team_channels_ensure(practice_id=practice.pk)
    return {c.team.slug: c for c in TeamChannel.objects.filter(practice=practice).select_related("team")}


@pytest.fixture
def manager(practice: Any) -> Any:
    return make_staff(practice, "Paula Manager", Role.MANAGER)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    """Events as publish_now receives them (after commit)."""
    sent: list[tuple[list[str], dict[str, Any]]] = []
    monkeypatch.setattr("converge.core.events.publish_now", lambda groups, event: sent.append((groups, event)))
    return sent
