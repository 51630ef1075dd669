"""WhatsApp Cloud API (Meta): webhook verification and parsing, and the Graph API client.

Pure protocol code: no Django, no database. See /work/shared/PROTOCOLS.md.

Inbound message kinds (`InboundMessage.kind`):
text; image, audio, video, document, sticker (one attachment, caption as body); location;
button_reply and list_reply (interactive replies: body = title, metadata["reply_id"]);
button (quick reply on a template: body = text, metadata["payload"] and, for uniform handling
with interactive replies, metadata["reply_id"]); reaction (metadata["emoji"] and
metadata["message_id"]; an empty emoji removes a reaction); contacts; unsupported (any other
type, or a message whose content Meta left out, as it does when it cannot render it).
Every message carries metadata["phone_number_id"] so one webhook can serve several numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import httpx

from converge.providers import http as provider_http
from converge.providers.http import base_type, json_object, read_limited, retry_after, type_allowed
from converge.providers.types import (
    DeliveryStatus,
    InboundAttachment,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    ProviderEvent,
    ProviderReceipt,
    RetryableSendError,
    SendError,
    SignatureError,
    StatusUpdate,
    json_document,
)

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)

MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_TEXT_BODY = 4096
MAX_INTERACTIVE_BODY = 1024

ERROR_REASONS: dict[str, str] = {
    "2": "The WhatsApp API is temporarily unavailable",
    "4": "Too many API calls from this app; try again later",
    "100": "WhatsApp rejected a parameter of the request (invalid parameter)",
    "190": "The WhatsApp access token has expired or is invalid; update the channel credentials",
    "368": "The WhatsApp number is temporarily blocked for policy violations",
    "80007": "The WhatsApp Business Account reached its rate limit; try again later",
    "130429": "Throughput limit reached for this WhatsApp number; try again later",
    "130472": "The recipient's number is part of a WhatsApp experiment and cannot be messaged",
    "131000": "WhatsApp could not send the message because of an internal error",
    "131005": "The access token lacks permission to send WhatsApp messages",
    "131008": "A required parameter is missing from the request",
    "131009": "A parameter value is not valid",
    "131016": "The WhatsApp service is temporarily overloaded; try again later",
    "131021": "The recipient cannot be the sending number itself",
    "131026": (
        "Message undeliverable: the recipient may not use WhatsApp, may not have accepted "
        "WhatsApp's latest terms, or uses an outdated app"
    ),
    "131031": "The WhatsApp Business Account is locked",
    "131042": "The WhatsApp Business Account has a payment problem",
    "131045": "The sending phone number is not registered with WhatsApp",
    "131047": (
        "More than 24 hours have passed since the patient last wrote; only an approved template message can be sent"
    ),
    "131048": "Too many messages from this number were flagged as spam; sending is limited",
    "131049": "WhatsApp chose not to deliver this message to keep user engagement healthy",
    "131050": "The recipient has stopped marketing messages from this business",
    "131051": "Unsupported message type",
    "131052": "The media the patient sent could not be downloaded",
    "131053": "The media could not be uploaded (unsupported type or too large)",
    "131056": "Too many messages to the same recipient in a short time; try again later",
    "132000": "The number of template parameters does not match the approved template",
    "132001": "The template does not exist in this language or is not approved",
    "132005": "The template text is too long once the parameters are filled in",
    "132007": "The template content violates a WhatsApp policy",
    "132012": "A template parameter has the wrong format",
    "132015": "The template is paused because of low quality",
    "132016": "The template is disabled because of low quality",
    "133010": "The sending phone number is not registered on the Cloud API",
}

# Generic codes whose provider detail says which parameter was wrong.
_DETAILED_CODES = frozenset({"100", "131008", "131009", "132000", "132012"})

# Codes worth retrying later, whatever the HTTP status.
RETRYABLE_CODES = frozenset({"2", "4", "80007", "130429", "131000", "131016", "131048", "131056"})

_META_MEDIA_HOSTS = frozenset({"lookaside.fbsbx.com"})
_META_MEDIA_SUFFIXES = (".fbcdn.net", ".whatsapp.net")
_MAX_REDIRECTS = 3
_ID_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+")
_CHALLENGE = re.compile(r"[A-Za-z0-9_.\-]{1,256}")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-]{5,}\d")


# --- webhook verification ------------------------------------------------------------------


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str:
    """Answer Meta's GET subscription check: the bare hub.challenge, or SignatureError (403)."""
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if (
        not verify_token
        or mode != "subscribe"
        or not isinstance(token, str)
        or not isinstance(challenge, str)
        # Meta sends a number; refusing anything else keeps the echo from carrying markup.
        or not _CHALLENGE.fullmatch(challenge)
    ):
        raise SignatureError("not a valid WhatsApp subscription request")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise SignatureError("WhatsApp verify token does not match")
    return challenge


