"""The browser suite's server, Chromium and sign-in fixtures (tests/dashboard/browser)."""

from tests.dashboard.browser.conftest import browse, browser, grace, maria, server  # noqa: F401
