"""Fault: a provider that answers late, not at all, or refuses for a while. Exactly once, as far
as the providers allow: a send that may have been accepted (a timeout or a reset after the
request was written) is held, not resent, until the provider's status callback names it by our
reference; a connect failure is retried; a worker whose lease is gone does not send.

Each test counts, provider-side: sent (requests the provider accepted), stored (our messages
recorded as sent with the provider's id), lost (messages the provider never accepted and we do
not show as failed), duplicated (messages the provider accepted more than once)."""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client

from converge.conversations import outbox
from converge.conversations.models import Message
from converge.conversations.outbox import outbox_claim, outbox_dispatch_batch, outbox_expire_unconfirmed
from converge.conversations.services import message_retry
from converge.core import clock
from converge.providers import http as provider_http
from converge.providers.types import UNCONFIRMED, DeliveryStatus
from tests.connectors.channels import sms_channel as twilio_channel
from tests.connectors.channels import twilio_signature, wa_channel, wa_post, wa_status_notification
from tests.conversations.test_outbox_processes import (  # noqa: F401 -- spawn is a fixture
    assert_each_sent_exactly_once,
    patient_message,
    queue_bulk,
    spawn,
    wait_all_sent,
)
from tests.providers.fakes import FakeGraphAPI, FakeTwilioAPI, RecordedRequest, Reply

pytestmark = pytest.mark.django_db

PUBLIC = "https://inbox.sunrise-clinic.example"
T0 = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
TIMEOUT = 0.15  # the client's; a hung answer comes after HANG seconds
HANG = 0.5

Plan = Callable[[int], str]  # the n-th send request -> ok | hang | drop | 429 | 503


class _Scripted:
    """Mixin: answer the n-th send request as `plan(n)` says; record what was accepted."""

    plan: Plan

    def setup_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.sends = 0
        self.accepted: list[tuple[str, RecordedRequest]] = []  # (provider id, request)

    def scripted(self, reply: Reply, request: RecordedRequest, provider_id: str) -> Reply:
        behaviour = self.plan(self.sends)
        self.sends += 1
        if behaviour in ("429", "503"):
            return Reply(status=int(behaviour), body=b"", headers={"Retry-After": "1"})
        self.accepted.append((provider_id, request))
        if behaviour == "hang":
            return Reply(status=reply.status, json_body=reply.json_body, delay=HANG)
        if behaviour == "drop":
            return Reply(drop=True)
        return reply


class ScriptedTwilio(_Scripted, FakeTwilioAPI):
    def default_reply(self, route: str, request: RecordedRequest) -> Reply:
        reply = super().default_reply(route, request)
        return reply if route != "send" else self.scripted(reply, request, reply.json_body["sid"])


class ScriptedGraph(_Scripted, FakeGraphAPI):
    def default_reply(self, route: str, request: RecordedRequest) -> Reply:
        reply = super().default_reply(route, request)
        return reply if route != "send" else self.scripted(reply, request, reply.json_body["messages"][0]["id"])


