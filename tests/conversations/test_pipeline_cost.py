"""What the inbound pipeline costs the database per message, pinned: the worker's own step
(`inbound_process_due`) over a batch, counting every statement sent except transaction control.

A new sender: contact lookup, patient, contact point, conversation, message, conversation update,
audit row, queue-row delete (8). A known sender: contact lookup, conversation (locked), message,
contact's last-inbound time, conversation update, audit row, queue-row delete (7). The batch's claim
adds three statements for all of it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from converge.conversations.inbound_queue import inbound_accept, inbound_process_due
from converge.conversations.models import InboundEvent, Message
from converge.providers.types import InboundMessage

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 10
NEW_SENDER_STATEMENTS = 8
KNOWN_SENDER_STATEMENTS = 7
CLAIM_STATEMENTS = 3
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


def test_a_redelivery_is_found_by_the_unique_constraint_and_stored_once(sms_channel) -> None:  # type: ignore[no-untyped-def]
    _process(sms_channel, ["+15553010001"], "dup")
    _process(sms_channel, ["+15553010001"], "dup")  # the same provider id again
    assert Message.objects.filter(provider_message_id="dup-0").count() == 1
