"""Parse raw RFC 5322 mail into a `ParsedEmail`, and that into the neutral `InboundMessage`.

Everything that can go wrong with untrusted bytes ends in `MalformedEmail` with a reason staff
can read; no other exception escapes `parse_email`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from converge.connectors.email_text import (
    html_to_text,
    normalize_subject,
    normalize_text,
    strip_quoted_text,
    unflow_text,
)
from converge.connectors.types import InboundAttachment, InboundMessage, MalformedPayload

__all__ = [
    "DEFAULT_ALLOWED_TYPES",
    "BounceInfo",
    "EmailAttachment",
    "MalformedEmail",
    "ParsedEmail",
    "RejectedAttachment",
    "is_valid_address",
    "parse_email",
    "to_inbound_message",
]

DEFAULT_ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "image/heif",
        "image/tiff",
        "image/bmp",
        "text/plain",
        "text/csv",
        "text/calendar",
        "application/rtf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "video/mp4",
        "video/quicktime",
    }
)
DEFAULT_MAX_MESSAGE_BYTES = 50_000_000
_MAX_PARTS = 500
_MAX_DEPTH = 30


class MalformedEmail(MalformedPayload):
    """The bytes are not a usable email; `reason` is safe to show to staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EmailAttachment:
    filename: str
    content_type: str
    size: int
    content: bytes
    content_id: str = ""
    inline: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class RejectedAttachment:
    filename: str
    content_type: str
    size: int
    reason: str


@dataclass(frozen=True)
class BounceInfo:
    """A delivery status notification about a mail we sent."""

    recipients: tuple[str, ...]
    action: str  # failed, delayed, ... (lower-case; "failed" for X-Failed-Recipients bounces)
    status: str  # enhanced status code such as "5.1.1", or ""
    diagnostic: str  # the remote server's words, e.g. "smtp; 550 5.1.1 user unknown"
    original_message_id: str | None
    permanent: bool  # True: the address does not work; False: delayed / temporary


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None  # "<id@host>" or None when the mail has none
    in_reply_to: str | None
    references: tuple[str, ...]
    from_address: str
    from_name: str
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    reply_to_addresses: tuple[str, ...]
    delivered_to: tuple[str, ...]  # Delivered-To / X-Original-To / Envelope-To
    subject: str
    normalized_subject: str
    date: datetime | None  # aware, UTC
    text: str
    display_text: str
    attachments: tuple[EmailAttachment, ...]
    rejected_attachments: tuple[RejectedAttachment, ...]
    is_auto_reply: bool
    auto_reply_reason: str
    bounce: BounceInfo | None
    raw_sha256: str
    raw_size: int

    @property
    def all_recipients(self) -> tuple[str, ...]:
        """Every address the mail was sent to, for finding a reply token."""
        seen: dict[str, None] = {}
        for address in (*self.to_addresses, *self.cc_addresses, *self.delivered_to):
            seen.setdefault(address, None)
        return tuple(seen)


# --- headers -----------------------------------------------------------------------------------

_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\\\"]+@[^\s@<>()\[\],;:\\\"]+$")
_MSGID = re.compile(r"<([^<>\s]{1,990})>")
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