@pytest.fixture(autouse=True)
def fast(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.PUBLIC_BASE_URL = PUBLIC
    monkeypatch.setattr(provider_http, "TIMEOUT_SECONDS", TIMEOUT)


@contextmanager
def twilio(plan: Plan) -> Iterator[ScriptedTwilio]:
    with ScriptedTwilio() as fake:
        fake.setup_plan(plan)
        yield fake
    fake.assert_no_problems()


@contextmanager
def graph(plan: Plan) -> Iterator[ScriptedGraph]:
    with ScriptedGraph() as fake:
        fake.setup_plan(plan)
        yield fake
    fake.assert_no_problems()


def twilio_ref(request: RecordedRequest) -> str:
    return request.form()["Body"][0]


def graph_ref(request: RecordedRequest) -> str:
    return request.json()["text"]["body"]


def drain(worker_id: str = "w1", rounds: int = 400) -> None:
    """Run the outbox, the clock moving a minute a round, until nothing is due."""
    for _ in range(rounds):
        outbox_dispatch_batch(worker_id=worker_id)
        if not Message.objects.filter(pk__in=_ours, status=DeliveryStatus.QUEUED).exists() and (
            not Message.objects.filter(pk__in=_ours, status=DeliveryStatus.SENDING)
            .exclude(failure_code=UNCONFIRMED)
            .exists()
        ):
            return
        clock.advance(timedelta(minutes=1))
    pytest.fail("the outbox did not drain")


_ours: list[int] = []


def queue(channel: Any, count: int) -> list[Message]:
    received = patient_message(channel)
    rows = queue_bulk(received, count)
    Message.objects.filter(pk__in=[m.pk for m in rows]).update(next_attempt_at=T0)
    _ours[:] = [m.pk for m in rows]
    return rows


def counts(fake: _Scripted, rows: list[Message], ref: Callable[[RecordedRequest], str]) -> dict[str, int]:
    accepted = Counter(ref(request) for _, request in fake.accepted)
    sids = {sid for sid, _ in fake.accepted}
    messages = list(Message.objects.filter(pk__in=[m.pk for m in rows]))
    done = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ)
    stored = [m for m in messages if m.status in done and m.provider_message_id in sids]
    lost = [m for m in messages if accepted[m.body] == 0 and m.status != DeliveryStatus.FAILED]
    result = {
        "sent": len(accepted),
        "stored": len(stored),
        "lost": len(lost),
        "duplicated": sum(1 for n in accepted.values() if n > 1),
        "held": sum(1 for m in messages if m.status == DeliveryStatus.SENDING and m.failure_code == UNCONFIRMED),
    }
    print(result)
    return result


def twilio_callbacks(client: Client, fake: ScriptedTwilio, status: str = "sent") -> None:
    """What Twilio does after accepting: POST the status to the message's StatusCallback URL."""
    for sid, request in fake.accepted:
        url = request.form()["StatusCallback"][0]
        assert url.startswith(PUBLIC)
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": fake.account_sid}
        parts = urlsplit(url)
        response = client.post(
            f"{parts.path}?{parts.query}",
            data=params,
            headers={"X-Twilio-Signature": twilio_signature(url, params, fake.auth_token)},
        )
        assert response.status_code == 204


