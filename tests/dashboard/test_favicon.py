"""Browsers ask for /favicon.ico on every page that names no icon (the portal, the demo site);
it answers with the Converge icon, and those pages name it."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.connectors.webchat import webchat_demo_channel_ensure

pytestmark = pytest.mark.django_db

ICON = '<link rel="icon" href="/static/converge/favicon.svg" type="image/svg+xml">'


def test_favicon_ico_leads_to_the_icon(client: Client):
    response = client.get("/favicon.ico")
    assert response.status_code in (301, 302)
    assert response["Location"] == "/static/converge/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert b"<svg" in body


def test_portal_and_demo_site_name_the_icon(practice, client: Client, settings):
    assert ICON in client.get("/portal/").content.decode()
    settings.PUBLIC_BASE_URL = "http://testserver"
    webchat_demo_channel_ensure(practice)
    assert ICON in client.get("/demo-site/").content.decode()
