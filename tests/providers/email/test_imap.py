"""ImapMailbox against a real Dovecot IMAP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import converge.providers.email.imap as email_imap
from converge.providers.email import (
    FetchedMail,
    ImapMailbox,
    MailboxError,
    MailboxState,
    parse_email,
)
from tests.providers.email.mailservers import TlsFiles, free_port
from tests.providers.email.servers import (  # noqa: F401 (pytest fixtures)
    ImapAccount,
    dovecot,
    imap_account,
    tls_files,
)


def mail(n: int, *, size: int = 0) -> bytes:
    filler = ("x" * 76 + "\r\n") * (size // 78)
    return (
        f"From: Patient {n} <patient{n}@example.com>\r\n"
        f"To: frontdesk@clinic.example\r\n"
        f"Subject: Question {n}\r\n"
        f"Message-ID: <mail-{n}@example.com>\r\n"
        f"Date: Mon, 6 Jan 2025 10:{n % 60:02d}:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Body of mail {n} — ñ\r\n{filler}"
    ).encode()


def mailbox(account: ImapAccount, **kwargs: object) -> ImapMailbox:
    options: dict[str, object] = {"tls": "none", "timeout": 10}
    options.update(kwargs)
    return ImapMailbox(
        "127.0.0.1",
        int(options.pop("port", account.server.imap_port)),  # type: ignore[call-overload]
        account.user,
        str(options.pop("password", account.password)),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def box(imap_account: ImapAccount) -> Iterator[ImapMailbox]:
    with mailbox(imap_account, batch_size=2) as opened:
        yield opened


def ids(mails: list[FetchedMail]) -> list[str | None]:
    return [parse_email(m.raw).message_id for m in mails]


def test_fetch_in_uid_order_without_marking_seen(imap_account: ImapAccount, box: ImapMailbox) -> None:
    uids = [imap_account.append(mail(n)) for n in range(1, 6)]
    fetched = list(box.fetch_new(MailboxState()))
    assert [m.uid for m in fetched] == uids == sorted(uids)
    assert ids(fetched) == [f"<mail-{n}@example.com>" for n in range(1, 6)]
    assert fetched[0].raw == mail(1)
    assert all(m.uidvalidity == box.uidvalidity and not m.uidvalidity_changed for m in fetched)
    assert all("\\Seen" not in m.flags for m in fetched)
    server = imap_account.server
    assert "\\Seen" not in server.flags(imap_account.user, imap_account.password, uids[0])

    assert box.mark_processed(uids[0], uidvalidity=fetched[0].uidvalidity)
    assert "\\Seen" in server.flags(imap_account.user, imap_account.password, uids[0])
    assert "\\Seen" not in server.flags(imap_account.user, imap_account.password, uids[1])
    # A mail from another UIDVALIDITY is left alone.
    assert not box.mark_processed(uids[1], uidvalidity=fetched[1].uidvalidity + 1)


def test_mark_seen_can_be_turned_off(imap_account: ImapAccount) -> None:
    uid = imap_account.append(mail(1))
    with mailbox(imap_account, mark_seen=False) as box:
        (fetched,) = box.fetch_new(MailboxState())
        assert not box.mark_processed(fetched.uid)
    assert "\\Seen" not in imap_account.server.flags(imap_account.user, imap_account.password, uid)


def test_crash_mid_batch_loses_and_duplicates_nothing(imap_account: ImapAccount) -> None:
    for n in range(1, 8):
        imap_account.append(mail(n))
    store: dict[str | None, int] = {}  # Message-ID -> times delivered to the store
    state = MailboxState()

    # Run 1: stores three mails but "crashes" before recording the third in the state.
    box = mailbox(imap_account, batch_size=2)
    for count, fetched in enumerate(box.fetch_new(state), start=1):
        key = parse_email(fetched.raw).message_id
        store[key] = store.get(key, 0) + 1
        if count == 3:
            break  # crash: the state still says the second mail
        state = state.after(fetched)
        box.mark_processed(fetched.uid, uidvalidity=fetched.uidvalidity)
    box._drop()  # the process died: no LOGOUT
    assert state.last_uid == 2

    # Run 2: a new process with the persisted state gets everything after UID 2.
    with mailbox(imap_account, batch_size=2) as box:
        again = list(box.fetch_new(state))
        assert [m.uid for m in again] == [3, 4, 5, 6, 7]
        for fetched in again:
            key = parse_email(fetched.raw).message_id
            if key not in store:  # the store's Message-ID dedupe
                store[key] = 0
            store[key] += 1
            state = state.after(fetched)
            box.mark_processed(fetched.uid)
        assert set(store) == {f"<mail-{n}@example.com>" for n in range(1, 8)}
        assert store["<mail-3@example.com>"] == 2  # fetched twice, stored once by dedupe
        assert state == MailboxState(uidvalidity=box.uidvalidity, last_uid=7)

        # Nothing new: nothing fetched. New mail: only the new mail.
        assert list(box.fetch_new(state)) == []
        imap_account.append(mail(8))
        imap_account.append(mail(9))
        assert ids(list(box.fetch_new(state))) == ["<mail-8@example.com>", "<mail-9@example.com>"]


def test_uidvalidity_change_restarts_from_uid_1(imap_account: ImapAccount) -> None:
    server, user, password = imap_account.server, imap_account.user, imap_account.password
    server.create_folder(user, password, "Patients")
    for n in (1, 2, 3):
        imap_account.append(mail(n), folder="Patients")
    with mailbox(imap_account, folder="Patients") as box:
        fetched = list(box.fetch_new(MailboxState()))
        state = MailboxState()
        for item in fetched:
            state = state.after(item)
        old_validity = state.uidvalidity
        assert state.last_uid == 3

    # The folder is rebuilt (restored from backup, migrated): UIDs start over.
    server.delete_folder(user, password, "Patients")
    server.create_folder(user, password, "Patients")
    imap_account.append(mail(2), folder="Patients")  # an old mail, back again
    imap_account.append(mail(4), folder="Patients")
    with mailbox(imap_account, folder="Patients") as box:
        refetched = list(box.fetch_new(state))
        assert box.uidvalidity != old_validity
        assert [m.uid for m in refetched] == [1, 2]  # below the old last_uid, yet fetched
        assert all(m.uidvalidity_changed for m in refetched)
        assert all(m.uidvalidity == box.uidvalidity for m in refetched)
        assert ids(refetched) == ["<mail-2@example.com>", "<mail-4@example.com>"]
        for item in refetched:
            state = state.after(item)
        assert state.uidvalidity == box.uidvalidity
        imap_account.append(mail(5), folder="Patients")
        (new,) = box.fetch_new(state)
        assert not new.uidvalidity_changed and new.uid == 3


def test_search_windows_cover_every_uid(imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_imap, "_SEARCH_WINDOW", 2)
    for n in range(1, 8):
        imap_account.append(mail(n))
    with mailbox(imap_account, batch_size=3) as box:
        assert [m.uid for m in box.fetch_new(MailboxState(last_uid=1))] == [2, 3, 4, 5, 6, 7]


def test_large_mail_is_fetched_whole(imap_account: ImapAccount) -> None:
    big = mail(1, size=3_000_000)
    imap_account.append(big)
    imap_account.append(mail(2))
    with mailbox(imap_account) as box:
        fetched = list(box.fetch_new(MailboxState()))
    assert [m.raw for m in fetched] == [big, mail(2)]


def test_idle_wakes_on_append(imap_account: ImapAccount) -> None:
    with mailbox(imap_account) as box:
        assert box.supports_idle()
        state = MailboxState()
        assert list(box.fetch_new(state)) == []

        started = time.monotonic()
        assert box.idle_wait(1.0) is False
        assert 0.9 <= time.monotonic() - started < 5

        timer = threading.Timer(0.5, imap_account.append, args=(mail(1),))
        timer.start()
        started = time.monotonic()
        try:
            assert box.idle_wait(30) is True
        finally:
            timer.join()
        assert time.monotonic() - started < 10
        # The connection is usable after IDLE.
        (fetched,) = box.fetch_new(state)
        assert parse_email(fetched.raw).message_id == "<mail-1@example.com>"
        assert box.mark_processed(fetched.uid)


def test_idle_reports_mail_that_arrived_before_waiting(imap_account: ImapAccount) -> None:
    with mailbox(imap_account) as box:
        state = MailboxState()
        assert list(box.fetch_new(state)) == []
        imap_account.append(mail(1))
        started = time.monotonic()
        assert box.idle_wait(20) is True
        assert time.monotonic() - started < 10


def test_poll_fallback_without_idle(imap_account: ImapAccount) -> None:
    with mailbox(imap_account, use_idle=False, poll_interval=0.2) as box:
        assert not box.supports_idle()
        assert list(box.fetch_new(MailboxState())) == []
        assert box.idle_wait(0.5) is False
        timer = threading.Timer(0.3, imap_account.append, args=(mail(1),))
        timer.start()
        try:
            assert box.idle_wait(20) is True
        finally:
            timer.join()


def test_implicit_tls(imap_account: ImapAccount, tls_files: TlsFiles) -> None:
    imap_account.append(mail(1))
    with mailbox(
        imap_account,
        tls="ssl",
        port=imap_account.server.imaps_port,
        ssl_context=tls_files.client_context(),
    ) as box:
        (fetched,) = box.fetch_new(MailboxState())
        assert fetched.raw == mail(1)
        assert box.idle_wait(0.3) is False  # select()-based waiting works over TLS too


def test_starttls(imap_account: ImapAccount, tls_files: TlsFiles) -> None:
    imap_account.append(mail(1))
    box = mailbox(imap_account, tls="starttls", ssl_context=tls_files.client_context())
    check = box.check_connection()
    assert check.ok, check.message
    assert check.message.endswith("INBOX holds 1 messages.")
    with box:
        assert [m.raw for m in box.fetch_new(MailboxState())] == [mail(1)]


def test_untrusted_certificate(imap_account: ImapAccount) -> None:
    box = mailbox(imap_account, tls="ssl", port=imap_account.server.imaps_port)
    with pytest.raises(MailboxError) as info:
        list(box.fetch_new(MailboxState()))
    assert not info.value.retryable
    assert "could not be verified" in info.value.reason


def test_missing_folder(imap_account: ImapAccount) -> None:
    with mailbox(imap_account, folder="Does Not Exist") as box, pytest.raises(MailboxError) as info:
        list(box.fetch_new(MailboxState()))
    assert not info.value.retryable
    assert "Does Not Exist" in info.value.reason


def test_folder_with_spaces_and_accents(imap_account: ImapAccount) -> None:
    server, user, password = imap_account.server, imap_account.user, imap_account.password
    folder = "Pacientes & Citas ñ"
    with server.client(user, password) as conn:
        encoded = '"' + email_imap._encode_mailbox(folder)[1:-1] + '"'
        assert conn.create(encoded)[0] == "OK"
        assert conn.append(encoded, None, None, mail(1))[0] == "OK"
    with mailbox(imap_account, folder=folder) as box:
        assert [m.raw for m in box.fetch_new(MailboxState())] == [mail(1)]


def test_connection_refused_is_retryable() -> None:
    box = ImapMailbox("127.0.0.1", free_port(), "u", "p", tls="none", timeout=2)
    with pytest.raises(MailboxError) as info:
        list(box.fetch_new(MailboxState()))
    assert info.value.retryable
    assert "refused the connection" in info.value.reason


def test_server_drop_is_reported_and_recovered(imap_account: ImapAccount) -> None:
    imap_account.append(mail(1))
    with mailbox(imap_account) as box:
        assert len(list(box.fetch_new(MailboxState()))) == 1
        assert box._conn is not None
        box._conn.sock.close()  # the network goes away under us
        with pytest.raises(MailboxError) as info:
            list(box.fetch_new(MailboxState()))
        assert info.value.retryable
        # The next call reconnects.
        assert len(list(box.fetch_new(MailboxState()))) == 1


def test_bad_password(imap_account: ImapAccount) -> None:
    # Last in this module: Dovecot slows down later logins from an IP after failed ones.
    box = mailbox(imap_account, password="wrong")
    check = box.check_connection()
    assert not check.ok
    assert check.message == "The mail server rejected the username or password."
    with pytest.raises(MailboxError) as info:
        list(box.fetch_new(MailboxState()))
    assert not info.value.retryable
