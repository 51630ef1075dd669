"""Routing: which team (and, later, whom) a conversation belongs to."""

from __future__ import annotations

from converge.conversations.models import Conversation, Message


def route_inbound(*, conversation: Conversation, message: Message) -> None:
    """Decide the conversation's team for a new patient message. Caller saves the conversation."""
    if conversation.team_id is None:
        conversation.team_id = conversation.practice.default_team_id if conversation.practice_id else None
