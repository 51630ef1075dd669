"""Twilio Programmable Messaging (SMS/MMS): webhook signatures and parsing, and the REST client.

Pure protocol code: no Django, no database. See /work/shared/PROTOCOLS.md.

SMS has no templates or buttons: whatever the message kind, its body (and media, for MMS) is
sent as written, so reminder texts must carry their own "reply 1 / 2 / 3" wording.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

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
    ProviderReceipt,
    RetryableSendError,
    SendError,
    SignatureError,
    StatusUpdate,
)

Params = Mapping[str, str | Sequence[str]]

MAX_BODY = 1600
MAX_MEDIA = 10

OPT_OUT_CODE = "21610"
ERROR_REASONS: dict[str, str] = {
    "20003": "Twilio rejected the credentials; check the Account SID and auth token",
    "20404": "Twilio could not find the resource; check the Account SID",
    "20429": "Too many requests to Twilio; try again later",
    "21211": "The recipient's phone number is not valid",
    "21212": "The sending phone number is not valid",
    "21408": "Sending to this country or region is not enabled on the Twilio account",
    "21602": "The message has no body",
    "21606": "The sending number cannot send SMS to this recipient",
    "21608": "A Twilio trial account can only send to verified numbers",
    OPT_OUT_CODE: ("The recipient opted out by replying STOP; they must reply START to get texts again"),
    "21611": "Too many messages are queued for the sending number; try again later",
    "21612": "Twilio cannot route a message from this sending number to the recipient",
    "21614": "The recipient's number is not a mobile number that can receive SMS",
    "21617": "The message is longer than 1,600 characters",
    "21620": "A media URL is not valid",
    "21660": "The sending number does not belong to this Twilio account",
    "21703": "The Messaging Service has no phone numbers to send from",
    "30001": "Twilio's queue overflowed; try again later",
    "30002": "The Twilio account is suspended",
    "30003": "The recipient's phone is unreachable (switched off or out of coverage)",
    "30004": "The message was blocked (the recipient may have blocked the number)",
    "30005": "The recipient's number is unknown or no longer exists",
    "30006": "The number is a landline, or its carrier cannot receive SMS",
    "30007": "The carrier filtered the message as spam",
    "30008": "The carrier reported an unknown error",
    "30034": "The sending number is not registered for US A2P 10DLC messaging",
}
RETRYABLE_CODES = frozenset({"20429", "21611", "30001"})

_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    # Some segments arrived, not all: not yet proof of delivery.
    "partially_delivered": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
    "receiving": DeliveryStatus.RECEIVED,
    "received": DeliveryStatus.RECEIVED,
}

_KEYWORDS: dict[str, Literal["stop", "start", "help"]] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "stop"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}
_TRAILING = ".!?,;:… \t\r\n"

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
_GSM7 = frozenset(GSM7_BASIC + GSM7_EXTENSION)

_SID_PATTERN = re.compile(r"[A-Za-z0-9]+")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
_MAX_REDIRECTS = 3
_TWILIO_API = ("https", "api.twilio.com", 443)
# Media secured with basic auth redirects to mms.twiliocdn.com; older public media to
# Twilio's bucket on S3, addressed by path.
_CDN_SUFFIX = ".twiliocdn.com"
_LEGACY_MEDIA = ("s3-external-1.amazonaws.com", "/media.twiliocdn.com/")


# --- signatures ------------------------------------------------------------------------------


def compute_signature(url: str, params: Params, auth_token: str) -> str:
    """X-Twilio-Signature: Base64 HMAC-SHA1 of the URL and the sorted name+value pairs."""
    data = url
    for name in sorted(params):
        for value in sorted(_values(params, name)):
            data += name + value
    key = auth_token.encode("utf-8", "surrogatepass")
    digest = hmac.new(key, data.encode("utf-8", "surrogatepass"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def candidate_urls(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port (as Twilio's own
    validator does: Twilio may sign either form, whatever a proxy in between did)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, port = _split_port(hostport)
    candidates = [url, urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}"))]
    default = {"https": "443", "http": "80"}.get(parts.scheme.lower())
    if default and port is None:
        candidates.append(urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{default}")))
    return list(dict.fromkeys(candidates))


def validate_signature(
    url: str,
    params: Params,
    signature: str | None,
    auth_token: str,
    *,
    raw_body: bytes | None = None,
) -> None:
    """Raise SignatureError unless `signature` signs this request.

    `url` is the public URL Twilio requested (configured base URL + path + query), never one
    rebuilt from the Host header. A URL carrying `bodySHA256` is a JSON-body webhook: the raw
    body must hash to it, and the signature covers the URL alone.
    """
    if not auth_token:
        raise SignatureError("no Twilio auth token configured")
    if not signature:
        raise SignatureError("missing X-Twilio-Signature header")
    body_hashes = parse_qs(urlsplit(url).query).get("bodySHA256")
    if body_hashes:
        if raw_body is None:
            raise SignatureError("bodySHA256 in the URL but no body to check")
        expected = hashlib.sha256(raw_body).hexdigest().encode()
        if not hmac.compare_digest(expected, body_hashes[0].lower().encode("utf-8", "replace")):
            raise SignatureError("the body does not match bodySHA256")
        params = {}
    given = signature.encode("utf-8", "replace")
    for candidate in candidate_urls(url):
        computed = compute_signature(candidate, params, auth_token).encode()
        if hmac.compare_digest(computed, given):
            return
    raise SignatureError("X-Twilio-Signature does not match")


def _split_port(hostport: str) -> tuple[str, str | None]:
    host, colon, port = hostport.rpartition(":")
    if colon and port.isdigit() and not host.endswith(":"):
        return host, port
    return hostport, None


def _values(params: Params, name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)  # Django's QueryDict hides repeated values
    values: Any = getlist(name) if callable(getlist) else params[name]
    return list(values) if isinstance(values, list | tuple) else [values]


# --- webhook parsing -------------------------------------------------------------------------


def parse_inbound(params: Params) -> InboundMessage:
    """An inbound SMS/MMS webhook as a neutral message; MalformedPayload if fields are missing."""
    message_id = _param(params, "MessageSid") or _param(params, "SmsSid")
    sender = _param(params, "From")
    if not message_id or not sender:
        raise MalformedPayload("Twilio inbound message needs MessageSid and From")
    body = _param(params, "Body")
    attachments = tuple(_attachments(params))
    metadata: dict[str, Any] = {}
    for name, key in (
        ("MessagingServiceSid", "messaging_service_sid"),
        ("AccountSid", "account_sid"),
        ("To", "to"),
        ("NumSegments", "num_segments"),
        ("OptOutType", "opt_out_type"),  # set when Twilio's Advanced Opt-Out handled a keyword
    ):
        if value := _param(params, name):
            metadata[key] = value
    if keyword := classify_keyword(body):
        metadata["keyword"] = keyword
    return InboundMessage(
        provider_message_id=message_id,
        sender_address=sender,
        body=body,
        kind=_kind(attachments),
        attachments=attachments,
        metadata=metadata,
    )


def parse_status(params: Params) -> StatusUpdate:
    """A status callback as a neutral update; MalformedPayload if fields are missing/unknown."""
    message_id = _param(params, "MessageSid") or _param(params, "SmsSid")
    raw_status = _param(params, "MessageStatus") or _param(params, "SmsStatus")
    if not message_id or not raw_status:
        raise MalformedPayload("Twilio status callback needs MessageSid and MessageStatus")
    status = _STATUSES.get(raw_status.lower())
    if status is None:
        raise MalformedPayload("Twilio status callback has an unknown MessageStatus")
    code = _param(params, "ErrorCode")
    code = "" if code == "0" else code
    reason = readable_reason(code, _param(params, "ErrorMessage")) if code else ""
    if status == DeliveryStatus.FAILED and not reason:
        reason = "Twilio reported the message as not delivered"
    return StatusUpdate(
        provider_message_id=message_id,
        status=status,
        error_code=code,
        error_reason=reason,
        recipient_opted_out=code == OPT_OUT_CODE,
    )


def _attachments(params: Params) -> Iterator[InboundAttachment]:
    raw_count = _param(params, "NumMedia") or "0"
    if not (raw_count.isascii() and raw_count.isdigit()) or int(raw_count) > MAX_MEDIA:  # "²" is a digit
        raise MalformedPayload(f"NumMedia must be a number from 0 to {MAX_MEDIA}")
    for i in range(int(raw_count)):
        url = _param(params, f"MediaUrl{i}")
        if not url:
            raise MalformedPayload(f"MediaUrl{i} is missing")
        content_type = _param(params, f"MediaContentType{i}") or "application/octet-stream"
        yield InboundAttachment(content_type=content_type, url=url)


def _kind(attachments: tuple[InboundAttachment, ...]) -> str:
    if not attachments:
        return "text"
    major = attachments[0].content_type.split("/", 1)[0].lower()
    return major if major in ("image", "audio", "video") else "document"


def _param(params: Params, name: str) -> str:
    if name not in params:
        return ""
    values = _values(params, name)
    if not all(isinstance(v, str) for v in values):
        raise MalformedPayload(f"{name} must be text")
    return values[0] if values else ""


def readable_reason(code: str, provider_text: str = "") -> str:
    """A staff-readable reason for a Twilio error code, without phone numbers."""
    if code in ERROR_REASONS:
        return ERROR_REASONS[code]
    text = _DIGIT_RUN.sub("[number]", provider_text).strip()[:300]
    if text:
        return f"Twilio error {code}: {text}" if code else text
    return f"Twilio error {code}" if code else "Twilio reported an unknown error"


# --- keywords and segments -------------------------------------------------------------------


def classify_keyword(body: str) -> Literal["stop", "start", "help"] | None:
    """The carrier keyword a whole-message, single-word body is, if any ("Stop." counts)."""
    word = unicodedata.normalize("NFKC", body).strip().rstrip(_TRAILING).upper()
    return _KEYWORDS.get(word)


def sms_segments(text: str) -> int:
    """How many SMS segments `text` costs: GSM-7 160/153 units (extension characters take two),
    otherwise UCS-2 70/67 units (characters beyond the BMP take two). A two-unit character is
    never split across segments."""
    if _GSM7.issuperset(text):
        units = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, multi = 160, 153
    else:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi = 70, 67
    if sum(units) <= single:
        return 1
    segments, fill = 1, 0
    for size in units:
        if fill + size > multi:
            segments, fill = segments + 1, 0
        fill += size
    return segments


# --- sending -------------------------------------------------------------------------------


def message_form(
    message: OutboundMessage,
    *,
    from_number: str | None,
    messaging_service_sid: str | None,
    status_callback: str | None,
) -> dict[str, str | list[str]]:
    """The form fields of a Messages.json POST; ValueError if Twilio would refuse them."""
    if not message.to_address:
        raise ValueError("an SMS needs a recipient")
    if not message.body and not message.media:
        raise ValueError("an SMS needs a body or media")
    if len(message.body) > MAX_BODY:
        raise ValueError(f"an SMS body has at most {MAX_BODY} characters")
    if len(message.media) > MAX_MEDIA:
        raise ValueError(f"an MMS carries at most {MAX_MEDIA} media items")
    form: dict[str, str | list[str]] = {"To": message.to_address}
    if messaging_service_sid:
        form["MessagingServiceSid"] = messaging_service_sid
    elif from_number:
        form["From"] = from_number
    else:
        raise ValueError("an SMS needs a From number or a Messaging Service")
    if message.body:
        form["Body"] = message.body
    if message.media:
        form["MediaUrl"] = [item.url for item in message.media]
    if status_callback:
        form["StatusCallback"] = status_callback
    return form


class TwilioClient:
    """Twilio REST calls for one account."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str = "https://api.twilio.com",
        http: httpx.Client | None = None,
        timeout: float = 10,
    ) -> None:
        if not _SID_PATTERN.fullmatch(account_sid):
            raise ValueError("account_sid must be a Twilio Account SID")
        if not from_number and not messaging_service_sid:
            raise ValueError("a TwilioClient needs from_number or messaging_service_sid")
        self._sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._from = from_number
        self._service = messaging_service_sid
        self._base = api_base_url.rstrip("/")
        self._api_origin = provider_http.origin(httpx.URL(self._base))
        self._http = http if http is not None else httpx.Client()
        self._owns_http = http is None
        self._timeout = timeout

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def send(self, message: OutboundMessage, *, status_callback: str | None = None) -> ProviderReceipt:
        form = message_form(
            message,
            from_number=self._from,
            messaging_service_sid=self._service,
            status_callback=status_callback,
        )
        path = f"/2010-04-01/Accounts/{self._sid}/Messages.json"
        data = json_object(self._request("POST", path, data=form), "Twilio")
        sid = data.get("sid")
        if not isinstance(sid, str) or not sid:
            # Not retried: Twilio may have accepted the message, and a retry could send it twice.
            raise PermanentSendError("Twilio accepted the request but returned no message SID")
        if data.get("status") in ("failed", "undelivered"):
            code = str(data.get("error_code") or "")
            message_text = data.get("error_message")
            reason = readable_reason(code, message_text if isinstance(message_text, str) else "")
            raise PermanentSendError(reason, code=code, recipient_opted_out=code == OPT_OUT_CODE)
        segments = data.get("num_segments")
        count = int(segments) if isinstance(segments, str) and segments.isdigit() else 0
        if count <= 0 and message.body:
            count = sms_segments(message.body)
        return ProviderReceipt(provider_message_id=sid, status=DeliveryStatus.SENT, segments=count or None)

    def check_credentials(self) -> str:
        """The account's friendly name; raises SendError when the credentials do not work."""
        data = json_object(self._request("GET", f"/2010-04-01/Accounts/{self._sid}.json"), "Twilio")
        name = data.get("friendly_name")
        if not isinstance(name, str):
            raise PermanentSendError("Twilio returned no account name")
        return name

    def fetch_media(self, url: str, *, max_bytes: int, allowed_types: Collection[str]) -> tuple[bytes, str]:
        """Download inbound MMS media: (content, base content type); SendError if refused."""
        target = self._media_url(url, first=True)
        for hop in range(_MAX_REDIRECTS + 1):
            # Credentials go to Twilio's API only; the URL it redirects to is pre-signed.
            auth = self._auth if hop == 0 else None
            with (
                _transport_errors(),
                self._http.stream("GET", target, auth=auth, timeout=self._timeout, follow_redirects=False) as response,
            ):
                if response.is_redirect and "Location" in response.headers:
                    target = self._media_url(str(target.join(response.headers["Location"])))
                    continue
                if not response.is_success:
                    response.read()
                    raise _api_error(response)
                content = read_limited(response, max_bytes)
                content_type = response.headers.get("Content-Type", "")
            if not type_allowed(content_type, allowed_types):
                raise PermanentSendError(_NOT_ALLOWED, code="media_type_not_allowed")
            return content, base_type(content_type)
        raise PermanentSendError("Too many redirects fetching Twilio media")

    def _media_url(self, url: str, *, first: bool = False) -> httpx.URL:
        # SSRF guard: the first URL must be Twilio's API; redirects may also go to its CDN.
        try:
            target = httpx.URL(url)
            origin = provider_http.origin(target)
        except (httpx.InvalidURL, ValueError) as exc:
            raise PermanentSendError(_HOST_REFUSED, code="media_host_not_allowed") from exc
        allowed = origin in (self._api_origin, _TWILIO_API)
        if not first and origin[0] == "https" and origin[2] == 443:
            allowed = allowed or origin[1].endswith(_CDN_SUFFIX)
            allowed = allowed or (origin[1] == _LEGACY_MEDIA[0] and target.path.startswith(_LEGACY_MEDIA[1]))
        if target.userinfo or not allowed:
            raise PermanentSendError(_HOST_REFUSED, code="media_host_not_allowed")
        return target

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with _transport_errors():
            response = self._http.request(
                method,
                self._base + path,
                auth=self._auth,
                timeout=self._timeout,
                follow_redirects=False,
                **kwargs,
            )
        if not response.is_success:
            raise _api_error(response)
        return response


_NOT_ALLOWED = "This type of media is not accepted"
_HOST_REFUSED = "Refused to fetch media from a host that is not Twilio's"


@contextmanager
def _transport_errors() -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        raise provider_http.transport_error(exc, "Twilio") from exc


def _api_error(response: httpx.Response) -> SendError:
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    raw_code = body.get("code")
    code = str(raw_code) if isinstance(raw_code, int | str) and raw_code != "" else ""
    text = body.get("message")
    status = response.status_code
    if code or isinstance(text, str):
        reason = readable_reason(code, text if isinstance(text, str) else "")
    else:
        reason = f"The Twilio API answered HTTP {status}"
    code = code or f"http_{status}"
    if code in RETRYABLE_CODES or status == 429 or status >= 500:
        return RetryableSendError(reason, code=code, retry_after=retry_after(response))
    return PermanentSendError(reason, code=code, recipient_opted_out=code == OPT_OUT_CODE)
