"""Parse raw RFC 5322 mail into a `ParsedEmail`, and that into the neutral `InboundMessage`.

Everything that can go wrong with untrusted bytes ends in `MalformedEmail` with a reason staff
can read; no other exception escapes `parse_email`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.policy import compat32
from typing import Any

from converge.providers.email.classify import BounceInfo, detect_auto_reply, detect_bounce
from converge.providers.email.headers import (
    HeaderReader,
    MalformedEmail,
    date_from,
    is_valid_address,
    message_id_from,
)
from converge.providers.email.mime import (
    DEFAULT_ALLOWED_TYPES,
    EmailAttachment,
    RejectedAttachment,
    walk_mime,
)
from converge.providers.email.text import (
    html_to_text,
    normalize_subject,
    normalize_text,
    strip_quoted_text,
)
from converge.providers.types import InboundAttachment, InboundMessage

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

DEFAULT_MAX_MESSAGE_BYTES = 50_000_000


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
    headers = HeaderReader(msg)
    if len(headers.all("from")) > 1:
        raise MalformedEmail("The email has more than one From header.")
    if headers.raw("from") is None:
        raise MalformedEmail("The email has no From header.")
    senders = headers.addresses("from")
    if not senders:
        raise MalformedEmail("The email's From header has no valid address.")
    from_name, from_address = senders[0]

    subject = headers.text("subject")
    message_id = message_id_from(headers)
    in_reply = headers.message_ids("in-reply-to")
    references = tuple(dict.fromkeys(headers.message_ids("references")))[:100]

    walk = walk_mime(msg, max_attachment_bytes=max_attachment_bytes, allowed_types=allowed_types)
    plain = "\n\n".join(text for text in walk.plain if text.strip())
    html = "\n".join(walk.html)
    if plain.strip():
        text = normalize_text(plain)
        display = strip_quoted_text(text)
    else:
        text = html_to_text(html) if html.strip() else ""
        display = strip_quoted_text(html_to_text(html, drop_quotes=True)) if text else ""
        display = display or strip_quoted_text(text)
    bounce = detect_bounce(msg, headers, walk)
    reason = detect_auto_reply(headers, subject, from_address)
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
        date=date_from(headers),
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
