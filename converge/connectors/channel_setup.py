"""Setting up WhatsApp Cloud API and Twilio channels: validate, store (credentials encrypted),
audit, show back masked, and check against the provider."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel, Provider, Tier
from converge.connectors.registry import channel_config
from converge.core import crypto
from converge.patients.addresses import InvalidAddress, display_phone, normalize_phone
from converge.practices.models import Practice
from converge.providers.twilio.connector import twilio_client
from converge.providers.types import ChannelKind, SendError
from converge.providers.whatsapp.connector import whatsapp_client

_PHONE_NUMBER_ID = re.compile(r"[0-9]{5,32}")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_SHORT_CODE = re.compile(r"[0-9]{5,6}")
_SECRET = re.compile(r"\S{1,1000}")

KEYWORD_REPLIES = ("provider", "converge")


class ChannelSetupError(ValueError):
    """Bad setup input; the message names the field and is shown to the person setting up."""


def webhook_urls(channel: Channel) -> list[tuple[str, str]]:
    """(label, URL) pairs to paste into the provider's console."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    if channel.provider == Provider.META:
        return [("Callback URL", f"{base}/webhooks/whatsapp/{channel.key}")]
    if channel.provider == Provider.TWILIO:
        return [
            ("A message comes in (webhook, HTTP POST)", f"{base}/webhooks/twilio/{channel.key}"),
            ("Status callback URL", f"{base}/webhooks/twilio/{channel.key}/status"),
        ]
    if channel.provider == Provider.SIMULATOR:
        return [("Simulator webhook", f"{base}/webhooks/simulator/{channel.key}")]
    return []


def masked_credentials(channel: Channel) -> dict[str, str]:
    return {name: crypto.mask(str(value)) for name, value in sorted(channel.credentials().items())}


def _secret(value: str, field: str) -> str:
    value = value.strip()
    if not _SECRET.fullmatch(value):
        raise ChannelSetupError(f"{field}: required, without spaces")
    return value


def _api_base_url(value: str, field: str = "api_base_url") -> str:
    value = value.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query or parts.fragment:
        raise ChannelSetupError(f"{field}: an http(s) URL without credentials, query or fragment")
    return value


def _name(value: str, default: str) -> str:
    value = value.strip() or default
    if len(value) > 100:
        raise ChannelSetupError("name: at most 100 characters")
    return value


def _create(
    *,
    practice: Practice,
    kind: str,
    provider: str,
    name: str,
    display_address: str,
    credentials: dict[str, str],
    channel_settings: dict[str, Any],
    actor: Any,
) -> Channel:
    with transaction.atomic():
        channel = Channel(
            practice=practice,
            kind=kind,
            provider=provider,
            name=name,
            display_address=display_address,
            tier=Tier.STANDARD,
            settings=channel_settings,
        )
        channel.set_credentials(credentials)
        channel.save()
        audit_record(
            practice_id=practice.id,
            actor=actor,
            action="channel.create",
            obj=channel,
            detail={"kind": kind, "provider": provider},
        )
    return channel


def whatsapp_channel_create(
    *,
    practice: Practice,
    phone_number_id: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    name: str = "",
    api_base_url: str = "",
    actor: Any = None,
) -> Channel:
    phone_number_id = phone_number_id.strip()
    if not _PHONE_NUMBER_ID.fullmatch(phone_number_id):
        raise ChannelSetupError("phone_number_id: the numeric Phone number ID from Meta's WhatsApp API setup page")
    credentials = {
        "access_token": _secret(access_token, "access_token"),
        "app_secret": _secret(app_secret, "app_secret"),
        "verify_token": _secret(verify_token, "verify_token"),
    }
    channel_settings: dict[str, Any] = {"phone_number_id": phone_number_id}
    if base := _api_base_url(api_base_url):
        channel_settings["api_base_url"] = base
    if Channel.objects.filter(provider=Provider.META, settings__phone_number_id=phone_number_id).exists():
        raise ChannelSetupError("phone_number_id: this WhatsApp number is already set up")
    return _create(
        practice=practice,
        kind=ChannelKind.WHATSAPP,
        provider=Provider.META,
        name=_name(name, "WhatsApp"),
        display_address="",
        credentials=credentials,
        channel_settings=channel_settings,
        actor=actor,
    )


def _from_number(value: str) -> str:
    value = value.strip()
    if _SHORT_CODE.fullmatch(value):
        return value
    try:
        return normalize_phone(value)
    except InvalidAddress:
        raise ChannelSetupError("from_number: a phone number in E.164 form (+14155550100) or a short code") from None


