"""Team names are never only an ellipsis: the inbox's team views and each row's assignee line
carry the whole name in a title, and wrap instead of cutting (CSS, checked in screenshots)."""

from __future__ import annotations

import pytest

from converge.conversations.models import Conversation
from converge.practices.models import Team
from tests.helpers import receive

pytestmark = pytest.mark.django_db


def test_team_names_have_a_title(practice, sms_channel, staff_client):
    team = Team.objects.get(practice=practice, slug="front-desk")
    message = receive(sms_channel, "+15552017788", "Where do I park?").message
    Conversation.objects.filter(pk=message.conversation_id).update(team=team, assignee=None)
    page = staff_client.get("/").content.decode()
    assert f'<span class="view-label" title="{team.name}">{team.name}</span>' in page
    listing = staff_client.get("/inbox/list").content.decode()
    assert f'<span class="assignee" title="Unassigned · {team.name}">' in listing
