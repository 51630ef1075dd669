"""A patient's attachment, downloaded from the thread in Chromium: the exact bytes, under a safe
name, as a download (an HTML or SVG file is never rendered in the staff's session)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from converge.conversations.models import Attachment, Message
from converge.core import storage
from tests.dashboard.browser.conftest import post_inbound, shot

pytestmark = pytest.mark.browser


def attach(message: Message, name: str, content_type: str, content: bytes) -> Attachment:
    return Attachment.objects.create(
        practice_id=message.practice_id,
        message=message,
        filename=name,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        storage_path=storage.save_encrypted(message.practice_id, content, dedupe=True),
        state=Attachment.State.STORED,
    )


def test_staff_download_a_patients_files_from_the_thread(browse, server, maria, sms_channel, tmp_path: Path) -> None:
    post_inbound(server, sms_channel, "+15552017788", "Here is the photo of my insurance card")
    message = Message.objects.get(channel=sms_channel, direction="in")
    card = b"\x89PNG\r\n\x1a\n" + b"card" * 100
    attach(message, "insurance card.png", "image/png", card)
    attach(message, "../../invoice\r\n.html", "text/html", b"<script>document.title='pwned'</script>")

    b = browse()
    page = b.login(maria)
    page.locator("#conversation-list .row-link").first.click()
    links = page.locator("#thread-items a.attachment")
    expect(links).to_have_count(2)
    shot(page, "attachments-thread-1280x800")

    downloaded: list[tuple[str, bytes]] = []
    for index in range(2):
        with page.expect_download() as info:
            links.nth(index).click()
        download: Any = info.value
        target = tmp_path / f"file-{index}"
        download.save_as(target)
        downloaded.append((download.suggested_filename, target.read_bytes()))

    assert downloaded[0] == ("insurance card.png", card)
    name, body = downloaded[1]
    assert "/" not in name and "\r" not in name and "\n" not in name and name.endswith(".html")
    assert body.startswith(b"<script>")
    assert page.title() != "pwned" and "/c/" in page.url  # still the inbox, nothing rendered
