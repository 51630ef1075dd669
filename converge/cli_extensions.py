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


def registrars() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    found = []
    for name in EXTENSION_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(module.register)
    return found
