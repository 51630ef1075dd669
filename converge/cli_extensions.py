"""Sub-commands that live with their capability (router, channels, imports) register here."""

from __future__ import annotations

import argparse
from collections.abc import Callable

REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = []  # type: ignore[type-arg]
