"""Email in, end to end: mails APPENDed to a real Dovecot mailbox, read by the worker's job, stored
through the inbound pipeline. Replies thread by token / Message-ID / subject, auto-replies are kept
but never answered, bounces fail what we sent, bad mail is quarantined, nothing is lost or stored
twice across crashes."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

import converge.connectors.email_ingest as email_ingest
from converge.connectors.email_channels import EmailSetup, email_channel_create
from converge.connectors.models import EmailReplyToken, MailboxCursor, QuarantinedMail
from converge.conversations.inbound import pipeline as inbound
from converge.conversations.models import Attachment, Conversation, ConversationStatus, Direction, Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import conversation_set_status, message_queue
from converge.core import clock, storage
from converge.core.jobs import registered_jobs
from converge.patients.models import ContactPoint
from converge.providers.types import DeliveryStatus
from tests.helpers import receive
from tests.providers.email.mailservers import SmtpServer
from tests.providers.email.servers import (  # noqa: F401 (pytest fixtures)
    ImapAccount,
    dovecot,
    imap_account,
    smtp_server,
    tls_files,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parents[1] / "providers" / "email" / "fixtures"
FIXTURE_REF = "7d0f3c2e-5b8a-4c1d-9e6f-2a4b6c8d0e1f.42"
ADDRESS = "frontdesk@clinic.example"


# --- helpers (also used by test_email_send.py) ----------------------------------------------------


def make_email_channel(practice: Any, account: ImapAccount | None, smtp: SmtpServer | None, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "address": ADDRESS,
        "imap_host": "127.0.0.1",
        "imap_port": account.server.imap_port if account else 143,
        "imap_user": account.user if account else "nobody",
        "imap_password": account.password if account else "nothing",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port if smtp else 25,
        "smtp_user": "clinic",
        "smtp_password": "smtp-secret",
        "tls": "none",
    }
    options.update(overrides)
    return email_channel_create(practice=practice, setup=EmailSetup(**options), actor=None)


def fixture(name: str, *, ref: str | None = None, token: str | None = None, drop: tuple[str, ...] = ()) -> bytes:
    """A fixture mail pointed at a real conversation: our Message-ID and reply token swapped in,
    or headers removed (`drop`) to test the weaker threading rules."""
    raw = (FIXTURES / name).read_bytes()
    if ref is not None:
        raw = raw.replace(FIXTURE_REF.encode(), ref.encode())
    if token is not None:
        raw = re.sub(rb"frontdesk\+[0-9a-f]{12}@", b"frontdesk+" + token.encode() + b"@", raw)
    for header in drop:
        raw = re.sub(rb"(?im)^" + re.escape(header.encode()) + rb":.*\r?\n(?:[ \t].*\r?\n)*", b"", raw)
    return raw


def simple_mail(n: int, *, sender: str = "sam.lee@example.com", subject: str = "A question", body: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = f"Sam Lee <{sender}>"
    message["To"] = ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = f"<simple-{n}@example.com>"
    message["Date"] = "Mon, 6 Jan 2025 10:00:00 +0000"
    message.set_content(body or f"Hello, this is mail number {n}.")
    return message.as_bytes()


def poll() -> list[email_ingest.PollResult]:
    """Run the worker's job now (every mailbox made due first)."""
    MailboxCursor.objects.update(next_poll_at=None)
    job = registered_jobs()["email.poll_mailboxes"]
    result = job.func()
    assert isinstance(result, list)
    return result


def sent_reply(
    channel: Any, staff: Any, smtp: SmtpServer, sender: str, *, subject: str = "Your appointment on Tuesday"
):
    """A conversation in which the patient wrote by email and staff answered through SMTP.
    Returns (conversation, the outbound Message, our Message-ID reference "uuid.pk", token)."""
    first = receive(
        channel,
        sender,
        "Is my appointment still on?",
        provider_id=f"<first-{sender}>",
        metadata={"subject": subject, "normalized_subject": subject, "message_id": f"<first-{sender}>"},
    ).message
    conversation = first.conversation
    reply = message_queue(conversation=conversation, channel=channel, body="Yes, see you then.", sender=staff)
    assert outbox_dispatch_batch() == 1
    reply.refresh_from_db()
    assert reply.status == DeliveryStatus.SENT, reply.failure_reason
    token = EmailReplyToken.objects.get(conversation=conversation).token
    return conversation, reply, f"{conversation.uuid}.{reply.pk}", token