_SIGNATURE_HEADER = re.compile(r"sha256=([0-9a-fA-F]{64})")


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> None:
    """Check `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`."""
    if not app_secret:
        raise SignatureError("no WhatsApp app secret configured")
    match = _SIGNATURE_HEADER.fullmatch((header or "").strip())
    if match is None:
        raise SignatureError("missing or malformed X-Hub-Signature-256 header")
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), match.group(1).lower().encode()):
        raise SignatureError("X-Hub-Signature-256 does not match the body")


def within_customer_service_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """May a free-form (non-template) message be sent? Only within 24 h of the last inbound."""
    if last_inbound_at is None:
        return False
    if last_inbound_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("within_customer_service_window needs timezone-aware datetimes")
    return now - last_inbound_at < CUSTOMER_SERVICE_WINDOW


# --- webhook parsing -------------------------------------------------------------------------


def parse_notification(raw_body: bytes) -> list[ProviderEvent]:
    """Every message and status in a webhook POST, in order; MalformedPayload if not parseable."""
    document = json_document(raw_body, "WhatsApp notification is not valid JSON")
    root = _obj(document, "body")
    if root.get("object") != "whatsapp_business_account":
        raise MalformedPayload('body.object must be "whatsapp_business_account"')
    events: list[ProviderEvent] = []
    for where, value in _message_changes(root):
        events.extend(_parse_value(value, where))
    return events