def _decode_raw(value: str) -> str:
    """A raw header value as parsed from bytes: 8-bit bytes are taken as UTF-8 (RFC 6532)."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _decode_words(value: str) -> str:
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


class _Headers:
    """Read access to a message's headers with decoding and the injection checks we need."""

    def __init__(self, msg: Message) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in msg.raw_items():
            self._items.append((name.lower(), _decode_raw(str(value))))

    def all(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name]

    def raw(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def text(self, name: str, *, strict: bool = True) -> str:
        raw = self.raw(name)
        if raw is None:
            return ""
        decoded = _decode_words(raw)
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
        if any(_BAD_HEADER_CHARS.search(_decode_words(value)) for value in values):
            raise MalformedEmail(
                "An address header contains line breaks or NUL characters (possible header injection)."
            )
        out: list[tuple[str, str]] = []
        for display, address in getaddresses(values):
            address = address.strip().lower()
            name = _decode_words(display)
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
            out.extend(f"<{m}>" for m in _MSGID.findall(_decode_raw(raw)))
        return out


def _message_id(headers: _Headers) -> str | None:
    ids = headers.message_ids("message-id")
    if ids:
        return ids[0]
    raw = (headers.raw("message-id") or "").strip()
    # Some mailers leave out the angle brackets; keep such an id if it is one token.
    if raw and re.fullmatch(r"[^<>\s]{1,990}@[^<>\s]{1,255}", raw):
        return f"<{raw}>"
    return None


def _date(headers: _Headers) -> datetime | None:
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


# --- auto-replies ------------------------------------------------------------------------------

_OOO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|autosvar|auto:|"
    r"out of (?:the )?office|automatische antwort|abwesenheitsnotiz|"
    r"respuesta autom[áa]tica|fuera de la oficina|r[ée]ponse automatique|absence|"
    r"resposta autom[áa]tica|automatisch antwoord|afwezig|risposta automatica|"
    r"vacation reply|away from (?:the )?office)",
    re.IGNORECASE,
)


