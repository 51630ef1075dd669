"""Threading helpers: Message-IDs that name the conversation, and reply addresses with a token.

Our outbound Message-IDs look like `<conv-<uuid>.<message id>@<domain>>`; a reply that keeps
In-Reply-To or References threads by them. Clients that drop those headers still answer to the
Reply-To address `local+<token>@domain`, so the token finds the conversation too.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from email.utils import getaddresses

__all__ = [
    "conversation_from_message_ids",
    "make_message_id",
    "make_reply_address",
    "make_reply_token",
    "reply_token_from_addresses",
]

_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*$")
_OUR_ID = re.compile(
    r"<?conv-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(\d+)@([^<>\s]+?)>?"
    r"(?=$|[\s,<>])",
    re.IGNORECASE,
)
# Lower-case only: some mail systems change the case of addresses on the way.
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def make_message_id(conversation_uuid: str, message_id: int, domain: str) -> str:
    """`<conv-<uuid>.<message id>@<domain>>` for one outbound message."""
    conv = str(uuid.UUID(str(conversation_uuid)))
    if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id < 0:
        raise ValueError("message_id must be a non-negative integer")
    if not _DOMAIN.match(domain):
        raise ValueError("domain is not a valid host name")
    return f"<conv-{conv}.{message_id}@{domain.lower()}>"


def conversation_from_message_ids(ids: Iterable[str], *, domain: str | None = None) -> str | None:
    """The conversation uuid from the first of `ids` that is one of ours, else None.

    Each item may be a single id or a whole References header value. Pass In-Reply-To first,
    then References. With `domain`, ids from other domains are ignored.
    """
    for value in ids:
        if not value:
            continue
        for match in _OUR_ID.finditer(value):
            if domain is not None and match.group(3).lower() != domain.lower():
                continue
            return match.group(1).lower()
    return None


def make_reply_token(nbytes: int = 12) -> str:
    """A fresh random token fit for `make_reply_address`."""
    return secrets.token_hex(nbytes)


def _split(address: str) -> tuple[str, str]:
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in address.strip()):
        raise ValueError("not an email address")
    return local, domain


def make_reply_address(address: str, token: str) -> str:
    """`local+<token>@domain` from the channel's address."""
    if not _TOKEN.match(token):
        raise ValueError("token must be 1-64 characters of a-z, 0-9, '_' or '-', lower-case")
    local, domain = _split(address)
    return f"{local}+{token}@{domain}"


def reply_token_from_addresses(addresses: Iterable[str], channel_address: str) -> str | None:
    """The token from the first recipient address of the form `<channel local>+<token>@domain`.

    Items may be bare addresses or header values with display names. Matching ignores case; the
    token is returned lower-case.
    """
    local, domain = _split(channel_address.lower())
    prefix = local + "+"
    for _name, candidate in getaddresses([a for a in addresses if a]):
        candidate = candidate.strip().lower()
        cand_local, at, cand_domain = candidate.rpartition("@")
        if not at or cand_domain != domain or not cand_local.startswith(prefix):
            continue
        token = cand_local[len(prefix) :]
        if _TOKEN.match(token):
            return token
    return None
