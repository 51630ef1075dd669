"""Staff download a patient's attachment from the thread: scoped to the practice and to the
conversation's clinical confidentiality, audited, decrypted from the encrypted store in memory and
served as a download the browser will not render (safe name, safe type, nosniff, no-store)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from converge.audit.models import AuditEvent
from converge.conversations.models import Attachment, Message
from converge.core import storage
from converge.core.downloads import content_disposition, safe_content_type
from converge.practices.models import Role
from converge.privacy.access import break_glass
from converge.privacy.guard import privacy_settings
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n" + b"lab panel page " * 200
CLINICAL_TEXT = "Since my surgery the incision is red and oozing, is that normal?"
# What a quoted-string fallback may hold after sanitising, and an RFC 5987 value.
SAFE_HEADER = re.compile(r"^attachment; filename=\"[A-Za-z0-9._ ()+-]+\"(; filename\*=UTF-8''[A-Za-z0-9%._~-]+)?$")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def message(sms_channel) -> Message:
    return receive(sms_channel, "+15552017799", "Here is the form you asked for").message


def stored(
    message: Message,
    content: bytes = PDF,
    *,
    filename: str = "lab-results.pdf",
    content_type: str = "application/pdf",
    state: str = Attachment.State.STORED,
) -> Attachment:
    return Attachment.objects.create(
        practice_id=message.practice_id,
        message=message,
        filename=filename,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        storage_path=storage.save_encrypted(message.practice_id, content, dedupe=True),
        state=state,
    )


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def url(attachment: Attachment) -> str:
    return f"/a/{attachment.pk}/download"


def downloads() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="attachment.download"))


def test_staff_download_the_exact_bytes_as_an_attachment(staff_client, message):
    attachment = stored(message)
    response = staff_client.get(url(attachment))
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Disposition"] == 'attachment; filename="lab-results.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Length"] == str(len(PDF))
    assert "sandbox" in response["Content-Security-Policy"]


def test_the_file_stays_encrypted_and_no_decrypted_copy_is_written(staff_client, message):
    attachment = stored(message)
    before = sorted(Path(settings.MEDIA_ROOT).rglob("*"))
    assert staff_client.get(url(attachment)).content == PDF
    after = sorted(Path(settings.MEDIA_ROOT).rglob("*"))
    assert after == before
    assert all(PDF[:40] not in path.read_bytes() for path in after if path.is_file())


def test_another_practices_attachment_is_404(practice, other_practice, message):
    attachment = stored(message)
    outsider = signed_in(make_staff(other_practice, "Olga Other", Role.ADMIN))
    assert outsider.get(url(attachment)).status_code == 404
    assert outsider.get("/a/999999/download").status_code == 404
    assert downloads() == []


def test_anonymous_is_sent_to_sign_in(message):
    attachment = stored(message)
    response = Client().get(url(attachment))
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url(attachment)}"


def test_only_get_is_allowed(staff, message):
    attachment = stored(message)
    client = signed_in(staff)  # no CSRF enforcement, so the method check itself answers
    assert client.post(url(attachment)).status_code == 405
    assert client.put(url(attachment)).status_code == 405
    assert client.delete(url(attachment)).status_code == 405
    assert downloads() == []


@pytest.fixture
def clinical_attachment(practice, sms_channel) -> Attachment:
    policy = privacy_settings(practice.pk)
    policy.clinical_confidentiality = True
    policy.invite_to_portal_on_clinical = False
    policy.save()
    message = receive(sms_channel, "+15552017788", CLINICAL_TEXT).message
    message.conversation.refresh_from_db()
    assert message.conversation.category in ("clinical", "urgent", "refill")
    return stored(message, filename="wound.jpg", content_type="image/jpeg")


def test_clinical_confidentiality_applies_as_on_the_conversation_page(practice, clinical_attachment):
    conversation = clinical_attachment.message.conversation
    front_staff = make_staff(practice, "Fran Desk", Role.FRONT_DESK)
    front = signed_in(front_staff)
    assert front.get(f"/c/{conversation.pk}/").status_code == 403
    assert front.get(url(clinical_attachment)).status_code == 403
    assert downloads() == []
    nurse = signed_in(make_staff(practice, "Nina Nurse", Role.NURSE))
    assert nurse.get(url(clinical_attachment)).status_code == 200


def test_break_glass_opens_the_attachment_too(practice, clinical_attachment):
    patient = clinical_attachment.message.conversation.patient
    front_staff = make_staff(practice, "Fran Desk", Role.FRONT_DESK)
    break_glass(staff=front_staff, patient=patient, reason="Patient on the phone, nurse out")
    response = signed_in(front_staff).get(url(clinical_attachment))
    assert response.status_code == 200
    assert response.content == PDF


def test_each_download_is_audited_with_attachment_and_patient_but_no_file_name(staff, staff_client, message):
    attachment = stored(message, filename="Jane Roe insurance card.pdf")
    staff_client.get(url(attachment))
    staff_client.get(url(attachment))
    rows = downloads()
    assert len(rows) == 2
    row = rows[0]
    assert row.object_type == "conversations.attachment" and row.object_id == str(attachment.pk)
    assert row.patient_id == message.patient_id
    assert row.actor_user_id == staff.user_id
    assert row.detail["conversation_id"] == message.conversation_id
    assert "Jane" not in json.dumps(row.detail) and "insurance" not in json.dumps(row.detail)


@pytest.mark.parametrize(
    ("filename", "fallback", "star"),
    [
        ('evil"; filename="run.exe', "evil_ filename_run.exe", None),
        ("report\r\nSet-Cookie: stolen=1.pdf", "reportSet-Cookie_ stolen_1.pdf", None),
        ("../../etc/passwd", "passwd", None),
        ("C:\\Users\\jane\\scan.pdf", "scan.pdf", None),
        ("..", "attachment", None),
        ("", "attachment", None),
        ("\u202etxt.exe", "txt.exe", None),
        ("Résultats d’analyse.pdf", "Resultats d_analyse.pdf", "R%C3%A9sultats%20d%E2%80%99analyse.pdf"),
        ("снимок.jpg", "_.jpg", "%D1%81%D0%BD%D0%B8%D0%BC%D0%BE%D0%BA.jpg"),
    ],
)
def test_hostile_file_names_give_a_safe_header(staff_client, message, filename, fallback, star):
    response = staff_client.get(url(stored(message, filename=filename)))
    assert response.status_code == 200
    header = response["Content-Disposition"]
    assert SAFE_HEADER.match(header), header
    expected = f'attachment; filename="{fallback}"' + (f"; filename*=UTF-8''{star}" if star else "")
    assert header == expected
    assert "stolen" not in response.cookies and "Set-Cookie" not in response.headers


def test_a_very_long_name_is_shortened_and_keeps_its_extension():
    header = content_disposition("x" * 400 + ".pdf")
    assert SAFE_HEADER.match(header)
    assert len(header) < 200 and header.endswith('.pdf"')


@pytest.mark.parametrize(
    "declared",
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "application/xhtml+xml",
        "application/javascript",
        "text/javascript",
        "application/x-shockwave-flash",
        "image/png\r\nX-Injected: 1",
        "",
    ],
)
def test_active_content_is_served_as_octet_stream(staff_client, message, declared):
    response = staff_client.get(url(stored(message, b"<svg onload=alert(1)>", content_type=declared)))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert "X-Injected" not in response.headers


@pytest.mark.parametrize(
    ("declared", "served"),
    [("image/jpeg", "image/jpeg"), ("Image/PNG; name=x.png", "image/png"), ("application/pdf", "application/pdf")],
)
def test_safe_types_are_kept_as_declared(declared, served):
    assert safe_content_type(declared) == served


@pytest.mark.parametrize("state", [Attachment.State.PENDING, Attachment.State.FAILED, Attachment.State.REJECTED])
def test_an_attachment_that_is_not_stored_is_404_with_a_reason(staff_client, message, state):
    attachment = stored(message, state=state)
    response = staff_client.get(url(attachment))
    assert response.status_code == 404
    assert "not available" in response.content.decode()
    assert Attachment.State(state).label.lower() in response.content.decode().lower()
    assert downloads() == []


def test_a_checksum_mismatch_is_refused(staff_client, message):
    attachment = stored(message)
    Attachment.objects.filter(pk=attachment.pk).update(sha256=hashlib.sha256(b"something else").hexdigest())
    response = staff_client.get(url(attachment))
    assert response.status_code == 409
    assert PDF[:40] not in response.content
    assert "does not match" in response.content.decode()
    assert downloads() == []


def test_a_missing_stored_file_is_refused_clearly(staff_client, message):
    attachment = stored(message)
    (Path(settings.MEDIA_ROOT) / attachment.storage_path).unlink()
    response = staff_client.get(url(attachment))
    assert response.status_code == 409
    assert "cannot be read" in response.content.decode()


def test_the_thread_links_stored_attachments_and_labels_the_others(staff_client, message):
    ready = stored(message, filename="form.pdf")
    waiting = stored(message, b"later", filename="photo.jpg", content_type="image/jpeg", state="pending")
    failed = Attachment.objects.create(
        practice_id=message.practice_id,
        message=message,
        filename="big.mov",
        content_type="video/quicktime",
        state=Attachment.State.FAILED,
        failure_reason="Gave up downloading: provider timeout",
    )
    page = staff_client.get(f"/c/{message.conversation_id}/thread").content.decode()
    assert f'href="/a/{ready.pk}/download"' in page
    assert "application/pdf" in page and "KB" in page
    assert f"/a/{waiting.pk}/download" not in page and f"/a/{failed.pk}/download" not in page
    assert "pending download" in page
    assert "failed" in page and "provider timeout" in page