def resolve_long_ago(conversation: Conversation, staff: Any, days: int = 20) -> None:
    conversation_set_status(conversation=conversation, actor=staff, status=ConversationStatus.RESOLVED)
    Conversation.objects.filter(pk=conversation.pk).update(resolved_at=clock.now() - timedelta(days=days))


@pytest.fixture
def channel(practice: Any, imap_account: ImapAccount, smtp_server: SmtpServer) -> Any:
    return make_email_channel(practice, imap_account, smtp_server)


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The messages the pipeline's domain reactions (reminder replies, portal invitations) saw."""
    calls: list[int] = []
    react = inbound.react

    def record(conversation: Conversation, message: Message) -> None:
        calls.append(message.pk)
        react(conversation, message)

    monkeypatch.setattr(inbound, "react", record)
    return calls


# --- threading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sender"),
    [
        ("gmail_reply.eml", "maria.lopez@gmail.com"),
        ("outlook_reply.eml", "john.smith@outlook.com"),
        ("apple_mail_reply.eml", "ana.torres@icloud.com"),
    ],
)
def test_a_reply_from_a_mail_client_threads_into_its_conversation(
    name, sender, channel, staff, smtp_server, imap_account
):
    conversation, _reply, ref, token = sent_reply(channel, staff, smtp_server, sender)
    # Resolved beyond the reopen window: without threading the reply would start a new conversation.
    resolve_long_ago(conversation, staff)
    imap_account.append(fixture(name, ref=ref, token=token))

    [result] = poll()

    assert result.error == "" and [o.kind for o in result.outcomes] == ["message"]
    message = Message.objects.get(pk=result.outcomes[0].message_id)
    assert message.conversation_id == conversation.pk
    assert message.metadata["threaded_by"] in ("token", "message-id")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    # Quoted history is gone from what staff read, kept in full in the metadata and the raw mail.
    assert "wrote:" not in message.body and "-----Original Message-----" not in message.body
    assert len(message.metadata["full_text"]) > len(message.body)
    original = message.attachments.get(filename="original.eml")
    assert original.state == Attachment.State.STORED
    raw = storage.read_decrypted(original.storage_path)  # stored encrypted at rest
    assert str(message_from_bytes(raw)["Message-ID"]).strip() == message.provider_message_id


def test_threading_falls_back_from_token_to_message_id_to_subject(channel, staff, smtp_server, imap_account):
    conversation, _reply, ref, token = sent_reply(channel, staff, smtp_server, "maria.lopez@gmail.com")

    resolve_long_ago(conversation, staff)
    imap_account.append(fixture("gmail_reply.eml", ref=ref, token=token))
    [first] = poll()
    assert Message.objects.get(pk=first.outcomes[0].message_id).metadata["threaded_by"] == "token"

    resolve_long_ago(conversation, staff)
    no_token = fixture("gmail_reply.eml", ref=ref, token="0" * 24, drop=("Message-ID",))
    no_token = no_token.replace(b"MIME-Version", b"Message-ID: <second@mail.gmail.com>\nMIME-Version", 1)
    imap_account.append(no_token)
    [second] = poll()
    message = Message.objects.get(pk=second.outcomes[0].message_id)
    assert (message.metadata["threaded_by"], message.conversation_id) == ("message-id", conversation.pk)

    resolve_long_ago(conversation, staff, days=10)
    bare = fixture("gmail_reply.eml", drop=("In-Reply-To", "References", "Delivered-To", "To", "Message-ID"))
    bare = bare.replace(
        b"MIME-Version", b"Message-ID: <third@mail.gmail.com>\nTo: frontdesk@clinic.example\nMIME-Version", 1
    )
    imap_account.append(bare)
    [third] = poll()
    message = Message.objects.get(pk=third.outcomes[0].message_id)
    assert (message.metadata["threaded_by"], message.conversation_id) == ("subject", conversation.pk)


