"""Sub-commands that live with their capability (router, channels, imports).

Each module named here has `register(subparsers)`; it is imported only when the CLI builds its
parser, so `converge --help` stays fast and capabilities stay decoupled from the CLI core."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

EXTENSION_MODULES = (
    "converge.scheduling.cli",
    "converge.connectors.cli",
    "converge.routing.cli_commands",
    "converge.privacy.cli",
    "converge.core.cli",
    "converge.accounts.cli",
)

REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = []  # type: ignore[type-arg]


def registrars() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    modules = []
    for name in EXTENSION_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    # Modules may either expose register() or append to REGISTRARS when imported.
    found = list(REGISTRARS)
    for module in modules:
        register = getattr(module, "register", None)
        if register is not None and register not in found:
            found.append(register)
    return found
