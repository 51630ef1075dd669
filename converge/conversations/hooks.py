"""Steps other capabilities add to the inbound pipeline (reminder replies, ...), run inside the
receiving transaction after routing, in registration order; and to the outbox, run inside the
transaction that records a send's outcome (sent, or failed for good)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from converge.conversations.models import Conversation, Message

InboundHook = Callable[["Conversation", "Message"], None]
OutcomeHook = Callable[["Message"], None]

_after_receive: list[InboundHook] = []
_after_outcome: list[OutcomeHook] = []


def register_after_receive(hook: InboundHook) -> None:
    if hook not in _after_receive:
        _after_receive.append(hook)


def run_after_receive(conversation: Conversation, message: Message) -> None:
    for hook in _after_receive:
        hook(conversation, message)


def register_after_outcome(hook: OutcomeHook) -> None:
    if hook not in _after_outcome:
        _after_outcome.append(hook)


def run_after_outcome(message: Message) -> None:
    """`message.status` is the outcome just recorded: sent (or delivered) or failed."""
    for hook in _after_outcome:
        hook(message)
