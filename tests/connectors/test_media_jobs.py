"""The media worker job: WhatsApp and MMS attachments downloaded from the (fake) providers into
MEDIA_ROOT/<practice>/ (encrypted), with size and type limits and staff-readable outcomes."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from converge.connectors import media
from converge.connectors.media import attachments_fetch_pending
from converge.conversations.models import Attachment
from converge.core import clock, storage
from converge.worker_lanes import periodic_jobs, run_due_jobs
from tests.connectors.channels import sms_channel, twilio_fixture, twilio_post, wa_channel, wa_fixture, wa_post
from tests.providers.fakes import Reply
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0" + b"rash photo" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"card back" * 50


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def client() -> Client:
    return Client()


def whatsapp_image(client, practice, fake_graph, *, content=JPEG, mime="image/jpeg") -> Attachment:
    channel = wa_channel(practice, fake_graph)
    media_id = json.loads(wa_fixture("image"))["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["id"]
    if content is not None:
        fake_graph.add_media(media_id, content, mime)
    assert wa_post(client, channel, wa_fixture("image")).status_code == 200
    run_inbound()
    return Attachment.objects.get()


def stored_bytes(attachment: Attachment) -> bytes:
    return storage.read_decrypted(attachment.storage_path)


def test_the_job_is_registered_and_runs_from_the_worker_loop(client, practice, fake_graph):
    assert "connectors.fetch_media" in periodic_jobs()
    attachment = whatsapp_image(client, practice, fake_graph)
    run_due_jobs()
    attachment.refresh_from_db()
    assert attachment.state == Attachment.State.STORED


def test_whatsapp_media_is_fetched_by_id_and_stored_by_content_hash(client, practice, fake_graph):
    attachment = whatsapp_image(client, practice, fake_graph)
    assert attachment.state == Attachment.State.PENDING
    assert attachments_fetch_pending() == 1
    attachment.refresh_from_db()
    digest = hashlib.sha256(JPEG).hexdigest()
    assert (attachment.state, attachment.sha256, attachment.size) == ("stored", digest, len(JPEG))
    assert attachment.storage_path.startswith(f"{practice.pk}/") and attachment.storage_path.endswith(".enc")
    assert JPEG not in (Path(settings.MEDIA_ROOT) / attachment.storage_path).read_bytes()  # encrypted at rest
    assert stored_bytes(attachment) == JPEG
    assert (Path(settings.MEDIA_ROOT) / attachment.storage_path).stat().st_mode & 0o077 == 0
    info, download = fake_graph.requests_on("media_info")[0], fake_graph.requests_on("media_download")[0]
    assert info.path.endswith(f"/{attachment.provider_media_id}")
    assert download.headers["authorization"] == f"Bearer {fake_graph.access_token}"
    assert attachments_fetch_pending() == 0  # done once


def test_oversized_media_is_rejected_with_a_reason(client, practice, fake_graph, monkeypatch):
    monkeypatch.setattr(media, "MEDIA_MAX_BYTES", 100)
    attachment = whatsapp_image(client, practice, fake_graph)
    attachments_fetch_pending()
    attachment.refresh_from_db()
    assert attachment.state == Attachment.State.REJECTED
    assert "larger" in attachment.failure_reason
    assert not attachment.storage_path


def test_a_type_we_do_not_accept_is_rejected(client, practice, fake_graph):
    attachment = whatsapp_image(client, practice, fake_graph, content=b"<svg onload=alert(1)>", mime="image/svg+xml")
    attachments_fetch_pending()
    attachment.refresh_from_db()
    assert attachment.state == Attachment.State.REJECTED
    assert "not accepted" in attachment.failure_reason


def test_media_the_provider_no_longer_has_fails_with_a_reason(client, practice, fake_graph):
    attachment = whatsapp_image(client, practice, fake_graph, content=None)
    attachments_fetch_pending()
    attachment.refresh_from_db()
    assert attachment.state == Attachment.State.FAILED
    assert attachment.failure_reason


def test_a_media_url_off_meta_is_refused(client, practice, fake_graph):
    channel = wa_channel(practice, fake_graph)
    media_id = "1003383421387256"
    fake_graph.add_media(media_id, JPEG, "image/jpeg", url="http://169.254.169.254/latest/meta-data/")
    wa_post(client, channel, wa_fixture("image"))
    run_inbound()
    attachments_fetch_pending()
    attachment = Attachment.objects.get()
    assert attachment.state == Attachment.State.REJECTED
    assert "not WhatsApp's" in attachment.failure_reason


def test_transient_failures_stay_pending_then_give_up(client, practice, fake_graph):
    attachment = whatsapp_image(client, practice, fake_graph)
    fake_graph.reply_next(Reply(status=503, body=b""), route="media_info")
    assert attachments_fetch_pending() == 0
    attachment.refresh_from_db()
    assert attachment.state == Attachment.State.PENDING
    assert attachment.failure_reason.startswith("Will retry")
    attachments_fetch_pending()
    attachment.refresh_from_db()
    assert attachment.state == Attachment.State.STORED

    second = Attachment.objects.create(
        practice=practice, message=attachment.message, content_type="image/jpeg", provider_media_id="999"
    )
    fake_graph.reply_next(Reply(status=500, body=b""), route="media_info")
    with clock.frozen(clock.now() + media.MEDIA_RETRY_WINDOW + timedelta(minutes=1)):
        attachments_fetch_pending()
    second.refresh_from_db()
    assert second.state == Attachment.State.FAILED
    assert second.failure_reason.startswith("Gave up")


def test_mms_media_is_downloaded_with_basic_auth_then_from_the_cdn(client, practice, fake_twilio):
    channel = sms_channel(practice, fake_twilio)
    urls = [fake_twilio.add_media(JPEG, "image/jpeg"), fake_twilio.add_media(PNG, "image/png")]
    params = twilio_fixture("inbound_mms", MediaUrl0=urls[0], MediaUrl1=urls[1])
    assert twilio_post(client, channel, params, token=fake_twilio.auth_token).status_code == 200
    run_inbound()
    assert attachments_fetch_pending() == 2
    first, second = Attachment.objects.order_by("id")
    assert (first.state, second.state) == ("stored", "stored")
    assert (stored_bytes(first), stored_bytes(second)) == (JPEG, PNG)
    assert second.content_type == "image/png"
    assert len(fake_twilio.requests_on("cdn")) == 2  # the fake fails the test if credentials reached it


def test_mms_media_on_a_foreign_host_is_refused(client, practice, fake_twilio):
    channel = sms_channel(practice, fake_twilio)
    params = twilio_fixture("inbound_mms", NumMedia="1", MediaUrl0="https://attacker.example/steal")
    params.pop("MediaUrl1")
    params.pop("MediaContentType1")
    twilio_post(client, channel, params, token=fake_twilio.auth_token)
    run_inbound()
    attachments_fetch_pending()
    attachment = Attachment.objects.get()
    assert attachment.state == Attachment.State.REJECTED
    assert "not Twilio's" in attachment.failure_reason


def test_the_same_file_twice_is_stored_once(client, practice, fake_twilio):
    channel = sms_channel(practice, fake_twilio)
    url = fake_twilio.add_media(JPEG, "image/jpeg")
    for sid in ("MM1", "MM2"):
        params = twilio_fixture("inbound_mms", MessageSid=sid, SmsSid=sid, NumMedia="1", MediaUrl0=url)
        params.pop("MediaUrl1")
        params.pop("MediaContentType1")
        twilio_post(client, channel, params, token=fake_twilio.auth_token)
        run_inbound()
    attachments_fetch_pending()
    paths = set(Attachment.objects.values_list("storage_path", flat=True))
    assert len(paths) == 1
    assert len(list((Path(settings.MEDIA_ROOT) / str(practice.pk)).iterdir())) == 1


def test_retries_do_not_starve_new_media(client, practice, fake_graph):
    attachment = whatsapp_image(client, practice, fake_graph)
    Attachment.objects.filter(pk=attachment.pk).update(failure_reason="Will retry: The WhatsApp API timed out")
    fresh = Attachment.objects.create(
        practice=practice, message=attachment.message, content_type="image/jpeg", provider_media_id="1003383421387256"
    )
    attachments_fetch_pending(limit=1)
    fresh.refresh_from_db()
    attachment.refresh_from_db()
    assert (fresh.state, attachment.state) == ("stored", "pending")
