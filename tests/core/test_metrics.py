"""/metrics: absent without CONVERGE_METRICS_TOKEN, refused without the right bearer token, and the
Prometheus text with the expected figures (and no patient data) with it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from converge.conversations.models import InboundEvent
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import message_queue
from converge.core import clock
from tests.helpers import signed_simulator_post
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"
PATIENT = "+15552019911"


def scrape(client, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_absent_without_a_configured_token(client, monkeypatch):
    monkeypatch.delenv("CONVERGE_METRICS_TOKEN", raising=False)
    assert scrape(client).status_code == 404
    assert scrape(client, token=None).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
def test_refused_without_the_right_token(client, monkeypatch, header):
    monkeypatch.setenv("CONVERGE_METRICS_TOKEN", TOKEN)
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"converge_" not in response.content


def test_figures_after_a_webhook_and_a_send(client, monkeypatch, sms_channel, staff):
    monkeypatch.setenv("CONVERGE_METRICS_TOKEN", TOKEN)
    before = samples(scrape(client).content.decode())

    payload = {"id": "m-metrics-1", "from": PATIENT, "text": "Hello, my knee hurts"}
    assert signed_simulator_post(client, sms_channel, payload).status_code == 200
    refused = client.post(f"/webhooks/simulator/{sms_channel.key}", data=b"{}", content_type="application/json")
    assert refused.status_code == 401
    assert run_inbound() == 1

    from converge.conversations.models import Message

    conversation = Message.objects.get(provider_message_id="m-metrics-1").conversation
    message_queue(conversation=conversation, channel=sms_channel, body="We will call you today.", sender=staff)
    # Before the worker sends it, the outbox holds it; the scrape reads that from the database.
    during = samples(scrape(client).content.decode())
    queued = value(during, "converge_outbox_depth", state="queued")
    assert queued >= 1  # the reply (and any automatic acknowledgement)
    assert outbox_dispatch_batch() == queued

    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    after = samples(text)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("converge_webhooks_total", channel="simulator", outcome="accepted", status="200") == 1
    assert grew("converge_webhooks_total", channel="simulator", outcome="refused", status="401") == 1
    assert grew("converge_sends_total", channel="sms", outcome="sent") == queued
    assert value(after, "converge_database_up") == 1
    assert value(after, "converge_outbox_depth", state="queued") == 0
    for name in (
        "converge_inbound_queue_depth",
        "converge_inbound_queue_oldest_age_seconds",
        "converge_outbox_lag_seconds",
        "converge_reminder_dispatch_lag_seconds",
        "converge_reminders_due",
    ):
        assert (name, ()) in after, name
    assert "converge_websocket_connections" in text
    assert "converge_provider_errors_total" in text
    # No patient data in any label or value name.
    for needle in (PATIENT, "knee", "We will call", sms_channel.key):
        assert needle not in text


def test_provider_errors_are_counted_by_code(client, monkeypatch, sms_channel, staff):
    from converge.connectors import registry
    from converge.providers.types import RetryableSendError
    from tests.helpers import receive

    monkeypatch.setenv("CONVERGE_METRICS_TOKEN", TOKEN)

    class Busy:
        def __init__(self, channel):
            pass

        def send(self, message):
            raise RetryableSendError("provider busy", code="20429 please slow down", retry_after=1)

    monkeypatch.setattr(registry, "simulator_for", Busy)
    before = samples(scrape(client).content.decode())
    conversation = receive(sms_channel, PATIENT, "hi").message.conversation
    message_queue(conversation=conversation, channel=sms_channel, body="Thanks.", sender=staff)
    outbox_dispatch_batch()
    after = samples(scrape(client).content.decode())
    code = "20429_please_slow_down"
    assert (
        value(after, "converge_provider_errors_total", channel="sms", code=code)
        - value(before, "converge_provider_errors_total", channel="sms", code=code)
        == 1
    )
    assert value(after, "converge_sends_total", channel="sms", outcome="retry") > value(
        before, "converge_sends_total", channel="sms", outcome="retry"
    )


def test_queue_ages_come_from_the_database(client, monkeypatch, sms_channel):
    monkeypatch.setenv("CONVERGE_METRICS_TOKEN", TOKEN)
    now = clock.now()
    InboundEvent.objects.create(
        practice=sms_channel.practice,
        channel=sms_channel,
        payload={},
        received_at=now - timedelta(seconds=90),
        next_attempt_at=now + timedelta(hours=1),
    )
    found = samples(scrape(client).content.decode())
    assert value(found, "converge_inbound_queue_depth") == 1
    assert 89 <= value(found, "converge_inbound_queue_oldest_age_seconds") < 200


def test_scrape_takes_a_bounded_number_of_queries(client, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setenv("CONVERGE_METRICS_TOKEN", TOKEN)
    with django_assert_max_num_queries(5):
        assert scrape(client).status_code == 200
