"""Build the outbound `EmailMessage` for an `OutboundMessage`.

Metadata keys read (all optional):
  subject            str
  message_id         str, "<...>"; else built from conversation_uuid + message_pk, else derived
                     from the idempotency key (stable across retries)
  conversation_uuid  str, message_pk int
  in_reply_to        str; references list[str] | str
  reply_token        str, gives Reply-To `local+<token>@domain`; or reply_to: an address
  automatic          bool, marks reminders and auto-replies with Auto-Submitted
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from converge.providers.email.parse import is_valid_address
from converge.providers.email.text import normalize_text
from converge.providers.email.threads import make_message_id, make_reply_address
from converge.providers.types import OutboundMessage

__all__ = ["OutgoingAttachment", "compose_email", "html_alternative", "message_id_for"]

# Headers are not folded (RFC 5322 allows 998 characters a line): CPython's folder splits a long
# non-ASCII Subject into encoded words at the fold and drops the space between two of them
# ("… 𐀀𐀀𐀀𐀀 ¡" came back as "… 𐀀𐀀𐀀𐀀¡").
_POLICY = SMTP.clone(max_line_length=998)
_MSGID = re.compile(r"^<[^<>\s@]{1,200}@[^<>\s@]{1,255}>$")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    content: bytes


def _header_text(value: Any, *, limit: int = 900) -> str:
    return _HEADER_UNSAFE.sub(" ", str(value or "")).strip()[:limit]


def _msgid(value: Any) -> str | None:
    text = str(value or "").strip()
    if text and not text.startswith("<"):
        text = f"<{text}>"
    return text if _MSGID.match(text) else None


def message_id_for(message: OutboundMessage, domain: str) -> str:
    """The Message-ID `compose_email` gives `message`; the same on every retry."""
    metadata = message.metadata
    explicit = _msgid(metadata.get("message_id"))
    if explicit:
        return explicit
    conversation, pk = metadata.get("conversation_uuid"), metadata.get("message_pk")
    if conversation and isinstance(pk, int):
        return make_message_id(str(conversation), pk, domain)
    digest = hashlib.sha256(message.idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def html_alternative(text: str) -> str:
    """A minimal HTML rendering of plain text; the text is escaped, so nothing in it is markup."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "\n".join("<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.4">\n'
        f"{body}\n</body></html>\n"
    )


def _address(address: str, name: str = "") -> Address:
    address = address.strip()
    if not is_valid_address(address.lower()):
        raise ValueError("not a valid email address")
    local, _, domain = address.rpartition("@")
    return Address(display_name=_header_text(name, limit=200), username=local, domain=domain)


def compose_email(
    message: OutboundMessage,
    *,
    from_address: str,
    from_name: str,
    domain: str,
    attachments: Sequence[OutgoingAttachment] = (),
    now: datetime | None = None,
) -> EmailMessage:
    """The mail for `message`: plain text plus an escaped HTML alternative, with threading
    headers. Raises ValueError for an invalid address, or media that was not passed in
    `attachments` (the caller downloads media; nothing is silently left out)."""
    if message.media and not attachments:
        raise ValueError("media must be downloaded and passed as attachments")
    metadata = message.metadata
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address(from_address, from_name)
    msg["To"] = _address(message.to_address)
    subject = _header_text(metadata.get("subject")) or (
        f"Message from {_header_text(from_name)}" if from_name.strip() else "Message"
    )
    msg["Subject"] = subject
    msg["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    msg["Message-ID"] = message_id_for(message, domain)

    in_reply_to = _msgid(metadata.get("in_reply_to"))
    raw_refs = metadata.get("references") or []
    if isinstance(raw_refs, str):
        raw_refs = re.findall(r"<[^<>\s]+>", raw_refs)
    references = [ref for ref in (_msgid(r) for r in raw_refs) if ref]
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        # Long threads: keep the first and the most recent ids (RFC 5322 3.6.4 allows trimming).
        kept = references if len(references) <= 20 else [references[0], *references[-19:]]
        msg["References"] = " ".join(kept)

    token = metadata.get("reply_token")
    if token:
        msg["Reply-To"] = make_reply_address(from_address, str(token))
    elif metadata.get("reply_to"):
        msg["Reply-To"] = _address(str(metadata["reply_to"]))
    if metadata.get("automatic"):
        msg["Auto-Submitted"] = "auto-generated"
        # Asks Exchange not to answer with out-of-office replies; bounces (NDR) still come.
        msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"

    text = normalize_text(message.body)
    msg.set_content(text + "\n", subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html_alternative(text), subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=_header_text(attachment.filename, limit=200) or "attachment",
        )
    return msg