def test_a_reply_from_an_unknown_address_is_not_attached_to_the_patient(channel, staff, smtp_server, imap_account):
    conversation, _reply, ref, token = sent_reply(channel, staff, smtp_server, "someone.else@example.org")
    imap_account.append(fixture("gmail_reply.eml", ref=ref, token=token))  # from maria.lopez@gmail.com

    [result] = poll()

    message = Message.objects.get(pk=result.outcomes[0].message_id)
    assert message.conversation_id != conversation.pk
    assert message.patient_id != conversation.patient_id and not message.patient.is_verified
    # Staff can see which conversation it answered and link the sender themselves.
    assert message.metadata["thread_conversation_id"] == conversation.pk


def test_a_reply_goes_to_the_open_conversation_when_the_patient_has_one(channel, staff, smtp_server, imap_account):
    old, _reply, ref, token = sent_reply(channel, staff, smtp_server, "maria.lopez@gmail.com")
    resolve_long_ago(old, staff)
    newer = receive(channel, "maria.lopez@gmail.com", "Another thing", provider_id="<another@x>").message.conversation
    assert newer.pk != old.pk
    imap_account.append(fixture("gmail_reply.eml", ref=ref, token=token))

    [result] = poll()

    assert Message.objects.get(pk=result.outcomes[0].message_id).conversation_id == newer.pk


# --- auto-replies and bounces --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sender"),
    [("auto_reply.eml", "karen.white@example.net"), ("exchange_out_of_office.eml", "linda.green@fabrikam.example")],
)
def test_auto_replies_are_stored_as_such_and_never_answered(
    name, sender, channel, staff, smtp_server, imap_account, hook_calls
):
    conversation, reply, ref, _token = sent_reply(channel, staff, smtp_server, sender)
    hook_calls.clear()
    sent_before = len(smtp_server.messages)
    imap_account.append(fixture(name, ref=ref))

    [result] = poll()

    message = Message.objects.get(pk=result.outcomes[0].message_id)
    assert message.kind == "auto_reply"
    assert message.metadata["auto_reply"] is True and message.metadata["auto_reply_reason"]
    assert message.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.waiting_since is None  # staff answered; an out-of-office needs no answer
    assert hook_calls == []  # no reminder-reply handling or other automation saw it
    assert (
        not Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND)
        .exclude(pk=reply.pk)
        .exists()
    )
    outbox_dispatch_batch()
    assert len(smtp_server.messages) == sent_before


def test_a_normal_mail_does_reach_the_domain_reactions(channel, imap_account, hook_calls):
    imap_account.append(simple_mail(1))
    [result] = poll()
    assert hook_calls == [result.outcomes[0].message_id]


def test_a_bounce_fails_the_original_message_and_marks_the_address_failing(channel, staff, smtp_server, imap_account):
    conversation, reply, ref, _token = sent_reply(channel, staff, smtp_server, "old.address@example.net")
    inbound_before = Message.objects.filter(direction=Direction.INBOUND).count()
    imap_account.append(fixture("dsn_bounce.eml", ref=ref))

    [result] = poll()

    assert [o.kind for o in result.outcomes] == ["bounce"]
    reply.refresh_from_db()
    assert reply.status == DeliveryStatus.FAILED
    assert "550 5.1.1" in reply.failure_reason and reply.failure_reason.startswith("Bounced:")
    contact = ContactPoint.objects.get(kind="email", address="old.address@example.net")
    assert contact.failing_since is not None and "User unknown" in contact.failure_reason
    # Not a patient message.
    assert Message.objects.filter(direction=Direction.INBOUND).count() == inbound_before


# --- attachments and bad mail --------------------------------------------------------------------