def _auto_reply_reason(headers: _Headers, subject: str, from_address: str) -> str:
    auto_submitted = (headers.raw("auto-submitted") or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted.split(';')[0].strip()}"
    for name in ("x-autoreply", "x-autorespond", "x-autogenerated"):
        value = (headers.raw(name) or "").strip().lower()
        if value and value != "no":
            return f"{name}: {value}"
    suppress = (headers.raw("x-auto-response-suppress") or "").lower()
    if any(word in suppress for word in ("all", "oof", "autoreply")):
        return "X-Auto-Response-Suppress"
    precedence = (headers.raw("precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    if headers.raw("x-ms-exchange-inbox-rules-loop") is not None:
        return "X-MS-Exchange-Inbox-Rules-Loop"
    if headers.raw("list-unsubscribe") is not None or headers.raw("list-id") is not None:
        return "mailing list"
    local = from_address.partition("@")[0]
    if local in ("mailer-daemon", "postmaster"):
        return "sent by the mail system"
    if _OOO_SUBJECT.match(subject):
        return "out-of-office subject"
    return ""


# --- body and attachments ----------------------------------------------------------------------


def _decode_payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _part_text(part: Message) -> str:
    data = _decode_payload(part)
    charset = (part.get_content_charset() or "").strip() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except (LookupError, ValueError):
        text = data.decode("utf-8", "replace")
    return text.replace("\x00", "")


def _filename(part: Message) -> str:
    try:
        raw = part.get_filename() or part.get_param("name") or ""
    except Exception:
        raw = ""
    if isinstance(raw, tuple):  # an RFC 2231 value get_param could not collapse
        raw = raw[2] if len(raw) == 3 else ""
    name = _decode_words(_decode_raw(str(raw)))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return name[:200]


def _content_type(part: Message, filename: str) -> str:
    declared = part.get_content_type().lower()
    if declared in ("application/octet-stream", "application/x-download", "binary/octet-stream"):
        guessed, _ = mimetypes.guess_type(filename) if filename else (None, None)
        if guessed:
            return guessed.lower()
    return declared


def _raw_header(part: Message, name: str) -> str:
    # Message.get() may hand back a Header object for 8-bit values; the raw string is simpler.
    for key, value in part.raw_items():
        if key.lower() == name:
            return _decode_raw(str(value))
    return ""


def _disposition(part: Message) -> str:
    return _raw_header(part, "content-disposition").split(";")[0].strip().lower()


def _is_attachment(part: Message) -> bool:
    disposition = _disposition(part)
    if disposition == "attachment":
        return True
    maintype = part.get_content_maintype()
    if maintype == "text" and part.get_content_subtype() in ("plain", "html"):
        return bool(_filename(part)) and disposition != "inline"
    return maintype != "multipart"


def _base64_size(part: Message, raw: str) -> int:
    """A lower bound of the decoded size of a base64 part (0 for other encodings)."""
    if _raw_header(part, "content-transfer-encoding").strip().lower() != "base64":
        return 0
    chars = len(raw) - sum(raw.count(ws) for ws in ("\r", "\n", " ", "\t"))
    return max(0, chars * 3 // 4 - 2)


def _allowed(content_type: str, allowed_types: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(content_type, pattern.lower()) for pattern in allowed_types)


@dataclass
class _Walk:
    plain: list[str]
    html: list[str]
    attachments: list[EmailAttachment]
    rejected: list[RejectedAttachment]
    reports: list[Message]  # message/delivery-status parts
    originals: list[Message]  # headers of the returned mail in a bounce


def _walk(
    msg: Message,
    *,
    max_attachment_bytes: int,
    allowed_types: frozenset[str],
) -> _Walk:
    walk = _Walk([], [], [], [], [], [])
    count = 0

    def visit(part: Message, depth: int) -> None:
        nonlocal count
        count += 1
        if count > _MAX_PARTS or depth > _MAX_DEPTH:
            raise MalformedEmail("The email has too many nested parts to be read.")
        ctype = part.get_content_type().lower()
        if ctype == "message/delivery-status":
            walk.reports.append(part)
            return
        if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            walk.originals.append(
                BytesHeaderParser(policy=compat32).parsebytes(
                    _decode_payload(part) or str(part.get_payload()).encode("utf-8", "replace")
                )
            )
            return
        if part.is_multipart() and ctype != "message/rfc822":
            children = part.get_payload()
            if isinstance(children, list):
                for child in children:
                    if isinstance(child, Message):
                        visit(child, depth + 1)
            return
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                walk.originals.append(inner[0])
                _add_attachment(part, inner[0].as_bytes(), "message/rfc822")
            return
        if not _is_attachment(part):
            if ctype == "text/plain":
                text = _part_text(part)
                if str(part.get_param("format") or "").lower() == "flowed":
                    delsp = str(part.get_param("delsp") or "").lower() == "yes"
                    text = unflow_text(text, delsp=delsp)
                walk.plain.append(text)
            elif ctype == "text/html":
                walk.html.append(_part_text(part))
            return
        raw = part.get_payload()
        if isinstance(raw, str) and _base64_size(part, raw) > max_attachment_bytes:
            # Rejected before decoding, so a huge part costs no memory.
            filename = _filename(part)
            walk.rejected.append(
                RejectedAttachment(
                    filename or "attachment",
                    _content_type(part, filename),
                    _base64_size(part, raw),
                    f"larger than the limit of {max_attachment_bytes} bytes",
                )
            )
            return
        _add_attachment(part, _decode_payload(part), None)

    def _add_attachment(part: Message, data: bytes, ctype: str | None) -> None:
        filename = _filename(part)
        content_type = ctype or _content_type(part, filename)
        if not filename:
            extension = mimetypes.guess_extension(content_type) or ".bin"
            filename = f"attachment{extension}"
        if len(data) > max_attachment_bytes:
            reason = f"larger than the limit of {max_attachment_bytes} bytes"
        elif not _allowed(content_type, allowed_types):
            reason = f"file type {content_type} is not accepted"
        else:
            content_id = _raw_header(part, "content-id").strip().strip("<>")
            disposition = _disposition(part)
            walk.attachments.append(
                EmailAttachment(
                    filename=filename,
                    content_type=content_type,
                    size=len(data),
                    content=data,
                    content_id=_decode_raw(content_id)[:200],
                    inline=disposition == "inline" or (bool(content_id) and disposition == ""),
                )
            )
            return
        walk.rejected.append(RejectedAttachment(filename, content_type, len(data), reason))

    visit(msg, 0)
    return walk


# --- bounces -----------------------------------------------------------------------------------


def _status_blocks(report: Message) -> list[Message]:
    payload = report.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    # Some generators put the whole report in one text blob; split it into header blocks.
    text = _decode_payload(report).decode("utf-8", "replace") or str(payload)
    blocks = re.split(r"\r?\n\s*\r?\n", text)
    return [message_from_bytes(block.encode("utf-8"), policy=compat32) for block in blocks]


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return _decode_raw(str(value)).strip() if value is not None else ""


def _bounce(msg: Message, headers: _Headers, walk: _Walk) -> BounceInfo | None:
    report_type = str(msg.get_param("report-type") or "").lower()
    is_dsn = msg.get_content_type() == "multipart/report" and report_type == "delivery-status"
    failed_header = [
        address
        for raw in headers.all("x-failed-recipients")
        for address in re.split(r"[,\s]+", raw.strip().lower())
        if is_valid_address(address)
    ]
    if not (is_dsn and walk.reports) and not failed_header:
        return None
    entries: list[tuple[str, str, str, str]] = []  # address, action, status, diagnostic
    for report in walk.reports:
        for block in _status_blocks(report):
            action = _field(block, "action").lower()
            recipient = _field(block, "final-recipient") or _field(block, "original-recipient")
            if not action and not recipient:
                continue  # the per-message block
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            diagnostic = re.sub(r"\s+", " ", _field(block, "diagnostic-code"))
            entries.append((address, action, _field(block, "status"), diagnostic))
    failed = [e for e in entries if e[1] == "failed" or e[2].startswith("5")]
    chosen = failed or [e for e in entries if e[1] == "delayed" or e[2].startswith("4")] or entries
    recipients = [e[0] for e in chosen if is_valid_address(e[0])]
    action, status, diagnostic = chosen[0][1:] if chosen else ("", "", "")
    permanent = bool(failed)
    for address in failed_header:
        if address not in recipients:
            recipients.append(address)
        permanent = True
        action = action if failed else "failed"
    recipients = list(dict.fromkeys(recipients))
    if not status:
        found = re.search(r"\b([45]\.\d{1,3}\.\d{1,3})\b", "\n".join(walk.plain))
        status = found.group(1) if found else ""
    original_id: str | None = None
    for original in walk.originals:
        ids = _MSGID.findall(_decode_raw(str(original.get("message-id") or "")))
        if ids:
            original_id = f"<{ids[0]}>"
            break
    if original_id is None:
        # Exim and qmail append the returned mail's headers to the text part.
        found = re.search(r"^Message-ID:\s*<([^<>\s]+)>", "\n".join(walk.plain), re.I | re.M)
        original_id = f"<{found.group(1)}>" if found else None
    return BounceInfo(
        recipients=tuple(recipients),
        action=action or "unknown",
        status=status,
        diagnostic=diagnostic[:1000],
        original_message_id=original_id,
        permanent=permanent,
    )


# --- entry points ------------------------------------------------------------------------------


def parse_email(
    raw: bytes,
    *,
    max_attachment_bytes: int = 10_000_000,
    allowed_types: Iterable[str] = DEFAULT_ALLOWED_TYPES,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> ParsedEmail:
    """Parse one raw mail. Raises `MalformedEmail` (and nothing else) on unusable input."""
    try:
        return _parse(
            raw,
            max_attachment_bytes=max_attachment_bytes,
            allowed_types=frozenset(allowed_types),
            max_message_bytes=max_message_bytes,
        )
    except MalformedEmail:
        raise
    except RecursionError:
        raise MalformedEmail("The email is nested too deeply to be read.") from None
    except Exception as exc:  # untrusted input: any parser failure is the mail's fault
        raise MalformedEmail(f"The email could not be read ({type(exc).__name__}).") from None


def _parse(
    raw: bytes,
    *,
    max_attachment_bytes: int,
    allowed_types: frozenset[str],
    max_message_bytes: int,
) -> ParsedEmail:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MalformedEmail("The email is not raw bytes.")
    raw = bytes(raw)
    if not raw.strip():
        raise MalformedEmail("The email is empty.")
    if len(raw) > max_message_bytes:
        raise MalformedEmail(f"The email is larger than {max_message_bytes} bytes.")
    msg = message_from_bytes(raw, policy=compat32)
    if not msg.keys():
        raise MalformedEmail("This is not an email: it has no headers.")
    headers = _Headers(msg)
    if len(headers.all("from")) > 1:
        raise MalformedEmail("The email has more than one From header.")
    if headers.raw("from") is None:
        raise MalformedEmail("The email has no From header.")
    senders = headers.addresses("from")
    if not senders:
        raise MalformedEmail("The email's From header has no valid address.")
    from_name, from_address = senders[0]

    subject = headers.text("subject")
    message_id = _message_id(headers)
    in_reply = headers.message_ids("in-reply-to")
    references = tuple(dict.fromkeys(headers.message_ids("references")))[:100]

    walk = _walk(msg, max_attachment_bytes=max_attachment_bytes, allowed_types=allowed_types)
    plain = "\n\n".join(text for text in walk.plain if text.strip())
    html = "\n".join(walk.html)
    if plain.strip():
        text = normalize_text(plain)
        display = strip_quoted_text(text)
    else:
        text = html_to_text(html) if html.strip() else ""
        display = strip_quoted_text(html_to_text(html, drop_quotes=True)) if text else ""
        display = display or strip_quoted_text(text)
    bounce = _bounce(msg, headers, walk)
    reason = _auto_reply_reason(headers, subject, from_address)
    if not reason and bounce is not None:
        reason = "delivery status notification"
    if not reason and msg.get_content_type() == "multipart/report":
        reason = f"report: {str(msg.get_param('report-type') or 'unknown').lower()}"

    return ParsedEmail(
        message_id=message_id,
        in_reply_to=in_reply[0] if in_reply else None,
        references=references,
        from_address=from_address,
        from_name=from_name,
        to_addresses=tuple(dict.fromkeys(a for _, a in headers.addresses("to"))),
        cc_addresses=tuple(dict.fromkeys(a for _, a in headers.addresses("cc"))),
        reply_to_addresses=tuple(dict.fromkeys(a for _, a in headers.addresses("reply-to"))),
        delivered_to=tuple(
            dict.fromkeys(a for _, a in headers.addresses("delivered-to", "x-original-to", "envelope-to"))
        ),
        subject=subject,
        normalized_subject=normalize_subject(subject),
        date=_date(headers),
        text=text,
        display_text=display,
        attachments=tuple(walk.attachments),
        rejected_attachments=tuple(walk.rejected),
        is_auto_reply=bool(reason),
        auto_reply_reason=reason,
        bounce=bounce,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        raw_size=len(raw),
    )


def to_inbound_message(parsed: ParsedEmail) -> InboundMessage:
    """The neutral message for the inbound pipeline. Bounces are not patient messages: check
    `parsed.bounce` first and turn those into a status update instead."""
    provider_id = parsed.message_id or f"sha256:{parsed.raw_sha256}"
    kind = "text" if parsed.display_text.strip() or not parsed.attachments else "document"
    metadata: dict[str, Any] = {
        "subject": parsed.subject,
        "normalized_subject": parsed.normalized_subject,
        "full_text": parsed.text,
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": list(parsed.references),
        "to": list(parsed.to_addresses),
        "cc": list(parsed.cc_addresses),
        "auto_reply": parsed.is_auto_reply,
        "auto_reply_reason": parsed.auto_reply_reason,
        "rejected_attachments": [
            {
                "filename": r.filename,
                "content_type": r.content_type,
                "size": r.size,
                "reason": r.reason,
            }
            for r in parsed.rejected_attachments
        ],
    }
    return InboundMessage(
        provider_message_id=provider_id,
        sender_address=parsed.from_address,
        sender_name=parsed.from_name,
        body=parsed.display_text,
        sent_at=parsed.date,
        kind=kind,
        attachments=tuple(
            InboundAttachment(
                content_type=a.content_type,
                filename=a.filename,
                size=a.size,
                content=a.content,
                sha256=a.sha256,
            )
            for a in parsed.attachments
        ),
        reply_to_provider_id=parsed.in_reply_to,
        metadata=metadata,
    )
