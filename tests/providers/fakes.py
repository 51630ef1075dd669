"""Local stand-ins for Meta's Graph API and Twilio's REST API, for contract and integration tests.

Each fake is a real HTTP server on 127.0.0.1 (stdlib `http.server` in a thread). It checks every
request against the documented shape (path, version, phone-number id / Account SID, auth,
content type, body fields). A request that breaks the contract gets a 400 *and* is recorded in
`problems`; the `fake_graph` / `fake_twilio` fixtures fail the test when `problems` is not empty,
so a client cannot pass by mapping the 400 to an error the test happened to expect.

Answers can be scripted per route (`reply_next`, `graph_error`, `twilio_error`): provider error
bodies, 429 with Retry-After, 500, redirects, a slow answer to provoke a timeout.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    route: str
    at: float = field(default_factory=time.monotonic)  # when the fake received it

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


@dataclass
class Reply:
    status: int = 200
    json_body: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (provokes client timeouts)
    send_content_length: bool = True
    drop: bool = False  # close the connection without answering (a reset after the request)


class ContractViolation(Exception):
    """The client sent a request the real provider would reject."""


class FakeProvider:
    """Shared machinery: the server thread, recording, scripting, contract failures."""

    name = "provider"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.problems: list[str] = []
        self._script: deque[tuple[str | None, Reply]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply_next(self, reply: Reply, *, route: str | None = None) -> None:
        """Answer the next request (on `route`, if given) with `reply` instead of the default."""
        with self._lock:
            self._script.append((route, reply))

    def assert_no_problems(self) -> None:
        assert not self.problems, f"requests broke the {self.name} contract: {self.problems}"

    def requests_on(self, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == route]

    # Subclasses: name the route, check the request (raise ContractViolation), default answer.
    def route(self, method: str, path: str) -> str | None:
        raise NotImplementedError

    def check(self, route: str, request: RecordedRequest) -> None:
        raise NotImplementedError

    def default_reply(self, route: str, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def contract_error(self, message: str) -> Reply:
        raise NotImplementedError

    def _dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        route = self.route(method, parts.path) or "unknown"
        request = RecordedRequest(method, parts.path, parse_qs(parts.query), headers, body, route=route)
        with self._lock:
            self.requests.append(request)
        try:
            if route == "unknown":
                raise ContractViolation(f"no such endpoint: {method} {parts.path}")
            self.check(route, request)
        except ContractViolation as exc:
            with self._lock:
                self.problems.append(str(exc))
            return self.contract_error(str(exc))
        with self._lock:
            for i, (scripted_route, reply) in enumerate(self._script):
                if scripted_route in (None, route):
                    del self._script[i]
                    return reply
        return self.default_reply(route, request)


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake._dispatch(self.command, self.path, headers, body)
            payload = reply.body
            if reply.json_body is not None:
                payload = json.dumps(reply.json_body).encode()
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            try:
                self.send_response(reply.status)
                content_type = "application/json" if reply.json_body is not None else None
                for name, value in {"Content-Type": content_type, **reply.headers}.items():
                    if value is not None:
                        self.send_header(name, value)
                if reply.send_content_length:
                    self.send_header("Content-Length", str(len(payload)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to answer

    return Handler


def _require(condition: object, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


def _is_text(value: object, max_length: int | None = None) -> bool:
    return isinstance(value, str) and bool(value) and (max_length is None or len(value) <= max_length)


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


# --- Meta Graph API ----------------------------------------------------------------------------


class FakeGraphAPI(FakeProvider):
    """Graph API for one WhatsApp phone number: send, media lookup/download, number lookup."""

    name = "Graph API"

    def __init__(
        self,
        *,
        phone_number_id: str = "106540352242922",
        access_token: str = "EAAtest-token",
        api_version: str = "v21.0",
        display_phone_number: str = "+1 555-078-3881",
    ) -> None:
        super().__init__()
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.api_version = api_version
        self.display_phone_number = display_phone_number
        self.media: dict[str, tuple[bytes, str, str]] = {}  # id -> (content, mime type, url)
        self._ids = itertools.count(1)

    def add_media(self, media_id: str, content: bytes, mime_type: str, *, url: str | None = None) -> str:
        """Register inbound media; its download URL defaults to this server."""
        url = url or f"{self.base_url}/whatsapp_business/attachments/?mid={media_id}"
        self.media[media_id] = (content, mime_type, url)
        return url

    def graph_error(
        self,
        code: int,
        *,
        http_status: int = 400,
        message: str = "",
        details: str = "",
        retry_after: str | None = None,
        route: str | None = "send",
    ) -> None:
        """Answer the next request with Graph's error body for `code`."""
        error: dict[str, Any] = {
            "message": message or f"(#{code}) error",
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEfGhIjK",
        }
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.reply_next(Reply(status=http_status, json_body={"error": error}, headers=headers), route=route)

    def route(self, method: str, path: str) -> str | None:
        version = re.escape(self.api_version)
        if method == "POST" and re.fullmatch(f"/{version}/{self.phone_number_id}/messages", path):
            return "send"
        if method == "GET" and path == f"/{self.api_version}/{self.phone_number_id}":
            return "phone_number"
        if method == "GET" and path == "/whatsapp_business/attachments/":
            return "media_download"
        if method == "GET" and re.fullmatch(f"/{version}/[0-9]+", path):
            return "media_info"
        return None

    def check(self, route: str, request: RecordedRequest) -> None:
        _require(
            request.headers.get("authorization") == f"Bearer {self.access_token}",
            f"{route}: Authorization must be 'Bearer <access token>'",
        )
        if route == "send":
            _require(
                request.headers.get("content-type", "").startswith("application/json"),
                "send: Content-Type must be application/json",
            )
            try:
                payload = request.json()
            except ValueError:
                raise ContractViolation("send: body is not JSON") from None
            check_graph_message(payload)

    def default_reply(self, route: str, request: RecordedRequest) -> Reply:
        if route == "send":
            to = request.json()["to"]
            message_id = f"wamid.FAKE{next(self._ids):08d}"
            body: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": message_id}],
            }
            return Reply(json_body=body)
        if route == "phone_number":
            body = {
                "verified_name": "Main Street Clinic",
                "display_phone_number": self.display_phone_number,
                "quality_rating": "GREEN",
                "id": self.phone_number_id,
            }
            return Reply(json_body=body)
        if route == "media_info":
            media_id = request.path.rsplit("/", 1)[1]
            if media_id not in self.media:
                return _graph_not_found(media_id)
            content, mime_type, url = self.media[media_id]
            body = {
                "messaging_product": "whatsapp",
                "url": url,
                "mime_type": mime_type,
                "sha256": "0" * 64,
                "file_size": len(content),
                "id": media_id,
            }
            return Reply(json_body=body)
        media_id = request.query.get("mid", [""])[0]
        if media_id not in self.media:
            return _graph_not_found(media_id)
        content, mime_type, _ = self.media[media_id]
        return Reply(body=content, headers={"Content-Type": mime_type})

    def contract_error(self, message: str) -> Reply:
        error = {"message": f"fake Graph API: {message}", "type": "OAuthException", "code": 100}
        return Reply(status=400, json_body={"error": error})


