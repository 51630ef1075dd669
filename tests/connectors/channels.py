"""Helpers for the WhatsApp / Twilio end-to-end tests: channels set up against the local fake
providers, and webhook requests signed the way Meta and Twilio sign them (computed here
independently of the code under test)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.test import Client

from converge.connectors.channel_setup import sms_channel_create, whatsapp_channel_create
from converge.connectors.models import Channel
from converge.practices.models import Practice
from tests.providers.fakes import FakeGraphAPI, FakeTwilioAPI

PROVIDER_TESTS = Path(__file__).parents[1] / "providers"
APP_SECRET = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f"
VERIFY_TOKEN = "sunrise-verify-7311"
WA_NUMBER_ID = "106540352242922"  # the phone_number_id in the fixtures
ACCOUNT_SID = "AC1f2e3d4c5b6a79880716253443526170"  # the AccountSid in the fixtures
AUTH_TOKEN = "test-auth-token"
TWILIO_NUMBER = "+14155550100"
PATIENT_WA = "16505551234"  # the sender in most WhatsApp fixtures
PATIENT_E164 = "+16505551234"


def wa_channel(
    practice: Practice,
    fake: FakeGraphAPI | None = None,
    *,
    phone_number_id: str = WA_NUMBER_ID,
    app_secret: str = APP_SECRET,
    **settings_: Any,
) -> Channel:
    channel = whatsapp_channel_create(
        practice=practice,
        phone_number_id=phone_number_id,
        access_token=fake.access_token if fake else "EAAtest-token",
        app_secret=app_secret,
        verify_token=VERIFY_TOKEN,
        api_base_url=fake.base_url if fake else "",
    )
    if settings_:
        channel.settings.update(settings_)
        channel.save(update_fields=["settings"])
    return channel


def sms_channel(practice: Practice, fake: FakeTwilioAPI | None = None, **kw: Any) -> Channel:
    extra = {k: kw.pop(k) for k in list(kw) if k in ("max_per_second", "burst")}
    if "messaging_service_sid" not in kw:
        kw.setdefault("from_number", TWILIO_NUMBER)
    channel = sms_channel_create(
        practice=practice,
        account_sid=fake.account_sid if fake else ACCOUNT_SID,
        auth_token=fake.auth_token if fake else AUTH_TOKEN,
        api_base_url=fake.base_url if fake else "",
        **kw,
    )
    if extra:
        channel.settings.update(extra)
        channel.save(update_fields=["settings"])
    return channel


# --- WhatsApp ----------------------------------------------------------------------------------


def wa_fixture(name: str) -> bytes:
    return (PROVIDER_TESTS / "whatsapp" / "fixtures" / f"{name}.json").read_bytes()


def wa_sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wa_post(client: Client, channel: Channel, body: bytes | dict[str, Any], *, signature: str | None = "sign") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature == "sign":
        headers["X-Hub-Signature-256"] = wa_sign(raw)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post(f"/webhooks/whatsapp/{channel.key}", data=raw, content_type="application/json", headers=headers)


def wa_text_notification(message_id: str, text: str, sender: str = PATIENT_WA, number_id: str = WA_NUMBER_ID) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": number_id},
                            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": message_id,
                                    "timestamp": "1739321000",
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def wa_status_notification(message_id: str, status: str, *, errors: list[dict] | None = None) -> dict:
    item: dict[str, Any] = {"id": message_id, "status": status, "timestamp": "1739323100", "recipient_id": PATIENT_WA}
    if errors:
        item["errors"] = errors
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_NUMBER_ID},
        "statuses": [item],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


# --- Twilio ------------------------------------------------------------------------------------


def twilio_fixture(name: str, **overrides: str) -> dict[str, str]:
    params = dict(
        parse_qsl((PROVIDER_TESTS / "twilio" / "fixtures" / f"{name}.txt").read_text().strip(), keep_blank_values=True)
    )
    params.update(overrides)
    return params


def twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """Twilio's algorithm: the URL, then each parameter name and value, names sorted; HMAC-SHA1."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_post(
    client: Client,
    channel: Channel,
    params: dict[str, str],
    *,
    status: bool = False,
    signed_url: str | None = None,
    signature: str | None = "sign",
    token: str = AUTH_TOKEN,
    **extra: Any,
) -> Any:
    """POST the form as Twilio would, signed over the public URL (PUBLIC_BASE_URL + path)."""
    path = f"/webhooks/twilio/{channel.key}" + ("/status" if status else "")
    headers = dict(extra.pop("headers", {}))
    if signature == "sign":
        headers["X-Twilio-Signature"] = twilio_signature(
            signed_url or settings.PUBLIC_BASE_URL.rstrip("/") + path, params, token
        )
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(
        path, data=urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers, **extra
    )
