"""Browser tests for the calendar and the manager's pages, on the same server and sign-in
fixtures as the inbox's browser tests (tests/dashboard/browser/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browser.conftest import (  # noqa: F401 -- fixtures re-used here
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    browse,
    grace,
    maria,
    server,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/scheduling/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed"))


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    """Like the inbox tests' browser, but closed after this module: Playwright's sync API keeps
    an event loop on the main thread, which later tests that call asyncio.run() cannot share."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