def _graph_not_found(media_id: str) -> Reply:
    error = {
        "message": f"Unsupported get request. Object with ID '{media_id}' does not exist",
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
    }
    return Reply(status=400, json_body={"error": error})


_GRAPH_TYPES = {"text", "template", "interactive", "image", "audio", "video", "document"}


def check_graph_message(payload: Any) -> None:
    """Raise ContractViolation unless `payload` is a message the Cloud API documents."""
    _require(isinstance(payload, dict), "send: body must be a JSON object")
    _require(payload.get("messaging_product") == "whatsapp", "messaging_product must be whatsapp")
    _require(
        payload.get("recipient_type", "individual") == "individual",
        "recipient_type must be individual",
    )
    _require(_is_text(payload.get("to")), "to must be the recipient's number")
    kind = payload.get("type")
    _require(kind in _GRAPH_TYPES, f"unknown message type {kind!r}")
    allowed_keys = {"messaging_product", "recipient_type", "to", "type", kind, "context", "biz_opaque_callback_data"}
    if "biz_opaque_callback_data" in payload:
        _require(_is_text(payload["biz_opaque_callback_data"], 512), "biz_opaque_callback_data: 1-512 characters")
    _require(set(payload) <= allowed_keys, f"unexpected fields {set(payload) - allowed_keys}")
    content = payload.get(kind)
    _require(isinstance(content, dict), f"{kind} must be an object")
    if kind == "text":
        _require(_is_text(content.get("body"), 4096), "text.body must be 1-4096 characters")
    elif kind == "template":
        _check_template(content)
    elif kind == "interactive":
        _check_reply_buttons(content)
    else:
        _require(_is_url(content.get("link")), f"{kind}.link must be an http(s) URL")
        allowed = {"link", "caption"} if kind != "audio" else {"link"}
        if kind == "document":
            allowed.add("filename")
        _require(set(content) <= allowed, f"{kind} may only carry {sorted(allowed)}")