def test_attachments_are_kept_within_limits_and_others_rejected_with_a_reason(practice, imap_account):
    make_email_channel(practice, imap_account, None, max_attachment_bytes=50_000)
    imap_account.append(fixture("pdf_attachment.eml"))
    big = EmailMessage()
    big["From"] = "Sam Lee <sam.lee@example.com>"
    big["To"] = ADDRESS
    big["Subject"] = "Scan"
    big["Message-ID"] = "<big@example.com>"
    big.set_content("The scan is attached.")
    big.add_attachment(b"%PDF-1.4 " + b"0" * 120_000, maintype="application", subtype="pdf", filename="scan.pdf")
    imap_account.append(big.as_bytes())

    [result] = poll()

    first, second = (Message.objects.get(pk=o.message_id) for o in result.outcomes)
    by_name = {a.filename: a for a in first.attachments.all()}
    assert by_name["referral-letter.pdf"].state == Attachment.State.STORED
    assert (Path(settings.MEDIA_ROOT) / by_name["referral-letter.pdf"].storage_path).is_file()
    assert by_name["setup.exe"].state == Attachment.State.REJECTED
    assert "not accepted" in by_name["setup.exe"].failure_reason
    scan = second.attachments.get(filename="scan.pdf")
    assert scan.state == Attachment.State.REJECTED
    assert "larger than the limit of 50000 bytes" in scan.failure_reason
    assert second.body == "The scan is attached."


def test_html_only_mail_becomes_safe_text(channel, imap_account):
    imap_account.append(fixture("outlook_desktop_html.eml"))
    [result] = poll()
    message = Message.objects.get(pk=result.outcomes[0].message_id)
    assert "<" not in message.body and message.body.strip()


def test_a_malformed_mail_is_quarantined_and_the_next_mail_still_arrives(channel, imap_account):
    imap_account.append(fixture("malformed.eml"))
    good_uid = imap_account.append(simple_mail(2))

    [result] = poll()

    assert [o.kind for o in result.outcomes] == ["quarantined", "message"]
    quarantined = QuarantinedMail.objects.get(channel=channel)
    assert quarantined.reason and quarantined.uid == good_uid - 1
    kept = storage.read_decrypted(quarantined.storage_path)
    assert hashlib.sha256(kept).hexdigest() == quarantined.raw_sha256 and b"never-closed" in kept
    assert MailboxCursor.objects.get(channel=channel).last_uid == good_uid
    assert Message.objects.filter(channel=channel, provider_message_id="<simple-2@example.com>").exists()


def test_the_settings_page_shows_quarantined_mail_to_managers(practice, channel, imap_account):
    from django.test import Client

    from converge.practices.models import Role
    from tests.helpers import make_staff

    imap_account.append(fixture("malformed.eml"))
    poll()
    manager = make_staff(practice, "Pat Manager", Role.MANAGER)
    client = Client()
    client.force_login(manager.user)
    page = client.get(f"/settings/channels/email/{channel.pk}/")
    assert page.status_code == 200
    quarantined = QuarantinedMail.objects.get(channel=channel)
    assert quarantined.reason in page.content.decode()
    raw = client.get(f"/settings/channels/email/quarantine/{quarantined.pk}")
    assert raw.status_code == 200 and raw["Content-Type"] == "message/rfc822"
    assert raw["Content-Disposition"].startswith("attachment")

    front_desk = make_staff(practice, "Fran Desk")
    client.force_login(front_desk.user)
    assert client.get(f"/settings/channels/email/{channel.pk}/").status_code == 403


# --- never lost, never twice ---------------------------------------------------------------------


class Crash(BaseException):  # like the process being killed: nothing in the poller catches it
    pass


def test_a_crash_between_storing_and_advancing_the_cursor_duplicates_nothing(channel, imap_account, monkeypatch):
    uids = [imap_account.append(simple_mail(n)) for n in range(1, 4)]
    real_advance = email_ingest._advance
    advanced = []

    def crash_on_second(cursor: Any, mail: Any) -> None:
        if mail.uid == uids[1]:
            raise Crash("worker killed after storing, before recording it")
        real_advance(cursor, mail)
        advanced.append(mail.uid)

    monkeypatch.setattr(email_ingest, "_advance", crash_on_second)
    with pytest.raises(Crash):
        poll()
    assert advanced == [uids[0]]
    assert Message.objects.filter(channel=channel).count() == 2  # the second was stored before the crash

    monkeypatch.setattr(email_ingest, "_advance", real_advance)
    [result] = poll()

    assert [o.kind for o in result.outcomes] == ["duplicate", "message"]
    assert Message.objects.filter(channel=channel).count() == 3
    assert sorted(Message.objects.filter(channel=channel).values_list("provider_message_id", flat=True)) == [
        f"<simple-{n}@example.com>" for n in range(1, 4)
    ]
    assert Attachment.objects.filter(message__channel=channel, filename="original.eml").count() == 3
    assert MailboxCursor.objects.get(channel=channel).last_uid == uids[2]
    assert "\\Seen" in imap_account.server.flags(imap_account.user, imap_account.password, uids[2])


