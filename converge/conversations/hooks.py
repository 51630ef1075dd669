"""Steps other capabilities add to the inbound pipeline (reminder replies, ...), run inside the
receiving transaction after routing, in registration order."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from converge.conversations.models import Conversation, Message

InboundHook = Callable[["Conversation", "Message"], None]

_after_receive: list[InboundHook] = []


def register_after_receive(hook: InboundHook) -> None:
    if hook not in _after_receive:
        _after_receive.append(hook)


def run_after_receive(conversation: Conversation, message: Message) -> None:
    for hook in _after_receive:
        hook(conversation, message)
