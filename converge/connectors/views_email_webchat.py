"""Settings pages for mailbox (IMAP/SMTP) and website chat channels: managers and admins only."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from converge.audit.services import audit_record
from converge.connectors.email_channels import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_POLL_SECONDS,
    EmailSetup,
    EmailSetupError,
    email_channel_check,
    email_channel_create,
    email_config,
)
from converge.connectors.models import Channel, MailboxCursor, Provider, QuarantinedMail
from converge.connectors.webchat import allowed_origins, webchat_channel_create, widget_script_tag
from converge.core import storage
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices.models import Role
from converge.providers.types import ChannelKind
from converge.providers.webchat.protocol import WebchatError

SETTINGS_ROLES = (Role.MANAGER, Role.ADMIN)


def manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @staff_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if staff_of(request).role not in SETTINGS_ROLES:
            return render(request, "connectors/email_webchat_forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _channel(request: HttpRequest, channel_id: int, provider: str) -> Channel:
    channel = Channel.objects.filter(
        practice_id=staff_of(request).practice_id, pk=channel_id, provider=provider
    ).first()
    if channel is None:
        raise Http404("no such channel")
    return channel


def _int(value: str | None, default: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


# --- email ---------------------------------------------------------------------------------------


def _email_setup(post: Any) -> EmailSetup:
    tls = post.get("tls", "") or None
    return EmailSetup(
        address=post.get("address", ""),
        imap_host=post.get("imap_host", ""),
        imap_port=_int(post.get("imap_port"), 993),
        imap_user=post.get("imap_user", ""),
        imap_password=post.get("imap_password", ""),
        imap_folder=post.get("imap_folder", "") or "INBOX",
        smtp_host=post.get("smtp_host", ""),
        smtp_port=_int(post.get("smtp_port"), 587),
        smtp_user=post.get("smtp_user", ""),
        smtp_password=post.get("smtp_password", ""),
        tls=tls,
        poll_seconds=_int(post.get("poll_seconds"), DEFAULT_POLL_SECONDS),
        skip_existing=post.get("skip_existing") == "on",
    )


@manager_required
@require_http_methods(["GET", "POST"])
def email_new(request: HttpRequest) -> HttpResponse:
    error = ""
    form: dict[str, Any] = {"imap_port": 993, "smtp_port": 587, "imap_folder": "INBOX", "poll_seconds": 60}
    if request.method == "POST":
        form = {k: v for k, v in request.POST.items() if "password" not in k}
        try:
            channel = email_channel_create(
                practice=staff_of(request).practice, setup=_email_setup(request.POST), actor=staff_of(request)
            )
        except EmailSetupError as exc:
            error = str(exc)
        else:
            if request.POST.get("check") == "on":
                _flash_check(request, channel)
            flash.success(request, "Email channel saved. New mail is read within a minute.")
            return redirect(f"/settings/channels/email/{channel.pk}/")
    return render(
        request,
        "connectors/email_new.html",
        {"form": form, "error": error, "max_attachment_mb": DEFAULT_MAX_ATTACHMENT_BYTES // 1_000_000},
        status=400 if error else 200,
    )


def _flash_check(request: HttpRequest, channel: Channel) -> None:
    for server, ok, message in email_channel_check(channel):
        (flash.success if ok else flash.error)(request, f"{server}: {message}")


@manager_required
@require_http_methods(["GET"])
def email_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id, Provider.MAILBOX)
    return render(
        request,
        "connectors/email_detail.html",
        {
            "channel": channel,
            "config": email_config(channel),
            "cursor": MailboxCursor.objects.filter(channel=channel).first(),
            "quarantined": QuarantinedMail.objects.filter(channel=channel).order_by("-created_at")[:100],
        },
    )


@manager_required
@require_POST
def email_check(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id, Provider.MAILBOX)
    _flash_check(request, channel)
    return redirect(f"/settings/channels/email/{channel.pk}/")


@manager_required
@require_http_methods(["GET"])
def quarantine_raw(request: HttpRequest, quarantine_id: int) -> HttpResponse:
    mail = (
        QuarantinedMail.objects.filter(practice_id=staff_of(request).practice_id, pk=quarantine_id)
        .select_related("channel")
        .first()
    )
    if mail is None:
        raise Http404("no such mail")
    channel = mail.channel
    try:
        raw = storage.read_decrypted(mail.storage_path)
    except (OSError, ValueError):
        raise Http404("the file is missing") from None
    audit_record(practice_id=channel.practice_id, actor=staff_of(request), action="email.quarantine.read", obj=mail)
    # Served as a download with a fixed type, so a browser never renders the mail's content.
    response = HttpResponse(raw, content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="quarantined-{mail.pk}.eml"'
    return response


# --- website chat --------------------------------------------------------------------------------


@manager_required
@require_http_methods(["GET", "POST"])
def webchat_new(request: HttpRequest) -> HttpResponse:
    error = ""
    form: dict[str, Any] = {"name": "Website chat", "origins": ""}
    if request.method == "POST":
        form = {"name": request.POST.get("name", ""), "origins": request.POST.get("origins", "")}
        origins = [line.strip() for line in form["origins"].replace(",", "\n").splitlines() if line.strip()]
        try:
            channel = webchat_channel_create(
                practice=staff_of(request).practice, origins=origins, actor=staff_of(request), name=form["name"]
            )
        except WebchatError as exc:
            error = str(exc)
        else:
            flash.success(request, "Website chat created. Add the tag below to your website.")
            return redirect(f"/settings/channels/webchat/{channel.pk}/")
    return render(request, "connectors/webchat_new.html", {"form": form, "error": error}, status=400 if error else 200)


@manager_required
@require_http_methods(["GET"])
def webchat_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id, Provider.WIDGET)
    return render(
        request,
        "connectors/webchat_detail.html",
        {"channel": channel, "tag": widget_script_tag(channel), "origins": allowed_origins(channel)},
    )


@manager_required
@require_http_methods(["GET"])
def channels_index(request: HttpRequest) -> HttpResponse:
    channels = Channel.objects.filter(
        practice_id=staff_of(request).practice_id,
        provider__in=[Provider.MAILBOX, Provider.WIDGET],
        kind__in=[ChannelKind.EMAIL, ChannelKind.WEBCHAT],
    ).order_by("kind", "name")
    return render(request, "connectors/email_webchat_index.html", {"channels": channels})


urlpatterns = [
    path("settings/channels/email-webchat/", channels_index, name="email-webchat-channels"),
    path("settings/channels/email/new", email_new, name="email-channel-new"),
    path("settings/channels/email/<int:channel_id>/", email_detail, name="email-channel"),
    path("settings/channels/email/<int:channel_id>/check", email_check, name="email-channel-check"),
    path("settings/channels/email/quarantine/<int:quarantine_id>", quarantine_raw, name="email-quarantine-raw"),
    path("settings/channels/webchat/new", webchat_new, name="webchat-channel-new"),
    path("settings/channels/webchat/<int:channel_id>/", webchat_detail, name="webchat-channel"),
]
