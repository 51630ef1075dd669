"""The composer's PHI-guard preview (issue 13 #7): while a reply is typed, the notice says what
the guard will do on the chosen channel. Advisory: the send is still decided by the guard."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from converge.conversations.models import Message
from converge.practices.models import Role
from converge.privacy.guard import privacy_settings
from converge.privacy.models import PhiPolicy
from converge.privacy.portal_delivery import portal_channel
from tests.conftest import clear_cache
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

CLINICAL = "Your HbA1c is 7.2, keep taking metformin"


def set_policy(practice_id: int, policy: str, **extra: object) -> None:
    settings = privacy_settings(practice_id)
    settings.standard_channel_policy = policy
    for name, value in extra.items():
        setattr(settings, name, value)
    settings.save()
    clear_cache()


def preview(client: Client, conversation_id: int, channel_id: int, body: str) -> tuple[int, str]:
    response = client.post(f"/c/{conversation_id}/guard-preview", {"body": body, "channel": channel_id})
    return response.status_code, response.content.decode().strip()


def test_convert_policy_says_it_goes_through_the_portal_and_names_the_findings(client, conversation, sms_channel):
    set_policy(sms_channel.practice_id, PhiPolicy.CONVERT)
    status, html = preview(client, conversation.pk, sms_channel.pk, CLINICAL)
    assert status == 200
    assert "will go through the secure portal because it mentions" in html
    assert "HbA1c is 7.2" in html and "metformin" in html
    assert "phi_override_reason" not in html  # nothing to decide under convert
    assert not Message.objects.filter(direction="out").exists()  # a preview sends nothing


@pytest.mark.parametrize("policy", [PhiPolicy.WARN, PhiPolicy.BLOCK])
def test_warn_and_block_offer_the_reason_field(client, conversation, sms_channel, policy):
    set_policy(sms_channel.practice_id, policy)
    status, html = preview(client, conversation.pk, sms_channel.pk, CLINICAL)
    assert status == 200
    assert "Mentions" in html and "sending on SMS" in html
    assert 'name="phi_override_reason"' in html
    assert 'name="via_portal"' in html
    assert ("blocked unless you give a reason" in html) == (policy == PhiPolicy.BLOCK)


def test_nothing_shown_for_plain_text_or_an_empty_draft(client, conversation, sms_channel):
    assert preview(client, conversation.pk, sms_channel.pk, "See you on Tuesday at 9.") == (200, "")
    assert preview(client, conversation.pk, sms_channel.pk, "   ") == (200, "")


def test_nothing_shown_on_a_secure_channel(client, conversation, practice):
    status, html = preview(client, conversation.pk, portal_channel(practice.pk).pk, CLINICAL)
    assert (status, html.strip()) == (200, "")


def test_another_practices_channel_or_conversation_is_not_found(client, conversation, other_practice):
    from converge.connectors.models import Channel

    other_channel = Channel.objects.create(practice=other_practice, kind="sms", provider="simulator", name="Theirs")
    assert preview(client, conversation.pk, other_channel.pk, CLINICAL) == (200, "")
    theirs = make_staff(other_practice, "Olga Other", Role.MANAGER)
    other = Client()
    other.force_login(theirs.user)
    assert other.post(f"/c/{conversation.pk}/guard-preview", {"body": CLINICAL}).status_code == 404


def test_clinical_confidentiality_gates_it_like_the_reply(practice, sms_channel):
    set_policy(practice.pk, PhiPolicy.CONVERT, clinical_confidentiality=True)
    message = receive(sms_channel, "+15552017788", "Since my surgery the incision is red and oozing").message
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.category == "clinical"
    data = {"body": CLINICAL, "channel": sms_channel.pk}
    front = Client()
    front.force_login(make_staff(practice, "Fran Desk", Role.FRONT_DESK).user)
    assert front.post(f"/c/{conversation.pk}/reply", data).status_code == 403
    assert front.post(f"/c/{conversation.pk}/guard-preview", data).status_code == 403
    nurse = Client()
    nurse.force_login(make_staff(practice, "Nina Nurse", Role.NURSE).user)
    assert "secure portal" in nurse.post(f"/c/{conversation.pk}/guard-preview", data).content.decode()


def test_signed_out_get_and_missing_csrf_are_refused(conversation, sms_channel, staff):
    anonymous = Client()
    assert anonymous.post(f"/c/{conversation.pk}/guard-preview", {"body": CLINICAL}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff.user)
    assert strict.post(f"/c/{conversation.pk}/guard-preview", {"body": CLINICAL}).status_code == 403
    signed_in = Client()
    signed_in.force_login(staff.user)
    # GET would put the draft in the address and the access log.
    assert signed_in.get(f"/c/{conversation.pk}/guard-preview", {"body": CLINICAL}).status_code == 405


def test_rate_limited_per_staff_member(client, conversation, sms_channel, monkeypatch):
    from converge.dashboard.views import composer

    monkeypatch.setattr(composer, "PREVIEWS_PER_MINUTE", 3)
    clear_cache()
    codes = [preview(client, conversation.pk, sms_channel.pk, CLINICAL)[0] for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_the_draft_is_never_logged(client, conversation, sms_channel, caplog):
    caplog.set_level(logging.DEBUG)
    preview(client, conversation.pk, sms_channel.pk, CLINICAL + " QUIXOTIC-7781")
    assert "QUIXOTIC-7781" not in caplog.text
    assert "metformin" not in caplog.text


def test_the_send_is_still_decided_by_the_guard(client, conversation, sms_channel):
    """The notice offers a reason; without one a warn-policy send is refused, with one it goes
    out as written (audited), and "send through the portal instead" converts it."""
    set_policy(sms_channel.practice_id, PhiPolicy.WARN)
    url = f"/c/{conversation.pk}/reply"
    refused = client.post(url, {"body": CLINICAL, "channel": sms_channel.pk}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400
    assert not Message.objects.filter(direction="out").exists()
    sent = client.post(
        url,
        {"body": CLINICAL, "channel": sms_channel.pk, "phi_override_reason": "Patient asked for it by text"},
        HTTP_HX_REQUEST="true",
    )
    assert sent.status_code == 204
    assert Message.objects.get(direction="out").channel_id == sms_channel.pk
    client.post(url, {"body": CLINICAL + ".", "channel": sms_channel.pk, "via_portal": "1"}, HTTP_HX_REQUEST="true")
    kinds = sorted(Message.objects.filter(direction="out").values_list("channel__kind", flat=True))
    assert kinds == ["portal", "sms", "sms"]  # the override, then the portal copy and its notice
