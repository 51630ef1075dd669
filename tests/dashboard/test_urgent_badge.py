"""An urgent conversation wears one "Urgent" badge, in the list and in the thread header, though
both its priority and its category say urgent."""

from __future__ import annotations

import re

import pytest

from converge.conversations.models import Conversation
from tests.helpers import receive

pytestmark = pytest.mark.django_db


def _badges(html: str) -> list[str]:
    return [text.strip().lower() for text in re.findall(r'<span class="badge[^"]*">([^<]*)</span>', html)]


def test_one_urgent_badge_in_the_list_and_the_header(practice, sms_channel, staff_client):
    message = receive(sms_channel, "+15552017788", "Where do I park?").message
    Conversation.objects.filter(pk=message.conversation_id).update(priority=3, category="urgent")
    listing = staff_client.get("/inbox/list").content.decode()
    assert _badges(listing).count("urgent") == 1
    header = staff_client.get(f"/c/{message.conversation_id}/header").content.decode()
    assert _badges(header).count("urgent") == 1


def test_an_urgent_category_without_urgent_priority_still_shows(practice, sms_channel, staff_client):
    message = receive(sms_channel, "+15552017788", "Where do I park?").message
    Conversation.objects.filter(pk=message.conversation_id).update(priority=1, category="urgent")
    assert _badges(staff_client.get("/inbox/list").content.decode()).count("urgent") == 1
