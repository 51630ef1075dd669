"""Concurrent inbound deliveries: duplicates stored once, a new sender identified once.

Each thread has its own database connection (committed data, hence `transactional_db`), and all
threads start together at a barrier so their transactions really overlap. On SQLite the writes
queue on the database lock; on PostgreSQL they race on the unique constraints.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import pytest
from django.db import connection
from django.test import Client

from converge.conversations.inbound.pipeline import message_receive
from converge.conversations.inbound.queue import inbound_process_due
from converge.conversations.models import Conversation, ConversationStatus, Direction, InboundEvent, Message
from converge.patients.models import ContactPoint, Patient
from converge.providers.types import InboundMessage
from tests.helpers import receive, signed_simulator_post

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
T = TypeVar("T")


def run_together(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, released at once; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        try:
            barrier.wait(timeout=10)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=60) for future in futures]


def inbound_messages() -> Any:
    # Routing may queue automatic replies (after hours, safety): count patient messages only.
    return Message.objects.filter(direction=Direction.INBOUND)


def inbound(sender: str, provider_id: str, body: str = "hello") -> InboundMessage:
    return InboundMessage(provider_message_id=provider_id, sender_address=sender, body=body)


@pytest.mark.parametrize("sender_is_new", [True, False], ids=["new-sender", "known-sender"])
def test_same_delivery_from_concurrent_requests_is_stored_once(sms_channel, sender_is_new):
    sender = "+15552017788"
    if not sender_is_new:
        receive(sms_channel, sender, "earlier message")
    before = inbound_messages().count()
    provider_id = f"SM{uuid.uuid4().hex}"

    results = run_together(
        [lambda: message_receive(channel=sms_channel, inbound=inbound(sender, provider_id))] * THREADS
    )

    assert sum(r.created for r in results) == 1
    assert len({r.message.pk for r in results}) == 1
    assert inbound_messages().count() == before + 1
    assert Message.objects.filter(channel=sms_channel, provider_message_id=provider_id).count() == 1
    assert Patient.objects.filter(practice=sms_channel.practice).count() == 1
    assert ContactPoint.objects.filter(practice=sms_channel.practice).count() == 1


def test_concurrent_first_messages_from_a_new_sender_make_one_patient_and_one_thread(sms_channel):
    sender = "+15552017788"
    provider_ids = [f"SM{uuid.uuid4().hex}" for _ in range(THREADS)]

    results = run_together(
        [
            (lambda pid=pid: message_receive(channel=sms_channel, inbound=inbound(sender, pid, f"message {pid}")))
            for pid in provider_ids
        ]
    )

    assert all(r.created for r in results)
    practice = sms_channel.practice
    patients = list(Patient.objects.filter(practice=practice))
    assert len(patients) == 1
    contacts = list(ContactPoint.objects.filter(practice=practice))
    assert [(c.address, c.patient_id) for c in contacts] == [(sender, patients[0].pk)]
    conversations = list(Conversation.objects.filter(practice=practice))
    assert len(conversations) == 1
    assert conversations[0].status == ConversationStatus.OPEN
    assert conversations[0].patient_id == patients[0].pk
    stored = inbound_messages().filter(conversation=conversations[0])
    assert sorted(stored.values_list("provider_message_id", flat=True)) == sorted(provider_ids)
    assert set(stored.values_list("contact_point_id", flat=True)) == {contacts[0].pk}
    assert inbound_messages().count() == THREADS


def test_concurrent_signed_webhook_redeliveries_all_answer_200_and_store_once(sms_channel):
    """Redeliveries accepted at once, then taken by as many workers at once: stored once."""
    payload = {"from": "+15552017788", "text": "is the clinic open today?", "id": f"SM{uuid.uuid4().hex}"}

    def post() -> Any:
        return signed_simulator_post(Client(), sms_channel, payload)

    responses = run_together([post] * THREADS)

    assert [r.status_code for r in responses] == [200] * THREADS
    assert [r.json() for r in responses] == [{"accepted": 1}] * THREADS
    workers: list[Callable[[], int]] = [
        partial(inbound_process_due, worker_id=f"tests:{i}", limit=1) for i in range(THREADS)
    ]
    claimed: list[int] = run_together(workers)
    assert sum(claimed) == THREADS  # each worker claimed a row of its own
    assert not InboundEvent.objects.exists()
    assert Message.objects.filter(provider_message_id=payload["id"]).count() == 1
    assert Conversation.objects.count() == 1
