"""What the inbound pipeline costs the database per message, pinned: the worker's own step
(`inbound_process_due`) over a batch, counting every statement sent except transaction control.

A new sender: contact lookup, patient, contact point, conversation, message, conversation update,
audit row, queue-row delete (8). A known sender: contact lookup, conversation (locked), message,
contact's last-inbound time, conversation update, audit row, queue-row delete (7). The batch's claim
adds three statements for all of it, and on PostgreSQL two more (synchronous_commit off for the
batch's transactions, then reset). Out of hours a new sender also gets the after-hours answer:
its message, its audit row and the conversation's bump (11)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from converge.conversations.inbound.queue import inbound_accept, inbound_process_due
from converge.conversations.models import InboundEvent, Message
from converge.core import clock
from converge.practices.models import default_business_hours
from converge.providers.types import InboundMessage

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 10
NEW_SENDER_STATEMENTS = 8
KNOWN_SENDER_STATEMENTS = 7
AFTER_HOURS_NEW_SENDER_STATEMENTS = 11
CLAIM_STATEMENTS = 3 + (2 if connection.vendor == "postgresql" else 0)
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def _process(channel, senders: list[str], tag: str) -> list[str]:  # type: ignore[no-untyped-def]
    inbound_accept(
        channel=channel,
        messages=[
            InboundMessage(provider_message_id=f"{tag}-{i}", sender_address=sender, body="Can I get a copy of my bill")
            for i, sender in enumerate(senders)
        ],
    )
    with CaptureQueriesContext(connection) as captured:
        assert inbound_process_due(worker_id="cost", limit=len(senders)) == len(senders)
    assert not InboundEvent.objects.exists()
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]


def _senders() -> list[str]:
    return [f"+1555301{i:04d}" for i in range(BATCH)]


def test_a_new_sender_costs_eight_statements_in_one_transaction(sms_channel) -> None:  # type: ignore[no-untyped-def]
    _process(sms_channel, ["+15553019999"], "warm")  # first-use caches (routing rules, settings)
    statements = _process(sms_channel, _senders(), "new")
    assert Message.objects.count() == BATCH + 1
    assert not [s for s in statements if "SAVEPOINT" in s.upper()], "one transaction per message, none nested"
    assert len(statements) <= BATCH * NEW_SENDER_STATEMENTS + CLAIM_STATEMENTS, statements


def test_a_known_sender_costs_seven_statements(sms_channel) -> None:  # type: ignore[no-untyped-def]
    _process(sms_channel, _senders(), "first")
    statements = _process(sms_channel, _senders(), "again")
    assert Message.objects.count() == 2 * BATCH
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
    assert len(statements) <= BATCH * KNOWN_SENDER_STATEMENTS + CLAIM_STATEMENTS, statements


def test_a_new_sender_out_of_hours_costs_eleven_statements_with_the_after_hours_answer(sms_channel) -> None:  # type: ignore[no-untyped-def]
    practice = sms_channel.practice
    practice.business_hours = default_business_hours()  # weekdays only
    practice.save(update_fields=["business_hours"])
    with clock.frozen(datetime(2026, 12, 6, 17, 0, tzinfo=UTC)):  # a Sunday
        _process(sms_channel, ["+15553019999"], "warm")
        statements = _process(sms_channel, _senders(), "closed")
    assert Message.objects.filter(metadata__auto_reply="after_hours").count() == BATCH + 1
    assert not [s for s in statements if "SAVEPOINT" in s.upper()], "the answer is queued in the same transaction"
    assert len(statements) <= BATCH * AFTER_HOURS_NEW_SENDER_STATEMENTS + CLAIM_STATEMENTS, statements


@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")
def test_the_worker_step_commits_without_waiting_for_disk_and_resets_after(sms_channel) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def during(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith("DELETE"):  # the queue row, inside the message's transaction
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                seen.append(cursor.fetchone()[0])
        return execute(sql, params, many, context)

    inbound_accept(channel=sms_channel, messages=[InboundMessage("sync-0", "+15553010002", "hello")])
    with connection.execute_wrapper(during):
        inbound_process_due(worker_id="cost")
    assert seen == ["off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # the connection's other work waits for the disk again


def test_a_redelivery_is_found_by_the_unique_constraint_and_stored_once(sms_channel) -> None:  # type: ignore[no-untyped-def]
    _process(sms_channel, ["+15553010001"], "dup")
    _process(sms_channel, ["+15553010001"], "dup")  # the same provider id again
    assert Message.objects.filter(provider_message_id="dup-0").count() == 1
