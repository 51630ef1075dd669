"""Email connector: the protocol layer (parsing, threading, composing, SMTP, IMAP).

Pure Python, no Django and no database: the inbound pipeline and the outbox worker call these.
The implementation lives in `parse`, `text`, `threads`, `compose`, `smtp` and `imap`; import from
here.
"""

from __future__ import annotations

from converge.providers.email.common import ConnectionCheck, TlsMode
from converge.providers.email.compose import (
    OutgoingAttachment,
    compose_email,
    html_alternative,
    message_id_for,
)
from converge.providers.email.imap import FetchedMail, ImapMailbox, MailboxError, MailboxState
from converge.providers.email.parse import (
    DEFAULT_ALLOWED_TYPES,
    BounceInfo,
    EmailAttachment,
    MalformedEmail,
    ParsedEmail,
    RejectedAttachment,
    is_valid_address,
    parse_email,
    to_inbound_message,
)
from converge.providers.email.smtp import SmtpSender, classify_smtp_error
from converge.providers.email.text import (
    html_to_text,
    normalize_subject,
    normalize_text,
    strip_quoted_text,
)
from converge.providers.email.threads import (
    conversation_from_message_ids,
    make_message_id,
    make_reply_address,
    make_reply_token,
    reply_token_from_addresses,
)

__all__ = [
    "DEFAULT_ALLOWED_TYPES",
    "BounceInfo",
    "ConnectionCheck",
    "EmailAttachment",
    "FetchedMail",
    "ImapMailbox",
    "MailboxError",
    "MailboxState",
    "MalformedEmail",
    "OutgoingAttachment",
    "ParsedEmail",
    "RejectedAttachment",
    "SmtpSender",
    "TlsMode",
    "classify_smtp_error",
    "compose_email",
    "conversation_from_message_ids",
    "html_alternative",
    "html_to_text",
    "is_valid_address",
    "make_message_id",
    "make_reply_address",
    "make_reply_token",
    "message_id_for",
    "normalize_subject",
    "normalize_text",
    "parse_email",
    "reply_token_from_addresses",
    "strip_quoted_text",
    "to_inbound_message",
]
