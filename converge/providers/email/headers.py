"""Header decoding for inbound mail: RFC 2047 words, raw UTF-8, addresses and injection checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from converge.providers.types import MalformedPayload

__all__ = ["MalformedEmail", "is_valid_address"]


class MalformedEmail(MalformedPayload):
    """The bytes are not a usable email; `reason` is safe to show to staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- headers -----------------------------------------------------------------------------------

_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\\\"]+@[^\s@<>()\[\],;:\\\"]+$")
MSGID_RE = re.compile(r"<([^<>\s]{1,990})>")
_BAD_HEADER_CHARS = re.compile(r"[\r\n\x00]")


def is_valid_address(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    return (
        bool(_ADDRESS.match(address))
        and len(address) <= 320
        and not domain.startswith(".")
        and not domain.endswith(".")
        and ".." not in domain
        and bool(local)
    )


def decode_raw(value: str) -> str:
    """A raw header value as parsed from bytes: 8-bit bytes are taken as UTF-8 (RFC 6532)."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words; unknown charsets and bad encodings degrade, never raise."""
    value = re.sub(r"\r?\n(?=[ \t])", "", value)  # unfold
    if "=?" not in value:
        return value
    try:
        parts = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    previous_encoded = False
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            encoded = charset is not None
            try:
                text = chunk.decode(charset or "ascii", "replace")
            except (LookupError, ValueError):
                text = chunk.decode("utf-8", "replace")
        else:
            encoded = False
            text = chunk
        # decode_header drops the space between an encoded word and plain text next to it.
        if out and encoded != previous_encoded and not out[-1].endswith(" ") and text[:1] != " ":
            out.append(" ")
        out.append(text)
        previous_encoded = encoded
    return "".join(out)


class HeaderReader:
    """Read access to a message's headers with decoding and the injection checks we need."""

    def __init__(self, msg: Message) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in msg.raw_items():
            self._items.append((name.lower(), decode_raw(str(value))))

    def all(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name]

    def raw(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def text(self, name: str, *, strict: bool = True) -> str:
        raw = self.raw(name)
        if raw is None:
            return ""
        decoded = decode_words(raw)
        if _BAD_HEADER_CHARS.search(decoded):
            if strict:
                raise MalformedEmail(
                    f"The {name} header contains line breaks or NUL characters (possible header injection)."
                )
            decoded = _BAD_HEADER_CHARS.sub(" ", decoded)
        return re.sub(r"[\x00-\x1f\x7f]", " ", decoded).strip()

    def addresses(self, *names: str) -> list[tuple[str, str]]:
        """(name, lower-cased address) pairs; entries that are not addresses are left out."""
        values = [re.sub(r"\r?\n(?=[ \t])", "", raw) for name in names for raw in self.all(name)]
        if any(_BAD_HEADER_CHARS.search(decode_words(value)) for value in values):
            raise MalformedEmail(
                "An address header contains line breaks or NUL characters (possible header injection)."
            )
        out: list[tuple[str, str]] = []
        for display, address in getaddresses(values):
            address = address.strip().lower()
            name = decode_words(display)
            if _BAD_HEADER_CHARS.search(name + address):
                raise MalformedEmail(
                    "An address header contains line breaks or NUL characters (possible header injection)."
                )
            if is_valid_address(address):
                out.append((re.sub(r"\s+", " ", name).strip(), address))
        return out

    def message_ids(self, name: str) -> list[str]:
        out: list[str] = []
        for raw in self.all(name):
            out.extend(f"<{m}>" for m in MSGID_RE.findall(decode_raw(raw)))
        return out


def message_id_from(headers: HeaderReader) -> str | None:
    ids = headers.message_ids("message-id")
    if ids:
        return ids[0]
    raw = (headers.raw("message-id") or "").strip()
    # Some mailers leave out the angle brackets; keep such an id if it is one token.
    if raw and re.fullmatch(r"[^<>\s]{1,990}@[^<>\s]{1,255}", raw):
        return f"<{raw}>"
    return None


def date_from(headers: HeaderReader) -> datetime | None:
    raw = headers.raw("date")
    if not raw:
        return None
    try:
        value = parsedate_to_datetime(re.sub(r"\s+", " ", raw).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
