"""Audit page and export, retention, patient export, encryption at rest with key rotation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from converge.audit.models import AuditEvent
from converge.audit.services import audit_purge_before, audit_record, audit_seal, audit_verify
from converge.cli import main
from converge.conversations.models import Message
from converge.core import clock, crypto, storage
from converge.practices.models import Role
from converge.privacy.guard import privacy_settings
from converge.privacy.retention import purge_messages
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


def test_audit_page_is_for_managers_and_filters(practice, sms_channel, staff):
    message = receive(sms_channel, "+15552017788", "hello").message
    manager = make_staff(practice, "Sarah Manager", Role.MANAGER)
    front = Client()
    front.force_login(staff.user)
    assert front.get("/settings/audit/").status_code == 403
    client = Client()
    client.force_login(manager.user)
    page = client.get(f"/settings/audit/?patient={message.patient_id}")
    assert page.status_code == 200
    assert "message.receive" in page.content.decode()
    csv_text = b"".join(client.get(f"/settings/audit.csv?patient={message.patient_id}").streaming_content).decode()
    assert csv_text.splitlines()[0].startswith("id,time,actor")
    assert "message.receive" in csv_text
    assert AuditEvent.objects.filter(action="audit.export").exists()


def test_retention_purges_old_messages(practice, sms_channel):
    old = receive(sms_channel, "+15552017788", "Do you take Aetna?").message
    settings = privacy_settings(practice.pk)
    settings.message_retention_days = 30
    settings.save()
    with clock.frozen(clock.now() + timedelta(days=31)):
        fresh = receive(sms_channel, "+15552017788", "new").message
        assert purge_messages() == 1
    assert not Message.objects.filter(pk=old.pk).exists()
    assert Message.objects.filter(pk=fresh.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_audit_purge_keeps_the_rest_verifiable():
    with clock.frozen(clock.now() - timedelta(days=3000)):
        for i in range(5):
            audit_record(practice_id=1, actor=None, action="old", detail={"i": i})
    for i in range(5):
        audit_record(practice_id=1, actor=None, action="new", detail={"i": i})
    audit_seal()
    assert audit_purge_before(cutoff=clock.now() - timedelta(days=2000)) == 5
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"new"}
    result = audit_verify()
    assert result.ok and result.checked == 5


def test_patient_export_command(practice, sms_channel, tmp_path, capsys):
    message = receive(sms_channel, "+15552017788", "please send my records").message
    out = tmp_path / "export.json"
    assert (
        main(["export-patient", "--practice", "sunrise", "--patient", str(message.patient_id), "--out", str(out)]) == 0
    )
    document = json.loads(out.read_text())
    assert document["patient"]["id"] == message.patient_id
    assert [m["body"] for m in document["messages"]] == ["please send my records"]
    assert document["contact_points"][0]["address"] == "+15552017788"
    assert any(row["action"] == "message.receive" for row in document["access_log"])
    assert AuditEvent.objects.filter(action="patient.export", patient_id=message.patient_id).exists()
    assert main(["export-patient", "--practice", "sunrise", "--patient", "999999"]) == 2


def test_files_are_encrypted_at_rest_and_keys_rotate(practice, sms_channel, monkeypatch, settings):
    relative = storage.save_encrypted(practice.pk, b"%PDF lab results")
    raw = (settings.MEDIA_ROOT / relative).read_bytes()
    assert b"lab results" not in raw
    assert storage.read_decrypted(relative) == b"%PDF lab results"
    old_key = (settings.DATA_DIR / "encryption_key").read_text().strip()
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("CONVERGE_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    crypto.reset_keys()
    try:
        assert main(["rotate-keys"]) == 0
        monkeypatch.setenv("CONVERGE_ENCRYPTION_KEYS", new_key)  # the old key is gone
        crypto.reset_keys()
        assert storage.read_decrypted(relative) == b"%PDF lab results"
        sms_channel.refresh_from_db()
        assert sms_channel.credentials()["webhook_secret"]
    finally:
        monkeypatch.delenv("CONVERGE_ENCRYPTION_KEYS")
        crypto.reset_keys()
    with pytest.raises(ValueError):
        storage.read_decrypted("../../etc/passwd")


def test_readme_permission_table_matches_the_code():
    from pathlib import Path

    from converge.practices.permissions import matrix_markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert matrix_markdown() in readme
