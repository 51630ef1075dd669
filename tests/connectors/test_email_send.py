"""Email out through the outbox: SMTP (aiosmtpd on loopback) with TLS, threading headers computed
from the database, a per-conversation reply token, and failures recorded with the server's words."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest

import converge.connectors.email_channels as email_channels
from converge.connectors.models import EmailReplyToken
from converge.conversations.models import Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import message_queue
from converge.providers.email import make_message_id
from converge.providers.types import DeliveryStatus
from tests.connectors.test_email_ingest import make_email_channel
from tests.helpers import receive
from tests.providers.email.mailservers import SmtpServer, TlsFiles
from tests.providers.email.servers import (  # noqa: F401 (pytest fixtures)
    smtp_server,
    smtp_ssl_server,
    smtp_starttls_server,
    tls_files,
)

pytestmark = pytest.mark.django_db

PATIENT = "maria.lopez@gmail.com"


def patient_mail(channel: Any, *, message_id: str = "<CAJx8Qm3@mail.gmail.com>", subject: str = "Re: Refill") -> Any:
    return receive(
        channel,
        PATIENT,
        "Can you send the refill to the other pharmacy?",
        provider_id=message_id,
        metadata={
            "subject": subject,
            "normalized_subject": "Refill",
            "message_id": message_id,
            "references": ["<conv-older@clinic.example>"],
        },
    ).message


def send(
    channel: Any, conversation: Any, staff: Any, body: str = "Done, it is at the Main Street pharmacy.", **kw: Any
):
    message = message_queue(conversation=conversation, channel=channel, body=body, sender=staff, **kw)
    outbox_dispatch_batch()
    message.refresh_from_db()
    return message


def received(server: SmtpServer, index: int = -1) -> Any:
    return message_from_bytes(server.messages[index].content, policy=policy.default)


def test_a_reply_carries_the_threading_headers_and_a_reply_token(practice, staff, smtp_server):
    channel = make_email_channel(practice, None, smtp_server)
    inbound = patient_mail(channel)
    conversation = inbound.conversation

    message = send(channel, conversation, staff)

    assert message.status == DeliveryStatus.SENT
    mail = received(smtp_server)
    expected_id = make_message_id(str(conversation.uuid), message.pk, "clinic.example")
    assert mail["Message-ID"] == expected_id == message.provider_message_id
    assert mail["In-Reply-To"] == "<CAJx8Qm3@mail.gmail.com>"
    assert mail["References"].split() == ["<conv-older@clinic.example>", "<CAJx8Qm3@mail.gmail.com>"]
    token = EmailReplyToken.objects.get(conversation=conversation).token
    assert mail["Reply-To"] == f"frontdesk+{token}@clinic.example"
    assert mail["Subject"] == "Re: Refill"
    assert mail["From"] == f"{practice.name} <frontdesk@clinic.example>"
    assert mail["To"] == PATIENT
    assert "Auto-Submitted" not in mail
    assert smtp_server.messages[-1].authenticated
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Main Street pharmacy" in plain and "Main Street pharmacy" in html and "<p>" in html

    # The same conversation keeps its token; a second reply answers the same mail.
    second = send(channel, conversation, staff, body="Anything else?")
    assert received(smtp_server)["Reply-To"] == f"frontdesk+{token}@clinic.example"
    assert received(smtp_server)["Message-ID"] == second.provider_message_id != message.provider_message_id


def test_a_new_thread_gets_a_subject_and_automatic_mail_is_marked(practice, staff, smtp_server):
    channel = make_email_channel(practice, None, smtp_server)
    conversation = patient_mail(channel).conversation
    Message.objects.filter(conversation=conversation).update(metadata={})  # no earlier mail to answer

    send(channel, conversation, None, body="A reminder from the clinic.", is_automatic=True)

    mail = received(smtp_server)
    assert mail["Subject"] == f"Message from {practice.name}"
    assert "In-Reply-To" not in mail
    assert mail["Auto-Submitted"] == "auto-generated"


def test_a_refused_recipient_fails_the_message_with_the_servers_reason(practice, staff, smtp_server):
    channel = make_email_channel(practice, None, smtp_server)
    conversation = patient_mail(channel).conversation
    smtp_server.handler.rcpt_replies[PATIENT] = "550 5.1.1 Mailbox unavailable"

    message = send(channel, conversation, staff)

    assert message.status == DeliveryStatus.FAILED
    assert "550 5.1.1 Mailbox unavailable" in message.failure_reason
    assert message.failure_code == "550"


def test_a_temporary_refusal_is_retried_later(practice, staff, smtp_server):
    channel = make_email_channel(practice, None, smtp_server)
    conversation = patient_mail(channel).conversation
    smtp_server.handler.rcpt_replies[PATIENT] = "451 4.7.1 Greylisted, try again"

    message = send(channel, conversation, staff)

    assert message.status == DeliveryStatus.QUEUED
    assert "451 4.7.1 Greylisted" in message.failure_reason
    assert message.next_attempt_at is not None and message.attempts == 1


def test_wrong_smtp_credentials_are_a_permanent_failure(practice, staff, smtp_server):
    channel = make_email_channel(practice, None, smtp_server, smtp_password="not-it")
    conversation = patient_mail(channel).conversation

    message = send(channel, conversation, staff)

    assert message.status == DeliveryStatus.FAILED
    assert "username or password" in message.failure_reason


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_smtp_with_tls_and_a_verified_certificate(mode, practice, staff, tls_files, monkeypatch, request):
    server: SmtpServer = request.getfixturevalue("smtp_starttls_server" if mode == "starttls" else "smtp_ssl_server")
    monkeypatch.setattr(email_channels, "tls_context", tls_files.client_context)
    channel = make_email_channel(practice, None, server, smtp_tls=mode)
    conversation = patient_mail(channel).conversation

    message = send(channel, conversation, staff)

    assert message.status == DeliveryStatus.SENT, message.failure_reason
    assert server.messages[-1].tls and server.messages[-1].authenticated


def test_an_untrusted_certificate_is_refused(practice, staff, smtp_starttls_server: SmtpServer, tls_files: TlsFiles):
    channel = make_email_channel(practice, None, smtp_starttls_server, smtp_tls="starttls")
    conversation = patient_mail(channel).conversation

    message = send(channel, conversation, staff)

    assert message.status == DeliveryStatus.FAILED
    assert "certificate" in message.failure_reason and smtp_starttls_server.messages == []


def test_plain_smtp_is_refused_for_a_remote_server(practice):
    with pytest.raises(email_channels.EmailSetupError, match="smtp tls: none is only allowed"):
        make_email_channel(practice, None, None, smtp_host="smtp.example.org")