def with_opaque(notification: dict[str, Any], data: str) -> dict[str, Any]:
    notification["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = data
    return notification


# --- accepted, then no answer -----------------------------------------------------------------


def every(n: int, behaviour: str, also: tuple[int, str] | None = None) -> Plan:
    def plan(i: int) -> str:
        if also and i % also[0] == also[0] - 1:
            return also[1]
        return behaviour if i % n == n - 1 else "ok"

    return plan


def test_twilio_accepts_then_times_out_or_resets_none_is_sent_twice(practice: Any) -> None:
    with twilio(every(5, "hang", also=(7, "drop"))) as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            rows = queue(channel, 200)
            drain()
            before = counts(fake, rows, twilio_ref)
            # Every message reached Twilio once; the ones whose answer was lost are held.
            assert before["sent"] == 200 and before["duplicated"] == 0 and before["lost"] == 0
            assert before["held"] > 40 and before["stored"] == 200 - before["held"]
            # Twilio's status callbacks carry our reference in their URL: they resolve the held.
            twilio_callbacks(Client(), fake)
            after = counts(fake, rows, twilio_ref)
        assert after == {"sent": 200, "stored": 200, "lost": 0, "duplicated": 0, "held": 0}
        for sid, request in fake.accepted:
            assert Message.objects.get(body=twilio_ref(request), pk__in=_ours).provider_message_id == sid


def test_whatsapp_accepts_then_times_out_the_status_webhook_resolves_it_by_opaque_data(practice: Any) -> None:
    with graph(every(4, "hang", also=(9, "drop"))) as fake:
        channel = wa_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            rows = queue(channel, 100)
            drain()
            before = counts(fake, rows, graph_ref)
            assert before["sent"] == 100 and before["duplicated"] == 0 and before["held"] > 20
            client = Client()
            for wamid, request in fake.accepted:
                data = request.json()["biz_opaque_callback_data"]
                assert (
                    wa_post(client, channel, with_opaque(wa_status_notification(wamid, "delivered"), data)).status_code
                    == 200
                )
            after = counts(fake, rows, graph_ref)
        assert after == {"sent": 100, "stored": 100, "lost": 0, "duplicated": 0, "held": 0}
        assert Message.objects.filter(pk__in=_ours, status=DeliveryStatus.DELIVERED).count() == 100


# --- nothing sent: retried at once --------------------------------------------------------------


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_connect_refused_is_retried_and_sent_once(practice: Any) -> None:
    with twilio(lambda i: "ok") as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            rows = queue(channel, 200)
            channel.settings["api_base_url"] = _closed_port_url()  # the provider is unreachable
            channel.save(update_fields=["settings"])
            for _ in range(4):
                outbox_dispatch_batch(worker_id="w1")
            refused = Message.objects.filter(pk__in=_ours, status=DeliveryStatus.QUEUED, failure_code="connection")
            assert refused.count() == 200
            channel.settings["api_base_url"] = fake.base_url
            channel.save(update_fields=["settings"])
            drain()
            result = counts(fake, rows, twilio_ref)
        assert result == {"sent": 200, "stored": 200, "lost": 0, "duplicated": 0, "held": 0}


def test_429_and_503_for_a_while_then_all_sent_once(practice: Any) -> None:
    with twilio(lambda i: ("429", "503")[i % 2] if i < 150 else "ok") as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            rows = queue(channel, 200)
            drain()
            result = counts(fake, rows, twilio_ref)
        assert fake.sends == 350
        assert result == {"sent": 200, "stored": 200, "lost": 0, "duplicated": 0, "held": 0}


# --- never confirmed: staff decide --------------------------------------------------------------


def test_an_unconfirmed_send_fails_for_review_after_the_wait_and_staff_can_retry(
    practice: Any, staff: Any, staff_client: Any, settings: Any
) -> None:
    with twilio(lambda i: "hang" if i == 0 else "ok") as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            [message] = queue(channel, 1)
            drain()
            message.refresh_from_db()
            assert (message.status, message.failure_code) == (DeliveryStatus.SENDING, UNCONFIRMED)
            thread = staff_client.get(f"/c/{message.conversation_id}/thread").content.decode()
            assert "waiting for the provider to confirm" in thread

            clock.advance(timedelta(seconds=settings.OUTBOX_CONFIRM_SECONDS - 120))
            drain()
            assert outbox_expire_unconfirmed() == 0  # still waiting: not resent either
            assert fake.sends == 1
            clock.advance(timedelta(seconds=121))
            assert outbox_expire_unconfirmed() == 1
            message.refresh_from_db()
            assert (message.status, message.failure_code) == (DeliveryStatus.FAILED, UNCONFIRMED)
            thread = staff_client.get(f"/c/{message.conversation_id}/thread").content.decode()
            assert "May not have been delivered" in thread and f"/m/{message.pk}/retry" in thread

            message_retry(message=message, actor=staff)  # staff chose to send it again
            drain()
            message.refresh_from_db()
        assert message.status == DeliveryStatus.SENT
        assert fake.sends == 2


def test_a_late_callback_confirms_a_message_failed_for_review(practice: Any) -> None:
    with twilio(lambda i: "hang") as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            [message] = queue(channel, 1)
            drain()
            clock.advance(timedelta(hours=1))
            assert outbox_expire_unconfirmed() == 1
            twilio_callbacks(Client(), fake, status="delivered")
            message.refresh_from_db()
        assert message.status == DeliveryStatus.DELIVERED
        assert (message.provider_message_id, message.failure_code) == (fake.accepted[0][0], "")


def test_a_callback_with_a_forged_or_unknown_reference_changes_nothing(practice: Any) -> None:
    with twilio(lambda i: "hang") as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            [message] = queue(channel, 1)
            drain()
            url = f"{PUBLIC}/webhooks/twilio/{channel.key}/status?ref=00000000-0000-4000-8000-000000000000"
            params = {"MessageSid": "SM" + "e" * 32, "MessageStatus": "sent"}
            path = urlsplit(url)
            response = Client().post(
                f"{path.path}?{path.query}",
                data=params,
                headers={"X-Twilio-Signature": twilio_signature(url, params, fake.auth_token)},
            )
            assert response.status_code == 204
            message.refresh_from_db()
        assert (message.status, message.failure_code) == (DeliveryStatus.SENDING, UNCONFIRMED)


# --- the lease ----------------------------------------------------------------------------------


def test_a_lease_that_expires_mid_batch_the_second_worker_sends_the_first_does_not(
    practice: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """Worker A's sends take 50 s each: its claim of the rows it has not reached yet expires
    after 120 s, worker B claims and sends them, and A, reaching them, skips them."""
    caplog.set_level(logging.WARNING, logger="converge.conversations.outbox")
    real_sender_for = outbox.sender_for
    calls = {"a": 0}

    class Slow:
        def __init__(self, channel: Any) -> None:
            self.real = real_sender_for(channel)

        def send(self, message: Any) -> Any:
            receipt = self.real.send(message)
            calls["a"] += 1
            clock.advance(timedelta(seconds=50))
            if calls["a"] == 3:  # 150 s after A's claim: B runs
                monkeypatch.setattr(outbox, "sender_for", real_sender_for)
                assert outbox_dispatch_batch(worker_id="worker-b") == 2
                monkeypatch.setattr(outbox, "sender_for", Slow)
            return receipt

    with twilio(lambda i: "ok") as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            rows = queue(channel, 5)
            monkeypatch.setattr(outbox, "sender_for", Slow)
            assert outbox_dispatch_batch(worker_id="worker-a") == 5
            result = counts(fake, rows, twilio_ref)
        assert result == {"sent": 5, "stored": 5, "lost": 0, "duplicated": 0, "held": 0}
        assert calls["a"] == 3  # A sent rows 1-3 (each lease renewed as it sent), not 4 and 5
        assert caplog.text.count("lease lost before sending, skipped") == 2
        assert "lease lost before recording send" not in caplog.text


def test_a_released_claim_of_a_worker_thought_dead_is_not_sent_by_it(practice: Any) -> None:
    with twilio(lambda i: "ok") as fake:
        channel = twilio_channel(practice, fake, max_per_second=1000, burst=1000)
        with clock.frozen(T0):
            queue(channel, 1)
            ids, token = outbox_claim(limit=1, worker_id="worker-a")
            # The heartbeat declared worker-a dead and released its row (leased_by cleared).
            Message.objects.filter(pk__in=ids).update(leased_by="", lease_expires_at=T0)
            message = Message.objects.select_related("channel", "contact_point").get(pk=ids[0])
            assert outbox._send_one(message, token, "worker-a") == "lease_lost"
        assert fake.sends == 0


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_a_lease_expiring_mid_batch_each_message_sent_once(sms_channel: Any, spawn: Any) -> None:
    """Real `converge worker` processes: 1 s sends and a 5 s lease, so the batch of whichever
    worker claims first outlasts its lease and the other takes over the rows not yet reached;
    they take turns until all are sent. Each is sent once, and no send outlives its own lease,
    so no worker records a send whose lease another took ("lease lost before recording send")."""
    env = {
        "CONVERGE_SIMULATOR_DELAY_MS": "1000",
        "CONVERGE_OUTBOX_LEASE_SECONDS": "5",
        "CONVERGE_OUTBOX_BATCH_SIZE": "12",
    }
    workers = [spawn(f"worker-{i}", "worker", "--idle", "0.1", **env) for i in (1, 2)]
    for worker in workers:
        worker.wait_for_output("worker running")
    messages = queue_bulk(patient_message(sms_channel), 12)

    wait_all_sent(12, workers, timeout=60)

    assert_each_sent_exactly_once(messages, sms_channel.key)
    logs = [worker.output() for worker in workers]
    assert sum(log.count("lease lost before sending, skipped") for log in logs) >= 1, logs
    assert Message.objects.filter(pk__in=[m.pk for m in messages], attempts__gt=1).exists()  # taken over
    for log in logs:
        assert "lease lost before recording send" not in log
        assert "Traceback" not in log, log[-4000:]


def test_these_faults_run_on_the_database_the_suite_was_given() -> None:
    """CI's second pass sets CONVERGE_TEST_DATABASE_URL to PostgreSQL: the claims above
    (SELECT ... FOR UPDATE SKIP LOCKED, conditional UPDATEs) must be exercised there, not on a
    silent SQLite fallback."""
    wanted = "postgresql" if os.environ.get("CONVERGE_TEST_DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert connection.vendor == wanted
