"""Value normalisers shared by the import parsers (time zones, phones, languages, names)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

FIRST_YEAR = 1900
LAST_YEAR = 2199

_ISO_DATETIME = re.compile(r"^\d{4}-?\d{2}-?\d{2}[T ]\d{2}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Three-letter (ISO 639-2, as HL7 and some EHRs send) and English/endonym spellings of the
# languages small US practices most often record, mapped to ISO 639-1.
_LANGUAGE_ALIASES = {
    "eng": "en",
    "english": "en",
    "spa": "es",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
    "fra": "fr",
    "fre": "fr",
    "french": "fr",
    "français": "fr",
    "deu": "de",
    "ger": "de",
    "german": "de",
    "por": "pt",
    "portuguese": "pt",
    "português": "pt",
    "ita": "it",
    "italian": "it",
    "zho": "zh",
    "chi": "zh",
    "chinese": "zh",
    "mandarin": "zh",
    "vie": "vi",
    "vietnamese": "vi",
    "kor": "ko",
    "korean": "ko",
    "rus": "ru",
    "russian": "ru",
    "ara": "ar",
    "arabic": "ar",
    "hin": "hi",
    "hindi": "hi",
    "tgl": "tl",
    "fil": "tl",
    "tagalog": "tl",
    "filipino": "tl",
    "hat": "ht",
    "haitian creole": "ht",
    "pol": "pl",
    "polish": "pl",
    "jpn": "ja",
    "japanese": "ja",
    "fas": "fa",
    "per": "fa",
    "farsi": "fa",
    "persian": "fa",
    "urd": "ur",
    "urdu": "ur",
    "ben": "bn",
    "bengali": "bn",
    "guj": "gu",
    "gujarati": "gu",
    "pan": "pa",
    "punjabi": "pa",
    "som": "so",
    "somali": "so",
    "amh": "am",
    "amharic": "am",
    "ukr": "uk",
    "ukrainian": "uk",
}


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError (not KeyError) when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    """``value`` as an aware UTC datetime; a naive value is wall-clock time in ``tz``.

    Wall-clock times that a DST change skips or repeats follow RFC 5545 §3.3.5, which zoneinfo's
    ``fold=0`` already implements: a skipped time uses the offset before the gap (02:30 on a
    spring-forward day becomes 03:30 daylight time) and a repeated time is its first occurrence.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=tz, fold=0)
    try:
        return in_range(value.astimezone(UTC))
    except OverflowError as exc:
        raise ValueError("date/time out of range") from exc


def in_range(value: datetime) -> datetime:
    """``value`` if it is a plausible appointment time (years 1900-2199), else ValueError.

    The bound also keeps ``start + duration`` clear of datetime's year-9999 overflow.
    """
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"date/time out of range ({FIRST_YEAR}-{LAST_YEAR})")
    return value


def parse_datetime_text(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 date-time (offset or ``Z`` honoured, else wall-clock in ``tz``) → aware UTC."""
    value = text.strip()
    if not _ISO_DATETIME.match(value):
        raise ValueError("not a date/time (expected ISO 8601 or YYYY-MM-DD HH:MM)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("not a date/time (expected ISO 8601 or YYYY-MM-DD HH:MM)") from exc
    return to_utc(parsed, tz)


def parse_date_text(text: str) -> date:
    """ISO 8601 calendar date (YYYY-MM-DD), not in the future."""
    value = text.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("not a date (expected YYYY-MM-DD)")
    try:
        parsed = date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("not a date (expected YYYY-MM-DD)") from exc
    check_birth_date(parsed)
    return parsed


def check_birth_date(value: date) -> None:
    if value > datetime.now(UTC).date():
        raise ValueError("date of birth is in the future")
    if value.year < 1850:
        raise ValueError("date of birth is implausibly early")


def parse_phone(text: str, region: str = "US") -> str:
    """A phone number in E.164; ValueError when it is not a valid number."""
    value = text.strip()
    if value.lower().startswith("tel:"):
        value = value[4:]
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def first_phone(candidates: list[str], region: str = "US") -> str:
    """The first candidate that is a valid phone number, in E.164, or ""."""
    for candidate in candidates:
        if not candidate.strip():
            continue
        try:
            return parse_phone(candidate, region)
        except ValueError:
            continue
    return ""


def parse_email(text: str) -> str:
    value = text.strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


def parse_language(text: str) -> str:
    """ISO 639-1 code from a BCP 47 tag, ISO 639-2 code or common language name; "" if blank."""
    value = " ".join(text.strip().lower().replace("_", "-").split())
    if not value:
        return ""
    if value in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[value]
    primary = value.split("-", 1)[0]
    if primary in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[primary]
    if re.fullmatch(r"[a-z]{2}", primary):
        return primary
    raise ValueError("not a language (expected a code such as en or es)")


def language_or_blank(text: str) -> str:
    try:
        return parse_language(text)
    except ValueError:
        return ""


def split_name(full: str) -> tuple[str, str]:
    """("Jane Q.", "Doe") from "Jane Q. Doe" or "Doe, Jane Q."; best effort for display names."""
    value = " ".join(full.split())
    if "," in value:
        last, _, first = value.partition(",")
        return first.strip(), last.strip()
    if " " not in value:
        return "", value
    first, _, last = value.rpartition(" ")
    return first, last
