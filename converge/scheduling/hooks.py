"""What happens around booking changes (reminders re-planned, freed slots offered) is registered
here by the reminders package, so scheduling does not import it and the order stays explicit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_hooks: dict[str, list[Callable[..., None]]] = {"booked": [], "moved": [], "status": []}


def register(event: str, func: Callable[..., None]) -> None:
    if func not in _hooks[event]:
        _hooks[event].append(func)


def run(event: str, appointment: Any, **kwargs: Any) -> None:
    for func in _hooks[event]:
        func(appointment, **kwargs)