def test_a_changed_uidvalidity_rereads_the_folder_without_duplicates(channel, imap_account):
    for n in range(1, 3):
        imap_account.append(simple_mail(n))
    poll()
    MailboxCursor.objects.filter(channel=channel).update(uidvalidity=1, last_uid=999)

    [result] = poll()

    assert [o.kind for o in result.outcomes] == ["duplicate", "duplicate"]
    assert Message.objects.filter(channel=channel).count() == 2


def test_a_mail_that_keeps_failing_for_another_reason_is_quarantined_after_a_few_tries(
    channel, imap_account, monkeypatch
):
    imap_account.append(simple_mail(1))
    imap_account.append(simple_mail(2))
    real = email_ingest.receive_mail

    def broken(channel: Any, config: Any, mail: Any) -> Any:
        if b"simple-1@" in mail.raw:
            raise RuntimeError("a bug")
        return real(channel, config, mail)

    monkeypatch.setattr(email_ingest, "receive_mail", broken)
    for _ in range(email_ingest.STUCK_LIMIT - 1):
        [result] = poll()
        assert result.outcomes == [] and "tried again" in result.error
    [result] = poll()
    assert [o.kind for o in result.outcomes] == ["quarantined", "message"]
    assert "after 3 attempts" in QuarantinedMail.objects.get(channel=channel).reason


def test_mailbox_trouble_is_recorded_not_raised(practice, imap_account):
    channel = make_email_channel(practice, imap_account, None, imap_password="wrong-password")
    [result] = poll()
    cursor = MailboxCursor.objects.get(channel=channel)
    assert "username or password" in result.error and cursor.last_error == result.error
    assert cursor.next_poll_at > clock.now() + timedelta(minutes=10)
    assert cursor.lease_expires_at is None


def test_skip_existing_starts_with_new_mail(practice, imap_account):
    imap_account.append(simple_mail(1))
    channel = make_email_channel(practice, imap_account, None, skip_existing=True)
    [first] = poll()
    assert first.outcomes == []
    imap_account.append(simple_mail(2))
    [second] = poll()
    assert [o.kind for o in second.outcomes] == ["message"]
    assert list(Message.objects.filter(channel=channel).values_list("provider_message_id", flat=True)) == [
        "<simple-2@example.com>"
    ]


def test_a_mailbox_is_read_by_one_poller_at_a_time(channel, imap_account):
    imap_account.append(simple_mail(1))
    MailboxCursor.objects.create(practice=channel.practice, channel=channel)
    MailboxCursor.objects.filter(channel=channel).update(lease_expires_at=clock.now() + timedelta(minutes=1))
    assert email_ingest.mailbox_poll(channel, force=True) is None
    MailboxCursor.objects.filter(channel=channel).update(lease_expires_at=clock.now() - timedelta(seconds=1))
    result = email_ingest.mailbox_poll(channel, force=True)
    assert result is not None and [o.kind for o in result.outcomes] == ["message"]


def test_imap_over_tls_with_a_verified_certificate(practice, imap_account, tls_files, monkeypatch):
    import converge.connectors.email_channels as email_channels

    monkeypatch.setattr(email_channels, "tls_context", tls_files.client_context)
    channel = make_email_channel(practice, imap_account, None, imap_port=imap_account.server.imaps_port, tls="ssl")
    imap_account.append(simple_mail(1))
    [result] = poll()
    assert result.error == "" and [o.kind for o in result.outcomes] == ["message"]
    assert Message.objects.filter(channel=channel).count() == 1
