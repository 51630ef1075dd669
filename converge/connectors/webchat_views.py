"""The widget's public HTTP side: the script, its two JSON endpoints, and the demo website.

The endpoints are called cross-origin from practices' websites. They answer only an Origin on
the channel's allow-list (browsers always send Origin on POST, including same-origin), and CORS
headers name that origin alone. No cookies are involved, so no CSRF token either.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from converge.connectors.models import Channel, Provider
from converge.connectors.webchat import chat_config_portal_prefix, origin_allowed, webchat_visitor_start, widget_channel
from converge.connectors.webchat_availability import practice_availability
from converge.core.principal import client_ip
from converge.providers.types import ChannelKind, MalformedPayload, json_document
from converge.providers.webchat.protocol import MAX_MESSAGE_CHARS, WebchatError

log = logging.getLogger(__name__)

WIDGET_JS = Path(__file__).parent / "static" / "converge" / "widget.js"
DEMO_PRACTICE_SLUG = "sunrise"


@lru_cache(maxsize=1)
def _widget_source(mtime: float) -> tuple[bytes, str]:
    data = WIDGET_JS.read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@require_GET
def widget_js(request: HttpRequest) -> HttpResponse:
    data, etag = _widget_source(WIDGET_JS.stat().st_mtime)
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(data, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    # Not fingerprinted (the tag on practices' sites never changes): cache for an hour, then revalidate.
    response["Cache-Control"] = "public, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"
    return response


def _guard(request: HttpRequest, key: str) -> tuple[Channel, str] | HttpResponse:
    channel = widget_channel(key)
    if channel is None:
        return JsonResponse({"detail": "unknown chat"}, status=404)
    origin = request.headers.get("Origin", "")
    if not origin_allowed(channel, origin):
        log.info("webchat request from a website not on the list channel=%s", channel.pk)
        return JsonResponse({"detail": "this website may not use this chat"}, status=403)
    return channel, origin


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > 8192:
        raise WebchatError("invalid", "The request is too large.")
    try:
        data = json_document(request.body or b"{}", "The request is not JSON.")
    except MalformedPayload as exc:
        raise WebchatError("invalid", str(exc)) from None
    if not isinstance(data, dict):
        raise WebchatError("invalid", "The request must be a JSON object.")
    return data


def chat_config(channel: Channel) -> dict[str, Any]:
    practice = channel.practice
    return {
        "practice": practice.name,
        "availability": practice_availability(practice).as_json(),
        "emergency": "This chat is not for emergencies. If you have a medical emergency, call 911.",
        "consent": f"I agree that {practice.name} may keep this conversation and reply to me here.",
        "max_length": MAX_MESSAGE_CHARS,
        "portal": chat_config_portal_prefix(),
    }


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def webchat_config(request: HttpRequest, key: str) -> HttpResponse:
    guarded = _guard(request, key)
    if isinstance(guarded, HttpResponse):
        return guarded
    channel, origin = guarded
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    return _cors(JsonResponse(chat_config(channel)), origin)


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def webchat_session(request: HttpRequest, key: str) -> HttpResponse:
    guarded = _guard(request, key)
    if isinstance(guarded, HttpResponse):
        return guarded
    channel, origin = guarded
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    try:
        started = webchat_visitor_start(channel=channel, form=_body(request), ip=client_ip(request))
    except WebchatError as exc:
        status = 429 if exc.code == "rate_limited" else 400
        return _cors(JsonResponse({"detail": str(exc), "field": exc.field, "code": exc.code}, status=status), origin)
    return _cors(JsonResponse({"token": started.token, "name": started.visitor.name}, status=201), origin)


@require_GET
def demo_site(request: HttpRequest) -> HttpResponse:
    """A sample practice website with the demo practice's chat widget on it (`converge demo`)."""
    channel = (
        Channel.objects.select_related("practice")
        .filter(
            practice__slug=DEMO_PRACTICE_SLUG,
            kind=ChannelKind.WEBCHAT,
            provider=Provider.WIDGET,
            enabled=True,
        )
        .order_by("pk")
        .first()
    )
    if channel is None:
        raise Http404("the demo practice has no website chat")
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    # The page's own address, as the browser will send it in Origin.
    origin = f"{request.scheme}://{request.get_host()}"
    return render(
        request,
        "connectors/webchat_demo_site.html",
        {"practice": channel.practice, "channel": channel, "base": base, "origin_ok": origin_allowed(channel, origin)},
    )


urlpatterns = [
    path("widget.js", widget_js, name="webchat-widget-js"),
    path("webchat/<str:key>/config", webchat_config, name="webchat-config"),
    path("webchat/<str:key>/session", webchat_session, name="webchat-session"),
    path("demo-site/", demo_site, name="webchat-demo-site"),
]
