"""Setting up WhatsApp and Twilio channels: `converge channel …` and /settings/channels/."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.cli import main
from converge.connectors import registry
from converge.connectors.models import Channel, Provider, WhatsAppTemplate
from converge.practices.models import Role
from converge.providers.twilio.connector import TWILIO
from converge.providers.whatsapp.connector import WHATSAPP
from tests.connectors.channels import ACCOUNT_SID, sms_channel, wa_channel
from tests.helpers import make_staff

PUBLIC = "https://inbox.sunrise-clinic.example"
TOKEN = "EAAGm0PX4ZCpsBAKZCsecretsecretsecret"
SECRET = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


# --- the CLI -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cli_adds_a_whatsapp_channel_and_prints_its_webhook(practice, capsys):
    code = main(
        [
            "channel",
            "add",
            "whatsapp",
            "--practice",
            "sunrise",
            "--phone-number-id",
            "106540352242922",
            "--access-token",
            TOKEN,
            "--app-secret",
            SECRET,
            "--verify-token",
            "my-verify-token",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    channel = Channel.objects.get(provider=Provider.META)
    assert f"Channel key: {channel.key}" in out
    assert f"{PUBLIC}/webhooks/whatsapp/{channel.key}" in out
    assert TOKEN not in out and SECRET not in out
    assert channel.settings["phone_number_id"] == "106540352242922"
    assert channel.credentials() == {"access_token": TOKEN, "app_secret": SECRET, "verify_token": "my-verify-token"}
    for secret in (TOKEN, SECRET, "my-verify-token"):
        assert secret not in channel.credentials_encrypted
    audit = AuditEvent.objects.get(action="channel.create")
    assert secret not in str(audit.detail)


@pytest.mark.django_db(transaction=True)
def test_cli_adds_sms_channels_and_refuses_bad_input(practice, capsys):
    base = ["channel", "add", "sms", "--practice", "sunrise", "--account-sid", ACCOUNT_SID, "--auth-token", "tok"]
    assert main([*base, "--from-number", "(415) 555-0100"]) == 0
    out = capsys.readouterr().out
    channel = Channel.objects.get(provider=Provider.TWILIO)
    assert channel.settings["from_number"] == "+14155550100"
    assert f"{PUBLIC}/webhooks/twilio/{channel.key}" in out
    assert f"{PUBLIC}/webhooks/twilio/{channel.key}/status" in out
    assert main([*base, "--messaging-service-sid", "MG9f8e7d6c5b4a39281706f5e4d3c2b1a0", "--name", "Pool"]) == 0
    capsys.readouterr()
    bad = ["channel", "add", "sms", "--practice", "sunrise", "--account-sid", "AC123", "--auth-token", "t"]
    assert main([*bad, "--from-number", "+14155550199"]) == 2
    assert "--account-sid" in capsys.readouterr().err
    assert main([*base, "--from-number", "+14155550100"]) == 2  # the same number twice
    assert "already set up" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: exactly one of --from-number / --messaging-service-sid
        main([*base])
    assert Channel.objects.filter(provider=Provider.TWILIO).count() == 2


@pytest.mark.django_db(transaction=True)
def test_cli_list_masks_credentials(practice, capsys):
    wa_channel(practice)
    sms_channel(practice)
    assert main(["channel", "list", "--practice", "sunrise"]) == 0
    out = capsys.readouterr().out
    assert "EAAtest-token" not in out and "test-auth-token" not in out
    assert "EAA…oken" in out  # crypto.mask
    assert "/webhooks/whatsapp/" in out and "/webhooks/twilio/" in out
    assert "send rate: 80/s" in out and "send rate: 1/s" in out


@pytest.mark.django_db(transaction=True)
def test_cli_test_checks_credentials(practice, fake_graph, fake_twilio, capsys):
    wa = wa_channel(practice, fake_graph)
    assert main(["channel", "test", "--practice", "sunrise", f"--key={wa.key}"]) == 0
    assert "ok: Connected to WhatsApp number +1 555-078-3881" in capsys.readouterr().out
    sms = sms_channel(practice, fake_twilio)
    assert main(["channel", "test", "--practice", "sunrise", f"--key={sms.key}"]) == 0
    assert "Main Street Clinic" in capsys.readouterr().out
    fake_graph.graph_error(190, http_status=401, route="phone_number")
    assert main(["channel", "test", "--practice", "sunrise", f"--key={wa.key}"]) == 1
    assert "FAILED: The WhatsApp access token has expired" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_cli_registers_templates(practice, capsys):
    channel = wa_channel(practice)
    args = ["channel", "template", "--practice", "sunrise", f"--key={channel.key}", "--name", "appointment_reminder"]
    assert main([*args, "--language", "en_US", "--body", "Hi from {{1}} on {{2}}"]) == 0
    assert main([*args, "--language", "en_US", "--body", "Hi from {{1}} at {{2}}", "--status", "pending"]) == 0
    template = WhatsAppTemplate.objects.get()
    assert (template.body, template.status) == ("Hi from {{1}} at {{2}}", "pending")
    assert main([*args, "--language", "en_US", "--body", "gap {{1}} {{3}}"]) == 2
    assert "--body" in capsys.readouterr().err


def test_the_real_providers_are_spoken_by_their_connectors(practice):
    assert registry.connector_for(wa_channel(practice)) is WHATSAPP
    assert registry.connector_for(sms_channel(practice)) is TWILIO


# --- the settings page -----------------------------------------------------------------------


@pytest.fixture
def manager(practice):
    return make_staff(practice, "Paula Manager", Role.MANAGER)


@pytest.fixture
def manager_client(manager):
    client = Client(enforce_csrf_checks=False)
    client.force_login(manager.user)
    return client


@pytest.mark.django_db
def test_only_managers_and_admins_reach_channel_settings(staff_client, manager_client, practice):
    assert staff_client.get("/settings/channels/").status_code == 403
    assert staff_client.post("/settings/channels/add/sms", {"account_sid": ACCOUNT_SID}).status_code == 403
    assert Client().get("/settings/channels/").status_code == 302
    assert manager_client.get("/settings/channels/").status_code == 200
    admin = make_staff(practice, "Ada Admin", Role.ADMIN)
    client = Client()
    client.force_login(admin.user)
    assert client.get("/settings/channels/").status_code == 200


@pytest.mark.django_db
def test_add_whatsapp_from_the_page_and_see_it_masked(manager_client, manager):
    response = manager_client.post(
        "/settings/channels/add/whatsapp",
        {
            "name": "Front desk WhatsApp",
            "phone_number_id": "106540352242922",
            "access_token": TOKEN,
            "app_secret": SECRET,
            "verify_token": "page-verify",
        },
    )
    channel = Channel.objects.get(provider=Provider.META)
    assert response.status_code == 302
    assert response["Location"] == f"/settings/channels/{channel.pk}/"
    page = manager_client.get(response["Location"]).content.decode()
    assert f"{PUBLIC}/webhooks/whatsapp/{channel.key}" in page
    for secret in (TOKEN, SECRET, "page-verify"):
        assert secret not in page
    assert "EAA…cret" in page
    assert AuditEvent.objects.filter(action="channel.create", actor_label=f"staff:{manager.pk}").exists()


@pytest.mark.django_db
def test_a_bad_form_is_shown_again_without_its_secrets(manager_client):
    response = manager_client.post(
        "/settings/channels/add/sms",
        {"account_sid": ACCOUNT_SID, "auth_token": "the-secret-token", "from_number": "12"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "from_number" in page
    assert ACCOUNT_SID in page  # kept for correction
    assert "the-secret-token" not in page
    assert not Channel.objects.exists()


@pytest.mark.django_db
def test_test_connection_button(manager_client, practice, fake_graph):
    channel = wa_channel(practice, fake_graph)
    response = manager_client.post(f"/settings/channels/{channel.pk}/test", follow=True)
    assert "Connected to WhatsApp number +1 555-078-3881" in response.content.decode()
    channel.refresh_from_db()
    assert channel.display_address == "+1 555-078-3881"
    fake_graph.graph_error(190, http_status=401, route="phone_number")
    response = manager_client.post(f"/settings/channels/{channel.pk}/test", follow=True)
    assert "access token has expired" in response.content.decode()


@pytest.mark.django_db
def test_rotate_credentials_and_disable(manager_client, practice):
    channel = sms_channel(practice)
    response = manager_client.post(f"/settings/channels/{channel.pk}/credentials", {"auth_token": "rotated-token"})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.credentials()["auth_token"] == "rotated-token"
    assert channel.credentials()["account_sid"] == ACCOUNT_SID
    audit = AuditEvent.objects.get(action="channel.credentials_update")
    assert audit.detail == {"fields": ["auth_token"]}
    assert manager_client.post(f"/settings/channels/{channel.pk}/credentials", {"auth_token": " "}).status_code == 400
    manager_client.post(f"/settings/channels/{channel.pk}/enabled", {"enabled": "0"})
    channel.refresh_from_db()
    assert not channel.enabled
    assert Client().post(f"/webhooks/twilio/{channel.key}").status_code == 404


@pytest.mark.django_db
def test_templates_are_kept_on_the_page(manager_client, practice):
    channel = wa_channel(practice)
    url = f"/settings/channels/{channel.pk}/templates"
    form = {"name": "appointment_reminder", "language": "en_US", "body": "Hi {{1}}", "category": "utility"}
    assert manager_client.post(url, {**form, "status": "approved"}).status_code == 302
    template = WhatsAppTemplate.objects.get()
    assert template.is_approved and template.practice_id == practice.pk
    assert manager_client.post(url, {**form, "status": "approved"}).status_code == 400  # duplicate
    edit = f"{url}/{template.pk}/"
    assert manager_client.get(edit).status_code == 200
    assert manager_client.post(edit, {**form, "body": "Hello {{1}}", "status": "rejected"}).status_code == 302
    template.refresh_from_db()
    assert (template.body, template.status) == ("Hello {{1}}", "rejected")
    page = manager_client.get(f"/settings/channels/{channel.pk}/").content.decode()
    assert "appointment_reminder" in page and "rejected" in page
    assert manager_client.post(f"{url}/{template.pk}/delete").status_code == 302
    assert not WhatsAppTemplate.objects.exists()


@pytest.mark.django_db
def test_another_practices_channel_is_not_found(manager_client, other_practice):
    foreign = wa_channel(other_practice)
    assert manager_client.get(f"/settings/channels/{foreign.pk}/").status_code == 404
    assert manager_client.post(f"/settings/channels/{foreign.pk}/test").status_code == 404
    assert manager_client.post(f"/settings/channels/{foreign.pk}/enabled", {"enabled": "0"}).status_code == 404
    listing = manager_client.get("/settings/channels/").content.decode()
    assert foreign.key not in listing and not re.search(rf"/settings/channels/{foreign.pk}/", listing)


@pytest.mark.django_db
def test_the_settings_page_needs_csrf(manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager.user)
    assert client.post("/settings/channels/add/whatsapp", {"phone_number_id": "1"}).status_code == 403
