"""Normalising channel addresses so the same person is recognised on every channel."""

from __future__ import annotations

import phonenumbers

from converge.providers.types import ChannelKind

PHONE_KINDS = frozenset({ChannelKind.SMS, ChannelKind.WHATSAPP})


class InvalidAddress(ValueError):
    pass


def normalize_phone(raw: str, *, default_region: str = "US") -> str:
    text = raw.strip()
    # WhatsApp sends wa_id as bare digits with the country code and no "+"; a national number
    # (10 digits in the US) is shorter.
    if text.isdigit() and len(text) > 10:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidAddress("not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip().lower()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() for c in text) or len(text) > 254:
        raise InvalidAddress("not an email address")
    return text


def normalize_address(kind: str, raw: str) -> str:
    if kind in PHONE_KINDS:
        return normalize_phone(raw)
    if kind == ChannelKind.EMAIL:
        return normalize_email(raw)
    text = raw.strip()
    if not text or len(text) > 254:
        raise InvalidAddress("empty or too long address")
    return text


def display_phone(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
