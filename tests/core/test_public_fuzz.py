"""Hostile input on every route a stranger can reach: sign-in, the second-factor step, the
secure portal's date-of-birth form and reply, the web-chat widget's endpoints and a *signed*
simulator webhook (the signature is right, so the body reaches the parser). Hypothesis draws
the values; no answer may be a 5xx. (WhatsApp and Twilio webhooks have their own property tests
in tests/connectors/.)"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.connectors.simulate import simulator_outbox
from converge.connectors.webchat import webchat_channel_create
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import message_queue
from converge.providers.simulator.connector import SIGNATURE_HEADER, sign
from tests.core.test_form_fuzz import TRICKY
from tests.helpers import receive

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("CONVERGE_FORM_FUZZ_EXAMPLES", "12")) * 4
SITE = "https://www.sunrise-clinic.example"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

field = st.one_of(st.sampled_from(TRICKY), st.text(st.characters(exclude_categories=("Cs",)), max_size=60))
form = st.dictionaries(st.sampled_from(["year", "month", "day", "body", "email", "password", "code", "next"]), field)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), field),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(field, inner, max_size=4)),
    max_leaves=12,
)
json_body = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {},
        optional={"from": json_value, "text": json_value, "id": json_value, "name": json_value, "phone": json_value},
    ),
)


def no_server_error(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what} answered {response.status_code}: {response.content[:300]!r}"


@pytest.fixture
def portal_token(sms_channel, staff) -> str:
    message = receive(sms_channel, "+15552017788", "hello").message
    patient = message.patient
    patient.date_of_birth = date(1980, 2, 3)
    patient.save()
    message_queue(
        conversation=message.conversation, channel=sms_channel, body="Your A1c is 7.2%, keep metformin", sender=staff
    )
    while outbox_dispatch_batch():
        pass
    return re.search(r"/portal/t/([\w-]+)", simulator_outbox(sms_channel.key)[-1]["body"]).group(1)


def test_sign_in_and_second_factor_forms(db) -> None:
    @FUZZ
    @given(form, form)
    def one(login: dict[str, str], verify: dict[str, str]) -> None:
        client = Client()
        no_server_error(client.post("/login/", login), f"POST /login/ {login!r}")
        no_server_error(client.post("/login/verify", verify), f"POST /login/verify {verify!r}")
        no_server_error(client.get("/login/", {"next": login.get("next", "")}), "GET /login/?next=")

    one()


def test_portal_date_of_birth_form_and_reply(portal_token: str) -> None:
    @FUZZ
    @given(form, st.sampled_from([portal_token, portal_token[:-1], "x", "a" * 300, "%00"]))
    def one(answer: dict[str, str], token: str) -> None:
        client = Client()
        no_server_error(client.post(f"/portal/t/{token}", answer), f"POST /portal/t/… {answer!r}")
        no_server_error(client.post("/portal/reply", answer), f"POST /portal/reply {answer!r}")

    one()


def test_portal_reply_when_signed_in(portal_token: str) -> None:
    client = Client()
    assert client.post(f"/portal/t/{portal_token}", {"year": "1980", "month": "2", "day": "3"}).status_code == 302

    @FUZZ
    @given(form)
    def one(answer: dict[str, str]) -> None:
        no_server_error(client.post("/portal/reply", answer), f"POST /portal/reply {answer!r}")
        no_server_error(client.get("/portal/"), "GET /portal/")

    one()


def test_web_chat_widget_endpoints(practice) -> None:
    widget = webchat_channel_create(practice=practice, origins=[SITE], actor=None)

    @FUZZ
    @given(json_body, st.sampled_from([SITE, "https://evil.example", "null", ""]))
    def one(body: Any, origin: str) -> None:
        client = Client()
        headers = {"Origin": origin} if origin else {}
        raw = json.dumps(body)
        for url in (f"/webchat/{widget.key}/session", f"/webchat/{widget.key}/config"):
            response = client.post(url, data=raw, content_type="text/plain;charset=UTF-8", headers=headers)
            no_server_error(response, f"POST {url} {raw[:200]}")
        no_server_error(client.get(f"/webchat/{widget.key}/config", headers=headers), "GET config")

    one()


def test_signed_simulator_webhook(sms_channel) -> None:
    secret = sms_channel.credentials()["webhook_secret"]

    @FUZZ
    @given(st.one_of(json_body.map(lambda b: json.dumps(b).encode()), st.binary(max_size=200)))
    def one(body: bytes) -> None:
        response = Client().post(
            f"/webhooks/simulator/{sms_channel.key}",
            data=body,
            content_type="application/json",
            headers={SIGNATURE_HEADER: sign(secret, body)},
        )
        no_server_error(response, f"signed simulator webhook {body[:200]!r}")

    one()
