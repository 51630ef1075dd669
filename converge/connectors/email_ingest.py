"""IMAP ingestion: the worker polls each enabled mailbox channel and stores new mail.

Polling, not IDLE: the worker checks which mailboxes are due every few seconds and reads each at
its channel's interval (`poll_seconds`, default 60). A poll needs no long-lived connection or
thread per mailbox, works the same in `converge serve` and in any number of `converge worker`
processes, and survives restarts by construction: the cursor (UIDVALIDITY + last stored UID) is
in the database.

Per mail, in this order: store it (idempotent on Message-ID), advance the cursor, set \\Seen. A
crash between any two steps re-reads at most the mails after the cursor, and storing is a no-op
for those already stored. A mail that cannot be parsed is quarantined and the cursor moves on; a
mail that fails for another reason (a bug) is tried again on the next polls and quarantined after
`STUCK_LIMIT` failures, so nothing blocks a mailbox for good. A per-mailbox lease keeps two
workers from reading the same mailbox at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q

from converge.connectors.email_channels import EmailConfig, email_config, mailbox_for
from converge.connectors.email_ingest_mail import Outcome, quarantine, receive_mail
from converge.connectors.models import Channel, MailboxCursor, Provider
from converge.core import clock
from converge.core.jobs import periodic
from converge.providers.email import FetchedMail, ImapMailbox, MailboxError, MailboxState
from converge.providers.types import ChannelKind

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_MAILS_PER_POLL = 200
MAX_SECONDS_PER_POLL = 60.0
STUCK_LIMIT = 3
RETRY_AFTER_ERROR = timedelta(minutes=2)
RETRY_AFTER_CONFIG_ERROR = timedelta(minutes=15)


@dataclass
class PollResult:
    channel_id: int
    outcomes: list[Outcome] = field(default_factory=list)
    error: str = ""
    more: bool = False  # stopped at a limit; mail is waiting

    def count(self, kind: str) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind)


def _cursor(channel: Channel) -> MailboxCursor:
    cursor = MailboxCursor.objects.filter(channel=channel).first()
    if cursor is None:
        try:
            with transaction.atomic():
                cursor = MailboxCursor.objects.create(practice_id=channel.practice_id, channel=channel)
        except IntegrityError:
            cursor = MailboxCursor.objects.get(channel=channel)
    return cursor


def _claim(channel: Channel, *, force: bool) -> MailboxCursor | None:
    _cursor(channel)
    now = clock.now()
    with transaction.atomic():
        due = MailboxCursor.objects.select_for_update(skip_locked=True).filter(channel=channel)
        due = due.filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        if not force:
            due = due.filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        cursor = due.first()
        if cursor is None:
            return None
        cursor.lease_expires_at = now + LEASE
        cursor.save(update_fields=["lease_expires_at"])
    return cursor


def _advance(cursor: MailboxCursor, mail: FetchedMail) -> None:
    """Record that `mail` is stored. Never moves backwards within one UIDVALIDITY."""
    state = MailboxState(cursor.uidvalidity, int(cursor.last_uid)).after(mail)
    moved = MailboxCursor.objects.filter(pk=cursor.pk).filter(
        Q(uidvalidity=state.uidvalidity, last_uid__lt=state.last_uid)
        | ~Q(uidvalidity=state.uidvalidity)
        | Q(uidvalidity__isnull=True)
    )
    moved.update(uidvalidity=state.uidvalidity, last_uid=state.last_uid, stuck_uid=None, stuck_attempts=0)
    cursor.uidvalidity, cursor.last_uid, cursor.stuck_uid, cursor.stuck_attempts = (
        state.uidvalidity,
        state.last_uid,
        None,
        0,
    )


def _stuck(cursor: MailboxCursor, mail: FetchedMail) -> int:
    attempts = cursor.stuck_attempts + 1 if cursor.stuck_uid == mail.uid else 1
    MailboxCursor.objects.filter(pk=cursor.pk).update(stuck_uid=mail.uid, stuck_attempts=attempts)
    cursor.stuck_uid, cursor.stuck_attempts = mail.uid, attempts
    return attempts


def _skip_existing(cursor: MailboxCursor, box: ImapMailbox, channel: Channel) -> None:
    """First poll of a channel set up to ignore the mail already in the folder: start after it."""
    list(box.fetch_new(MailboxState(None, 2**32)))  # selects the folder: learns UIDVALIDITY / UIDNEXT
    if box.uidvalidity is not None and box.uidnext is not None:
        MailboxCursor.objects.filter(pk=cursor.pk).update(uidvalidity=box.uidvalidity, last_uid=box.uidnext - 1)
        cursor.uidvalidity, cursor.last_uid = box.uidvalidity, box.uidnext - 1
        log.info("email mailbox starts after existing mail channel=%s", channel.pk)


def mailbox_poll(channel: Channel, *, force: bool = False) -> PollResult | None:
    """Read new mail from one mailbox channel. None when it is not due or another worker holds
    it. Never raises for mailbox or mail trouble; that goes to `MailboxCursor.last_error`."""
    cursor = _claim(channel, force=force)
    if cursor is None:
        return None
    result = PollResult(channel.pk)
    config = email_config(channel)
    started = time.monotonic()
    retry_after: timedelta | None = None
    try:
        with mailbox_for(config) as box:
            if cursor.uidvalidity is None and (channel.settings or {}).get("skip_existing"):
                _skip_existing(cursor, box, channel)
            state = MailboxState(cursor.uidvalidity, int(cursor.last_uid))
            for mail in box.fetch_new(state):
                if not _ingest(channel, config, cursor, mail, result):
                    break
                try:
                    box.mark_processed(mail.uid, uidvalidity=mail.uidvalidity)
                except MailboxError:
                    # \\Seen is a courtesy for people reading the same mailbox; the cursor is the record.
                    log.info("email mark seen failed channel=%s uid=%s", channel.pk, mail.uid)
                if len(result.outcomes) >= MAX_MAILS_PER_POLL or time.monotonic() - started > MAX_SECONDS_PER_POLL:
                    result.more = True
                    break
    except MailboxError as exc:
        result.error = exc.reason
        retry_after = RETRY_AFTER_ERROR if exc.retryable else RETRY_AFTER_CONFIG_ERROR
        log.warning("email poll failed channel=%s retryable=%s", channel.pk, exc.retryable)
    except Exception as exc:
        result.error = f"Reading the mailbox failed ({type(exc).__name__})."
        retry_after = RETRY_AFTER_ERROR
        # Type only: exception texts can quote mail content or addresses.
        log.warning("email poll crashed channel=%s error=%s", channel.pk, type(exc).__name__)
    finally:
        now = clock.now()
        if result.error:
            next_poll = now + max(retry_after or RETRY_AFTER_ERROR, timedelta(seconds=config.poll_seconds))
        else:
            next_poll = now if result.more else now + timedelta(seconds=config.poll_seconds)
        MailboxCursor.objects.filter(pk=cursor.pk).update(
            lease_expires_at=None,
            last_polled_at=now,
            next_poll_at=next_poll,
            last_error=result.error[:300],
            last_error_at=now if result.error else None,
        )
    return result


def _ingest(
    channel: Channel, config: EmailConfig, cursor: MailboxCursor, mail: FetchedMail, result: PollResult
) -> bool:
    """Store one mail and advance the cursor; False stops this poll (retry the mail later)."""
    try:
        outcome = receive_mail(channel, config, mail)
    except DatabaseError as exc:
        # The database is the record: without it nothing may move. The next poll starts here.
        result.error = "The database was not available while storing mail."
        log.warning("email store failed channel=%s uid=%s error=%s", channel.pk, mail.uid, type(exc).__name__)
        return False
    except Exception as exc:
        attempts = _stuck(cursor, mail)
        log.warning(
            "email store failed channel=%s uid=%s attempt=%s error=%s",
            channel.pk,
            mail.uid,
            attempts,
            type(exc).__name__,
        )
        if attempts < STUCK_LIMIT:
            result.error = f"A mail could not be stored ({type(exc).__name__}); it will be tried again."
            return False
        quarantine(channel, mail, f"Could not be stored after {attempts} attempts ({type(exc).__name__}).")
        outcome = Outcome("quarantined")
    result.outcomes.append(outcome)
    _advance(cursor, mail)
    return True


def mailbox_channels() -> list[Channel]:
    return list(
        Channel.objects.select_related("practice").filter(
            kind=ChannelKind.EMAIL, provider=Provider.MAILBOX, enabled=True
        )
    )


@periodic("email.poll_mailboxes", every=timedelta(seconds=5))
def poll_mailboxes() -> list[PollResult]:
    """The worker job: poll every mailbox that is due."""
    results = []
    for channel in mailbox_channels():
        result = mailbox_poll(channel)
        if result is not None:
            results.append(result)
    return results
