"""Walk a MIME tree: the text bodies, attachments within limits, and the parts of a bounce."""

from __future__ import annotations

import fnmatch
import hashlib
import mimetypes
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from converge.providers.email.headers import MalformedEmail, decode_raw, decode_words
from converge.providers.email.text import unflow_text

__all__ = ["DEFAULT_ALLOWED_TYPES", "EmailAttachment", "RejectedAttachment"]

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


# --- body and attachments ----------------------------------------------------------------------


def decode_payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _part_text(part: Message) -> str:
    data = decode_payload(part)
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
    name = decode_words(decode_raw(str(raw)))
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
            return decode_raw(str(value))
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
class MimeWalk:
    plain: list[str]
    html: list[str]
    attachments: list[EmailAttachment]
    rejected: list[RejectedAttachment]
    reports: list[Message]  # message/delivery-status parts
    originals: list[Message]  # headers of the returned mail in a bounce


def walk_mime(
    msg: Message,
    *,
    max_attachment_bytes: int,
    allowed_types: frozenset[str],
) -> MimeWalk:
    walk = MimeWalk([], [], [], [], [], [])
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
                    decode_payload(part) or str(part.get_payload()).encode("utf-8", "replace")
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
        _add_attachment(part, decode_payload(part), None)

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
                    content_id=decode_raw(content_id)[:200],
                    inline=disposition == "inline" or (bool(content_id) and disposition == ""),
                )
            )
            return
        walk.rejected.append(RejectedAttachment(filename, content_type, len(data), reason))

    visit(msg, 0)
    return walk