def _check_template(template: dict[str, Any]) -> None:
    _require(_is_text(template.get("name")), "template.name is required")
    language = template.get("language")
    _require(
        isinstance(language, dict) and _is_text(language.get("code")),
        "template.language.code is required",
    )
    for component in template.get("components", []):
        _require(
            isinstance(component, dict) and component.get("type") == "body",
            "template components must be of type body",
        )
        for parameter in component.get("parameters", []):
            _require(
                isinstance(parameter, dict)
                and parameter.get("type") == "text"
                and isinstance(parameter.get("text"), str),
                "body parameters must be {type: text, text: ...}",
            )


def _check_reply_buttons(interactive: dict[str, Any]) -> None:
    _require(interactive.get("type") == "button", "interactive.type must be button")
    body = interactive.get("body")
    _require(
        isinstance(body, dict) and _is_text(body.get("text"), 1024),
        "interactive.body.text must be 1-1024 characters",
    )
    action = interactive.get("action")
    buttons = action.get("buttons") if isinstance(action, dict) else None
    _require(isinstance(buttons, list) and 1 <= len(buttons) <= 3, "1 to 3 reply buttons")
    assert isinstance(buttons, list)
    ids = []
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        _require(
            isinstance(reply, dict) and button.get("type") == "reply",
            "buttons must be {type: reply, reply: {...}}",
        )
        assert isinstance(reply, dict)
        _require(_is_text(reply.get("id"), 256), "button id must be 1-256 characters")
        _require(_is_text(reply.get("title"), 20), "button title must be 1-20 characters")
        ids.append(reply["id"])
    _require(len(set(ids)) == len(ids), "button ids must be unique")


# --- Twilio REST API ---------------------------------------------------------------------------


