"""/metrics: the inbound pipeline time (webhook accepted → message in the inbox) and the rate
limits' 429s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from converge.conversations.inbound.queue import inbound_process_due
from converge.conversations.models import Message
from converge.core import clock, throttle
from tests.core.test_metrics import TOKEN, samples, scrape, value
from tests.helpers import signed_simulator_post
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVERGE_METRICS_TOKEN", TOKEN)


def test_pipeline_time_runs_from_the_webhook_accepting_to_the_message_stored(client: Client, sms_channel: Any) -> None:
    before = samples(scrape(client).content.decode())
    with clock.frozen(T0):
        payload = {"id": "m-pipeline-1", "from": "+15552019911", "text": "Is the clinic open Saturday?"}
        response = signed_simulator_post(client, sms_channel, payload)
        assert response.json() == {"accepted": 1}
        clock.advance(timedelta(seconds=3))  # the worker is busy elsewhere for 3 s
        assert inbound_process_due() == 1
    assert Message.objects.filter(provider_message_id="m-pipeline-1").exists()
    after = samples(scrape(client).content.decode())

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("converge_inbound_pipeline_seconds_count", channel="sms") == 1
    assert grew("converge_inbound_pipeline_seconds_sum", channel="sms") == pytest.approx(3.0)
    assert grew("converge_inbound_pipeline_seconds_bucket", channel="sms", le="2.5") == 0
    assert grew("converge_inbound_pipeline_seconds_bucket", channel="sms", le="5.0") == 1


def test_a_duplicate_delivery_is_not_timed_again(client: Client, sms_channel: Any) -> None:
    before = samples(scrape(client).content.decode())
    payload = {"id": "m-pipeline-2", "from": "+15552019911", "text": "Thanks!"}
    for _delivery in range(2):
        assert signed_simulator_post(client, sms_channel, payload).json() == {"accepted": 1}
        assert run_inbound() == 1
    assert Message.objects.filter(provider_message_id="m-pipeline-2").count() == 1
    after = samples(scrape(client).content.decode())
    count = "converge_inbound_pipeline_seconds_count"
    assert value(after, count, channel="sms") - value(before, count, channel="sms") == 1


def test_429s_of_the_rate_limits_are_counted_by_entry_point(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "LIMITS", (("/login/", 2, frozenset({"POST"})),))
    before = samples(scrape(client).content.decode())
    answers = [client.post("/login/", {"email": "x@example.com", "password": "wrong"}).status_code for _ in range(4)]
    assert answers.count(429) == 2
    client.get("/login/")  # not limited: reading the page
    after = samples(scrape(client).content.decode())
    name = "converge_throttled_total"
    assert value(after, name, route="login") - value(before, name, route="login") == 2