def _message_changes(root: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, entry in enumerate(_items(root.get("entry"), "body.entry", required=True)):
        entry_where = f"body.entry[{i}]"
        changes = _items(_obj(entry, entry_where).get("changes"), f"{entry_where}.changes")
        for j, change in enumerate(changes):
            where = f"{entry_where}.changes[{j}]"
            change = _obj(change, where)
            if change.get("field") != "messages":
                continue
            yield f"{where}.value", _obj(change.get("value"), f"{where}.value")


def _parse_value(value: dict[str, Any], where: str) -> list[ProviderEvent]:
    metadata = _opt_obj(value.get("metadata"), f"{where}.metadata")
    phone_number_id = _text(metadata, "phone_number_id", f"{where}.metadata")
    contacts = [
        _obj(c, f"{where}.contacts[{k}]") for k, c in enumerate(_items(value.get("contacts"), f"{where}.contacts"))
    ]
    events: list[ProviderEvent] = []
    for k, message in enumerate(_items(value.get("messages"), f"{where}.messages")):
        message_where = f"{where}.messages[{k}]"
        events.append(_parse_message(_obj(message, message_where), contacts, phone_number_id, message_where))
    for k, status in enumerate(_items(value.get("statuses"), f"{where}.statuses")):
        update = _parse_status(_obj(status, f"{where}.statuses[{k}]"), f"{where}.statuses[{k}]")
        if update is not None:
            events.append(update)
    return events


class _Content(NamedTuple):
    kind: str
    body: str
    metadata: dict[str, Any]
    attachments: tuple[InboundAttachment, ...] = ()


def _parse_message(
    msg: dict[str, Any], contacts: list[dict[str, Any]], phone_number_id: str, where: str
) -> InboundMessage:
    message_id = _text(msg, "id", where, required=True)
    msg_type = _text(msg, "type", where, required=True)
    phone = _text(msg, "from", where)
    user_id = _text(msg, "from_user_id", where) or _text(msg, "user_id", where)
    if not (phone or user_id):
        raise MalformedPayload(f"{where} has neither from nor from_user_id")
    contact = _matching_contact(contacts, phone, user_id)
    profile = _opt_obj(contact.get("profile"), f"{where} contact.profile")
    user_id = user_id or _text(contact, "user_id", f"{where} contact")

    parser = _CONTENT_PARSERS.get(msg_type)
    if parser is not None and msg.get(msg_type) is not None:
        content = parser(msg[msg_type], f"{where}.{msg_type}")
    else:
        content = _unsupported(msg, msg_type, where)

    metadata: dict[str, Any] = {"phone_number_id": phone_number_id, **content.metadata}
    if user_id:
        metadata["user_id"] = user_id
    if username := _text(profile, "username", f"{where} contact.profile"):
        metadata["username"] = username
    context = _opt_obj(msg.get("context"), f"{where}.context")
    if context.get("forwarded") is True or context.get("frequently_forwarded") is True:
        metadata["forwarded"] = True
    return InboundMessage(
        provider_message_id=message_id,
        sender_address=phone or user_id,
        body=content.body,
        sent_at=_timestamp(msg.get("timestamp"), f"{where}.timestamp"),
        sender_name=_text(profile, "name", f"{where} contact.profile"),
        kind=content.kind,
        attachments=content.attachments,
        reply_to_provider_id=_text(context, "id", f"{where}.context") or None,
        metadata=metadata,
    )


def _matching_contact(contacts: list[dict[str, Any]], phone: str, user_id: str) -> dict[str, Any]:
    for contact in contacts:
        if (phone and contact.get("wa_id") == phone) or (user_id and contact.get("user_id") == user_id):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _media(kind: str) -> Callable[[Any, str], _Content]:
    def parse(raw: Any, where: str) -> _Content:
        media = _obj(raw, where)
        attachment = InboundAttachment(
            content_type=_text(media, "mime_type", where) or "application/octet-stream",
            filename=_text(media, "filename", where),
            provider_media_id=_text(media, "id", where, required=True),
            sha256=_text(media, "sha256", where) or None,
        )
        flags = {flag: True for flag in ("voice", "animated") if media.get(flag) is True}
        return _Content(kind, _text(media, "caption", where), flags, (attachment,))

    return parse


def _text_content(raw: Any, where: str) -> _Content:
    return _Content("text", _text(_obj(raw, where), "body", where), {})


def _location(raw: Any, where: str) -> _Content:
    location = _obj(raw, where)
    lat = _number(location, "latitude", where)
    lon = _number(location, "longitude", where)
    meta: dict[str, Any] = {"latitude": lat, "longitude": lon}
    for key in ("name", "address", "url"):
        if value := _text(location, key, where):
            meta[key] = value
    label = ", ".join(meta[key] for key in ("name", "address") if key in meta)
    body = f"📍 {label} ({lat}, {lon})" if label else f"📍 ({lat}, {lon})"
    return _Content("location", body, meta)


def _interactive(raw: Any, where: str) -> _Content:
    interactive = _obj(raw, where)
    reply_type = _text(interactive, "type", where)
    if reply_type not in ("button_reply", "list_reply") or reply_type not in interactive:
        return _Content("unsupported", "", {"whatsapp_type": f"interactive/{reply_type}"})
    where = f"{where}.{reply_type}"
    reply = _obj(interactive[reply_type], where)
    meta = {"reply_id": _text(reply, "id", where, required=True)}
    if description := _text(reply, "description", where):
        meta["description"] = description
    return _Content(reply_type, _text(reply, "title", where), meta)


def _button(raw: Any, where: str) -> _Content:
    button = _obj(raw, where)
    payload = _text(button, "payload", where)
    return _Content("button", _text(button, "text", where), {"payload": payload, "reply_id": payload})


def _reaction(raw: Any, where: str) -> _Content:
    reaction = _obj(raw, where)
    emoji = _text(reaction, "emoji", where)
    message_id = _text(reaction, "message_id", where, required=True)
    return _Content("reaction", emoji, {"emoji": emoji, "message_id": message_id})


def _contacts(raw: Any, where: str) -> _Content:
    lines: list[str] = []
    shared: list[dict[str, Any]] = []
    for k, card in enumerate(_items(raw, where, required=True)):
        card_where = f"{where}[{k}]"
        card = _obj(card, card_where)
        name = _text(_opt_obj(card.get("name"), f"{card_where}.name"), "formatted_name", card_where)
        phones: list[str] = []
        for p, phone in enumerate(_items(card.get("phones"), f"{card_where}.phones")):
            phone_where = f"{card_where}.phones[{p}]"
            phone = _obj(phone, phone_where)
            number = _text(phone, "phone", phone_where)
            label = _text(phone, "type", phone_where)
            if number:
                phones.append(f"{number} ({label})" if label else number)
        lines.append("Shared contact: " + " — ".join(filter(None, [name, ", ".join(phones)])))
        shared.append({"name": name, "phones": phones})
    return _Content("contacts", "\n".join(lines), {"contacts": shared})


def _unsupported(msg: dict[str, Any], msg_type: str, where: str) -> _Content:
    meta: dict[str, Any] = {"whatsapp_type": msg_type}
    code, reason = _first_error(msg.get("errors"), f"{where}.errors")
    if code or reason:
        meta.update(error_code=code, error_reason=reason)
    return _Content("unsupported", "", meta)


_CONTENT_PARSERS: dict[str, Callable[[Any, str], _Content]] = {
    "text": _text_content,
    **{kind: _media(kind) for kind in ("image", "audio", "video", "document", "sticker")},
    "location": _location,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "contacts": _contacts,
}


MAX_CALLBACK_DATA = 512  # biz_opaque_callback_data

_STATUS_MAP = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


def _parse_status(status: dict[str, Any], where: str) -> StatusUpdate | None:
    message_id = _text(status, "id", where, required=True)
    mapped = _STATUS_MAP.get(_text(status, "status", where, required=True))
    if mapped is None:
        return None  # newer status values (e.g. "deleted") say nothing about delivery
    code, reason = _first_error(status.get("errors"), f"{where}.errors")
    reference = status.get("biz_opaque_callback_data")
    return StatusUpdate(
        provider_message_id=message_id,
        status=mapped,
        at=_timestamp(status.get("timestamp"), f"{where}.timestamp"),
        error_code=code,
        error_reason=reason,
        reference=reference[:MAX_CALLBACK_DATA] if isinstance(reference, str) else "",
    )


def _first_error(errors: Any, where: str) -> tuple[str, str]:
    for k, error in enumerate(_items(errors, where)):
        error = _obj(error, f"{where}[{k}]")
        raw_code = error.get("code")
        code = str(raw_code) if isinstance(raw_code, int | str) else ""
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        fallback = next(
            (v for v in (details, error.get("message"), error.get("title")) if isinstance(v, str)),
            "",
        )
        return code, readable_reason(code, fallback)
    return "", ""


def readable_reason(code: str, provider_text: str = "") -> str:
    """A staff-readable reason for a WhatsApp error code, without phone numbers."""
    text = _DIGIT_RUN.sub("[number]", provider_text).strip()[:300]
    if code in ERROR_REASONS:
        detail = f" ({text})" if text and code in _DETAILED_CODES else ""
        return ERROR_REASONS[code] + detail
    if text:
        return f"WhatsApp error {code}: {text}" if code else text
    return f"WhatsApp error {code}" if code else "WhatsApp reported an unknown error"


# --- typed access to untrusted JSON ------------------------------------------------------------


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be a JSON object")
    return value


def _opt_obj(value: Any, where: str) -> dict[str, Any]:
    return {} if value is None else _obj(value, where)


def _items(value: Any, where: str, *, required: bool = False) -> list[Any]:
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{where} must be a JSON array")
    return value


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise MalformedPayload(f"{where}.{key} is missing")
        return ""
    if not isinstance(value, str):
        raise MalformedPayload(f"{where}.{key} must be a string")
    return value


def _number(obj: dict[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedPayload(f"{where}.{key} must be a number")
    try:
        number = float(value)
    except ValueError as exc:
        raise MalformedPayload(f"{where}.{key} must be a number") from exc
    if not math.isfinite(number):
        raise MalformedPayload(f"{where}.{key} must be a finite number")
    return number


def _timestamp(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedPayload(f"{where} must be a Unix timestamp")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedPayload(f"{where} must be a Unix timestamp") from exc


# --- sending -------------------------------------------------------------------------------


def message_payload(message: OutboundMessage) -> dict[str, Any]:
    """The Graph API JSON for `message`; ValueError if WhatsApp would refuse it."""
    base: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to_address,
    }
    if not message.to_address:
        raise ValueError("a WhatsApp message needs a recipient")
    if message.kind == "text":
        if not message.body or len(message.body) > MAX_TEXT_BODY:
            raise ValueError(f"a WhatsApp text needs 1 to {MAX_TEXT_BODY} characters")
        return {**base, "type": "text", "text": {"body": message.body}}
    if message.kind == "template":
        return {**base, "type": "template", "template": _template(message)}
    if message.kind == "interactive":
        return {**base, "type": "interactive", "interactive": _reply_buttons(message)}
    if message.kind == "media":
        media_type, media = _media_object(message)
        return {**base, "type": media_type, media_type: media}
    raise ValueError(f"WhatsApp cannot send a message of kind {message.kind!r}")


def _template(message: OutboundMessage) -> dict[str, Any]:
    if not message.template_name or not message.template_language:
        raise ValueError("a WhatsApp template needs a name and a language code")
    template: dict[str, Any] = {
        "name": message.template_name,
        "language": {"code": message.template_language},
    }
    if message.template_params:
        parameters = [{"type": "text", "text": p} for p in message.template_params]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return template


def _reply_buttons(message: OutboundMessage) -> dict[str, Any]:
    buttons = message.buttons
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"WhatsApp reply buttons: 1 to {MAX_BUTTONS} buttons")
    if not message.body or len(message.body) > MAX_INTERACTIVE_BODY:
        raise ValueError(f"WhatsApp reply buttons need a body of 1 to {MAX_INTERACTIVE_BODY}")
    for button in buttons:
        if not 1 <= len(button.title) <= MAX_BUTTON_TITLE:
            raise ValueError(f"WhatsApp button titles have 1 to {MAX_BUTTON_TITLE} characters")
        if not 1 <= len(button.id) <= MAX_BUTTON_ID:
            raise ValueError(f"WhatsApp button ids have 1 to {MAX_BUTTON_ID} characters")
    if len({b.id for b in buttons}) != len(buttons):
        raise ValueError("WhatsApp button ids must be unique")
    replies = [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons]
    return {"type": "button", "body": {"text": message.body}, "action": {"buttons": replies}}


def _media_object(message: OutboundMessage) -> tuple[str, dict[str, Any]]:
    if len(message.media) != 1:
        raise ValueError("a WhatsApp media message carries exactly one media item")
    item = message.media[0]
    major = item.content_type.split("/", 1)[0].lower()
    media_type = major if major in ("image", "audio", "video") else "document"
    media: dict[str, Any] = {"link": item.url}
    if message.body:
        if media_type == "audio":
            raise ValueError("WhatsApp audio messages cannot carry a caption")
        media["caption"] = message.body
    if media_type == "document" and item.filename:
        media["filename"] = item.filename
    return media_type, media


class WhatsAppClient:
    """Graph API calls for one WhatsApp phone number."""

    def __init__(
        self,
        phone_number_id: str,
        access_token: str,
        *,
        api_base_url: str = "https://graph.facebook.com",
        api_version: str = "v21.0",
        http: httpx.Client | None = None,
        timeout: float = 10,
    ) -> None:
        if not _ID_PATTERN.fullmatch(phone_number_id) or not _ID_PATTERN.fullmatch(api_version):
            raise ValueError("phone_number_id and api_version must be plain identifiers")
        self._phone_number_id = phone_number_id
        self._token = access_token
        self._base = api_base_url.rstrip("/")
        self._api_origin = provider_http.origin(httpx.URL(self._base))
        self._version = api_version
        self._http = http if http is not None else httpx.Client()
        self._owns_http = http is None
        self._timeout = timeout

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        payload = message_payload(message)
        if message.idempotency_key:
            # Echoed back in every status webhook of this message: names it when the answer to
            # this request is lost (a timeout after Meta accepted it).
            payload["biz_opaque_callback_data"] = message.idempotency_key[:MAX_CALLBACK_DATA]
        path = f"/{self._version}/{self._phone_number_id}/messages"
        data = json_object(self._request("POST", path, json=payload), "WhatsApp")
        messages = data.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str) or not message_id:
            # Not retried: Meta may have accepted the message, and a retry could send it twice.
            raise PermanentSendError("WhatsApp accepted the request but returned no message id")
        return ProviderReceipt(provider_message_id=message_id, status=DeliveryStatus.SENT)

    def check_credentials(self) -> str:
        """The display phone number of the configured number; raises SendError on failure."""
        path = f"/{self._version}/{self._phone_number_id}"
        params = {"fields": "display_phone_number,verified_name"}
        number = json_object(self._request("GET", path, params=params), "WhatsApp").get("display_phone_number")
        if not isinstance(number, str):
            raise PermanentSendError("WhatsApp returned no display phone number")
        return number

    def fetch_media(self, media_id: str, *, max_bytes: int, allowed_types: Collection[str]) -> tuple[bytes, str]:
        """Download inbound media: (content, base content type); SendError if refused/failing."""
        if not _ID_PATTERN.fullmatch(media_id):
            raise ValueError("not a WhatsApp media id")
        info = json_object(self._request("GET", f"/{self._version}/{media_id}"), "WhatsApp")
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise PermanentSendError("WhatsApp returned no media URL", code="media_unavailable")
        declared = info.get("mime_type")
        declared = declared if isinstance(declared, str) else ""
        size = info.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise PermanentSendError(provider_http.TOO_LARGE, code="media_too_large")
        if declared and not type_allowed(declared, allowed_types):
            raise PermanentSendError(_NOT_ALLOWED, code="media_type_not_allowed")
        content, served = self._download(url, max_bytes)
        if base_type(served) in ("", "application/octet-stream"):
            served = declared or served
        if not type_allowed(served, allowed_types):
            raise PermanentSendError(_NOT_ALLOWED, code="media_type_not_allowed")
        return content, base_type(served)

    def _download(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        for _ in range(_MAX_REDIRECTS + 1):
            target = self._media_url(url)
            with (
                _transport_errors(),
                self._http.stream(
                    "GET",
                    target,
                    headers=self._headers(),
                    timeout=self._timeout,
                    follow_redirects=False,
                ) as response,
            ):
                if response.is_redirect and "Location" in response.headers:
                    url = str(target.join(response.headers["Location"]))
                    continue
                if not response.is_success:
                    response.read()
                    raise _api_error(response)
                return read_limited(response, max_bytes), response.headers.get("Content-Type", "")
        raise PermanentSendError("Too many redirects fetching WhatsApp media")

    def _media_url(self, url: str) -> httpx.URL:
        # SSRF guard: the bearer token, and our position on the network, are only used on Meta.
        try:
            target = httpx.URL(url)
            origin = provider_http.origin(target)
        except (httpx.InvalidURL, ValueError) as exc:
            raise PermanentSendError(_HOST_REFUSED, code="media_host_not_allowed") from exc
        is_meta_cdn = (
            origin[0] == "https"
            and origin[2] == 443
            and (origin[1] in _META_MEDIA_HOSTS or origin[1].endswith(_META_MEDIA_SUFFIXES))
        )
        if target.userinfo or not (origin == self._api_origin or is_meta_cdn):
            raise PermanentSendError(_HOST_REFUSED, code="media_host_not_allowed")
        return target

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with _transport_errors():
            response = self._http.request(
                method,
                self._base + path,
                headers=self._headers(),
                timeout=self._timeout,
                follow_redirects=False,
                **kwargs,
            )
        if not response.is_success:
            raise _api_error(response)
        return response


_NOT_ALLOWED = "This type of media is not accepted"
_HOST_REFUSED = "Refused to fetch media from a host that is not WhatsApp's"


@contextmanager
def _transport_errors() -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        raise provider_http.transport_error(exc, "WhatsApp") from exc


def _api_error(response: httpx.Response) -> SendError:
    error = _error_object(response)
    raw_code = error.get("code")
    code = str(raw_code) if isinstance(raw_code, int | str) and raw_code != "" else ""
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    text = details if isinstance(details, str) else error.get("message")
    text = text if isinstance(text, str) else ""
    status = response.status_code
    reason = readable_reason(code, text) if code or text else f"The WhatsApp API answered HTTP {status}"
    code = code or f"http_{status}"
    if code in RETRYABLE_CODES or (code not in ERROR_REASONS and (status == 429 or status >= 500)):
        return RetryableSendError(reason, code=code, retry_after=retry_after(response))
    return PermanentSendError(reason, code=code)


def _error_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