def sms_channel_create(
    *,
    practice: Practice,
    account_sid: str,
    auth_token: str,
    from_number: str = "",
    messaging_service_sid: str = "",
    name: str = "",
    api_base_url: str = "",
    keyword_replies: str = "provider",
    actor: Any = None,
) -> Channel:
    account_sid = account_sid.strip()
    if not _ACCOUNT_SID.fullmatch(account_sid):
        raise ChannelSetupError("account_sid: AC followed by 32 hexadecimal characters")
    credentials = {"account_sid": account_sid, "auth_token": _secret(auth_token, "auth_token")}
    from_number, messaging_service_sid = from_number.strip(), messaging_service_sid.strip()
    if bool(from_number) == bool(messaging_service_sid):
        raise ChannelSetupError("from_number / messaging_service_sid: give exactly one of them")
    if keyword_replies not in KEYWORD_REPLIES:
        raise ChannelSetupError("keyword_replies: provider or converge")
    channel_settings: dict[str, Any] = {"keyword_replies": keyword_replies}
    if messaging_service_sid:
        if not _SERVICE_SID.fullmatch(messaging_service_sid):
            raise ChannelSetupError("messaging_service_sid: MG followed by 32 hexadecimal characters")
        channel_settings["messaging_service_sid"] = messaging_service_sid
        display = f"Messaging Service {messaging_service_sid[:6]}…"
        duplicate = Channel.objects.filter(
            provider=Provider.TWILIO, settings__messaging_service_sid=messaging_service_sid
        )
    else:
        number = _from_number(from_number)
        channel_settings["from_number"] = number
        display = display_phone(number) if number.startswith("+") else f"short code {number}"
        duplicate = Channel.objects.filter(provider=Provider.TWILIO, settings__from_number=number)
    if duplicate.exists():
        raise ChannelSetupError("this Twilio number or Messaging Service is already set up")
    if base := _api_base_url(api_base_url):
        channel_settings["api_base_url"] = base
    return _create(
        practice=practice,
        kind=ChannelKind.SMS,
        provider=Provider.TWILIO,
        name=_name(name, "SMS"),
        display_address=display,
        credentials=credentials,
        channel_settings=channel_settings,
        actor=actor,
    )


_UPDATABLE: dict[str, tuple[str, ...]] = {
    Provider.META: ("access_token", "app_secret", "verify_token"),
    Provider.TWILIO: ("auth_token",),
}


def updatable_credentials(channel: Channel) -> tuple[str, ...]:
    """The credentials that can be replaced (rotated) without setting the channel up again."""
    return _UPDATABLE.get(channel.provider, ())


def channel_credentials_update(*, channel: Channel, values: dict[str, str], actor: Any) -> Channel:
    """Replace the credentials given (blank ones are kept): how a rotated token is entered."""
    allowed = updatable_credentials(channel)
    changed = {}
    for field, value in values.items():
        if field not in allowed:
            raise ChannelSetupError(f"{field}: cannot be changed here")
        if value.strip():
            changed[field] = _secret(value, field)
    if not changed:
        raise ChannelSetupError("nothing to change: enter the new value of at least one credential")
    with transaction.atomic():
        channel.set_credentials({**channel.credentials(), **changed})
        channel.save(update_fields=["credentials_encrypted"])
        audit_record(
            practice_id=channel.practice_id,
            actor=actor,
            action="channel.credentials_update",
            obj=channel,
            detail={"fields": sorted(changed)},
        )
    return channel


def channel_set_enabled(*, channel: Channel, enabled: bool, actor: Any) -> Channel:
    with transaction.atomic():
        channel.enabled = enabled
        channel.save(update_fields=["enabled"])
        audit_record(
            practice_id=channel.practice_id,
            actor=actor,
            action="channel.enable" if enabled else "channel.disable",
            obj=channel,
        )
    return channel


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


def channel_check(*, channel: Channel, actor: Any) -> CheckResult:
    """Ask the provider whether the stored credentials work ("test connection")."""
    try:
        if channel.provider == Provider.META:
            number = whatsapp_client(channel_config(channel)).check_credentials()
            result = CheckResult(True, f"Connected to WhatsApp number {number}")
            if channel.display_address != number:
                channel.display_address = number[:254]
                channel.save(update_fields=["display_address"])
        elif channel.provider == Provider.TWILIO:
            account = twilio_client(channel_config(channel)).check_credentials()
            result = CheckResult(True, f"Connected to Twilio account {account}")
        elif channel.provider == Provider.SIMULATOR:
            result = CheckResult(True, "Simulator channel: there is no provider account to check")
        else:
            result = CheckResult(False, "This channel's connection is checked elsewhere")
    except SendError as exc:
        result = CheckResult(False, exc.reason)
    except ValueError:
        result = CheckResult(False, "The stored channel settings are not valid; set the channel up again")
    audit_record(
        practice_id=channel.practice_id,
        actor=actor,
        action="channel.check",
        obj=channel,
        detail={"ok": result.ok},
    )
    return result
