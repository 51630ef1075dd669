"""SmtpSender against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import ssl
import time

import pytest

from converge.providers.email import SmtpSender, parse_email
from converge.providers.types import (
    OutboundMessage,
    PermanentSendError,
    RetryableSendError,
)
from tests.providers.email.mailservers import SilentServer, SmtpServer, TlsFiles, free_port
from tests.providers.email.servers import (  # noqa: F401 (pytest fixtures)
    smtp_server,
    smtp_ssl_server,
    smtp_starttls_server,
    tls_files,
)

# aiosmtpd's own AUTH code touches its deprecated Session.login_data.
pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

CONV = "7d0f3c2e-5b8a-4c1d-9e6f-2a4b6c8d0e1f"


def sender(server: SmtpServer, **kwargs: object) -> SmtpSender:
    options: dict[str, object] = {
        "tls": "none",
        "timeout": 5,
        "from_address": "frontdesk@clinic.example",
        "from_name": "Sunrise Family Clinic",
        "domain": "clinic.example",
    }
    options.update(kwargs)
    username = options.pop("username", "clinic")
    password = options.pop("password", "smtp-secret")
    return SmtpSender("127.0.0.1", server.port, username, password, **options)  # type: ignore[arg-type]


def outbound(to: str = "patient@example.com", **metadata: object) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="outbox-42",
        to_address=to,
        body="Your appointment is on Tuesday at 3 PM.\nReply YES to confirm.",
        metadata={
            "subject": "Your appointment",
            "conversation_uuid": CONV,
            "message_pk": 42,
            "reply_token": "tok42",
            **metadata,
        },
    )


def test_send_delivers_and_round_trips(smtp_server: SmtpServer) -> None:
    receipt = sender(smtp_server).send(outbound(automatic=True))
    assert receipt.provider_message_id == f"<conv-{CONV}.42@clinic.example>"
    (mail,) = smtp_server.messages
    assert mail.mail_from == "frontdesk@clinic.example"
    assert mail.rcpt_tos == ["patient@example.com"]
    assert mail.authenticated
    parsed = parse_email(mail.content)
    assert parsed.message_id == receipt.provider_message_id
    assert parsed.from_address == "frontdesk@clinic.example"
    assert parsed.reply_to_addresses == ("frontdesk+tok42@clinic.example",)
    assert parsed.text == "Your appointment is on Tuesday at 3 PM.\nReply YES to confirm."
    assert parsed.is_auto_reply  # our own Auto-Submitted: auto-generated
    assert parsed.subject == "Your appointment"


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("451 4.3.0 Temporary lookup failure", "451"),
        ("452 4.2.2 Mailbox full, try later", "452"),
        ("421 4.7.0 Too many connections", "421"),
    ],
)
def test_4xx_recipient_reply_is_retryable(smtp_server: SmtpServer, reply: str, code: str) -> None:
    smtp_server.handler.rcpt_replies["later@example.com"] = reply
    with pytest.raises(RetryableSendError) as info:
        sender(smtp_server).send(outbound("later@example.com"))
    assert info.value.code == code
    assert reply in info.value.reason
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    "reply",
    [
        "550 5.1.1 Mailbox unavailable",
        "553 5.1.3 Invalid recipient address",
        "554 5.7.1 Relay access denied",
    ],
)
def test_5xx_recipient_reply_is_permanent_with_reason(smtp_server: SmtpServer, reply: str) -> None:
    smtp_server.handler.rcpt_replies["gone@example.com"] = reply
    with pytest.raises(PermanentSendError) as info:
        sender(smtp_server).send(outbound("gone@example.com"))
    assert info.value.code == reply[:3]
    assert info.value.reason == f"The mail server refused the recipient: {reply}"


def test_5xx_after_data_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_replies["spamtrap@example.com"] = "554 5.6.0 Message rejected"
    with pytest.raises(PermanentSendError) as info:
        sender(smtp_server).send(outbound("spamtrap@example.com"))
    assert "554 5.6.0 Message rejected" in info.value.reason


def test_4xx_after_data_is_retryable(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_replies["greylisted@example.com"] = "451 4.7.1 Greylisted"
    with pytest.raises(RetryableSendError, match="Greylisted"):
        sender(smtp_server).send(outbound("greylisted@example.com"))


def test_bad_password_is_permanent_with_clear_reason(smtp_server: SmtpServer) -> None:
    with pytest.raises(PermanentSendError) as info:
        sender(smtp_server, password="wrong").send(outbound())
    assert info.value.code == "auth"
    assert info.value.reason.startswith("The mail server rejected the username or password (535")
    check = sender(smtp_server, password="wrong").check_connection()
    assert not check.ok and "username or password" in check.message


def test_invalid_address_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(PermanentSendError, match="could not be built"):
        sender(smtp_server).send(outbound("no-at-sign"))


def test_connection_refused_is_retryable() -> None:
    client = SmtpSender("127.0.0.1", free_port(), None, None, tls="none", timeout=2,
                        from_address="f@clinic.example")  # fmt: skip
    with pytest.raises(RetryableSendError) as info:
        client.send(outbound())
    assert info.value.code == "network"
    assert "refused the connection" in info.value.reason
    check = client.check_connection()
    assert not check.ok and "refused" in check.message


def test_timeout_is_retryable() -> None:
    silent = SilentServer()
    try:
        client = SmtpSender("127.0.0.1", silent.port, None, None, tls="none", timeout=0.5,
                            from_address="f@clinic.example")  # fmt: skip
        started = time.monotonic()
        with pytest.raises(RetryableSendError) as info:
            client.send(outbound())
        assert time.monotonic() - started < 5
        assert "did not answer in time" in info.value.reason
    finally:
        silent.close()


def test_check_connection_ok(smtp_server: SmtpServer) -> None:
    check = sender(smtp_server).check_connection()
    assert check.ok, check.message
    assert check.message == f"Connected to 127.0.0.1:{smtp_server.port} and logged in."


def test_starttls(smtp_starttls_server: SmtpServer, tls_files: TlsFiles) -> None:
    client = sender(smtp_starttls_server, tls="starttls", ssl_context=tls_files.client_context())
    assert client.check_connection().ok
    client.send(outbound())
    (mail,) = smtp_starttls_server.messages
    assert mail.tls and mail.authenticated


def test_starttls_with_untrusted_certificate_is_permanent(smtp_starttls_server: SmtpServer) -> None:
    client = sender(smtp_starttls_server, tls="starttls", ssl_context=ssl.create_default_context())
    with pytest.raises(PermanentSendError) as info:
        client.send(outbound())
    assert info.value.code == "tls"
    assert "could not be verified" in info.value.reason
    assert smtp_starttls_server.messages == []


def test_starttls_required_but_not_offered(smtp_server: SmtpServer, tls_files: TlsFiles) -> None:
    client = sender(smtp_server, tls="starttls", ssl_context=tls_files.client_context())
    with pytest.raises(PermanentSendError, match="does not offer STARTTLS"):
        client.send(outbound())


def test_implicit_tls(smtp_ssl_server: SmtpServer, tls_files: TlsFiles) -> None:
    client = sender(smtp_ssl_server, tls="ssl", ssl_context=tls_files.client_context())
    assert client.check_connection().ok
    receipt = client.send(outbound())
    (mail,) = smtp_ssl_server.messages
    assert mail.tls
    assert parse_email(mail.content).message_id == receipt.provider_message_id


def test_resend_keeps_the_message_id(smtp_server: SmtpServer) -> None:
    """A retry after an unclear failure sends the same Message-ID, so clients dedupe it."""
    client = sender(smtp_server)
    message = OutboundMessage(idempotency_key="outbox-7", to_address="p@example.com", body="hi")
    first = client.send(message)
    second = client.send(message)
    assert first.provider_message_id == second.provider_message_id
    ids = {parse_email(m.content).message_id for m in smtp_server.messages}
    assert ids == {first.provider_message_id}
