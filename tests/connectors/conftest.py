"""The local provider APIs, for the webhook, media and setup tests here too."""

from tests.providers.conftest import fake_graph, fake_twilio  # noqa: F401 (pytest fixtures)