class FakeTwilioAPI(FakeProvider):
    """Twilio's 2010-04-01 API for one account: Messages.json, the account, media with redirect."""

    name = "Twilio API"

    def __init__(
        self,
        *,
        account_sid: str = "AC1f2e3d4c5b6a79880716253443526170",
        auth_token: str = "test-auth-token",
        friendly_name: str = "Main Street Clinic",
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.friendly_name = friendly_name
        self.media: dict[str, tuple[bytes, str]] = {}  # media sid -> (content, content type)
        self._ids = itertools.count(1)

    @property
    def account_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}"

    def add_media(self, content: bytes, content_type: str) -> str:
        """Register MMS media; returns its API URL (which redirects to the fake CDN path)."""
        media_sid = f"ME{next(self._ids):032x}"
        self.media[media_sid] = (content, content_type)
        message_sid = "MM" + "a" * 32
        return f"{self.base_url}{self.account_path}/Messages/{message_sid}/Media/{media_sid}"

    def twilio_error(
        self,
        code: int,
        *,
        http_status: int = 400,
        message: str = "",
        retry_after: str | None = None,
        route: str | None = "send",
    ) -> None:
        """Answer the next request with Twilio's error body for `code`."""
        body = {
            "code": code,
            "message": message or f"Error {code}",
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": http_status,
        }
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.reply_next(Reply(status=http_status, json_body=body, headers=headers), route=route)

    def route(self, method: str, path: str) -> str | None:
        if method == "POST" and path == f"{self.account_path}/Messages.json":
            return "send"
        if method == "GET" and path == f"{self.account_path}.json":
            return "account"
        if method == "GET" and re.fullmatch(f"{self.account_path}/Messages/MM\\w+/Media/ME\\w+", path):
            return "media"
        if method == "GET" and path.startswith("/cdn/"):
            return "cdn"
        return None

    def check(self, route: str, request: RecordedRequest) -> None:
        if route == "cdn":
            _require("authorization" not in request.headers, "cdn: credentials leaked to the CDN")
            return
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        _require(
            request.headers.get("authorization") == f"Basic {expected}",
            f"{route}: HTTP basic auth with Account SID and auth token required",
        )
        if route == "send":
            _require(
                request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"),
                "send: Content-Type must be application/x-www-form-urlencoded",
            )
            check_twilio_form(request.form())

    def default_reply(self, route: str, request: RecordedRequest) -> Reply:
        if route == "send":
            form = request.form()
            service = form.get("MessagingServiceSid", [None])[0]
            body: dict[str, Any] = {
                "sid": f"SM{next(self._ids):032x}",
                "account_sid": self.account_sid,
                "to": form["To"][0],
                "from": form.get("From", [None])[0],
                "messaging_service_sid": service,
                "body": form.get("Body", [""])[0],
                "status": "accepted" if service else "queued",
                "num_segments": str(_gsm_segments(form.get("Body", [""])[0])),
                "num_media": str(len(form.get("MediaUrl", []))),
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "error_code": None,
                "error_message": None,
            }
            return Reply(status=201, json_body=body)
        if route == "account":
            body = {
                "sid": self.account_sid,
                "friendly_name": self.friendly_name,
                "status": "active",
                "type": "Full",
            }
            return Reply(json_body=body)
        media_sid = request.path.rsplit("/", 1)[1]
        if media_sid not in self.media:
            return Reply(status=404, json_body={"code": 20404, "message": "Not found"})
        if route == "media":
            return Reply(status=307, headers={"Location": f"/cdn/{media_sid}"})
        content, content_type = self.media[media_sid]
        return Reply(body=content, headers={"Content-Type": content_type})

    def contract_error(self, message: str) -> Reply:
        body = {"code": 21000, "message": f"fake Twilio API: {message}", "status": 400}
        return Reply(status=400, json_body=body)


def _gsm_segments(body: str) -> int:
    """Twilio's count for a plain GSM-7 body: one segment up to 160 characters, else 153 each."""
    return 1 if len(body) <= 160 else -(-len(body) // 153)


_TWILIO_FIELDS = {"To", "From", "MessagingServiceSid", "Body", "MediaUrl", "StatusCallback"}


def check_twilio_form(form: dict[str, list[str]]) -> None:
    """Raise ContractViolation unless `form` is a Messages.json POST Twilio documents."""
    _require(set(form) <= _TWILIO_FIELDS, f"unexpected fields {set(form) - _TWILIO_FIELDS}")
    for name, values in form.items():
        _require(name == "MediaUrl" or len(values) == 1, f"{name} given more than once")
    _require(_is_text(form.get("To", [""])[0]), "To is required")
    _require(
        ("From" in form) != ("MessagingServiceSid" in form),
        "exactly one of From and MessagingServiceSid",
    )
    _require("Body" in form or "MediaUrl" in form, "Body or MediaUrl is required")
    _require(len(form.get("Body", [""])[0]) <= 1600, "Body has at most 1600 characters")
    _require(len(form.get("MediaUrl", [])) <= 10, "at most 10 MediaUrl")
    _require(all(_is_url(u) for u in form.get("MediaUrl", [])), "MediaUrl must be http(s) URLs")
    if "StatusCallback" in form:
        _require(_is_url(form["StatusCallback"][0]), "StatusCallback must be an http(s) URL")
