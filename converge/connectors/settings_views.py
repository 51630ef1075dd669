"""The channel settings pages (/settings/channels/): set up WhatsApp and Twilio SMS channels, see
the webhook URLs to paste into the provider's console, test the connection, rotate credentials,
and keep the WhatsApp template registry. Practice managers and administrators only. Thin: parse
the form, call a service, render. Secrets are never rendered back, only masked."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from converge.connectors import channel_setup
from converge.connectors.channel_setup import ChannelSetupError
from converge.connectors.models import Channel, Provider, TemplateCategory, TemplateStatus, WhatsAppTemplate
from converge.connectors.ratelimit import burst, max_per_second
from converge.connectors.whatsapp_templates import whatsapp_template_delete, whatsapp_template_save
from converge.practices.models import Role, StaffMember
from converge.providers.types import ChannelKind

SETTINGS_ROLES = frozenset({Role.MANAGER, Role.ADMIN})
WHATSAPP_FIELDS = ("name", "phone_number_id", "access_token", "app_secret", "verify_token", "api_base_url")
SMS_FIELDS = ("name", "account_sid", "auth_token", "from_number", "messaging_service_sid", "api_base_url")
SECRET_FIELDS = frozenset({"access_token", "app_secret", "verify_token", "auth_token"})
TEMPLATE_FIELDS = ("name", "language", "body", "category", "status")


def manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        staff = getattr(user, "staff", None) if user.is_authenticated else None
        if staff is None or not staff.is_active:
            return redirect(f"/login/?next={request.path}")
        if staff.role not in SETTINGS_ROLES:
            return render(request, "connectors/forbidden.html", status=403)
        return view(request, staff, *args, **kwargs)

    return wrapper


def _channel(staff: StaffMember, channel_id: int) -> Channel:
    channel = Channel.objects.filter(practice_id=staff.practice_id, pk=channel_id).first()
    if channel is None:
        raise Http404("channel not found")
    return channel


def _form(request: HttpRequest, fields: tuple[str, ...]) -> dict[str, str]:
    return {name: request.POST.get(name, "") for name in fields}


def _redisplay(values: dict[str, str]) -> dict[str, str]:
    """What a form shows after an error: everything but the secrets."""
    return {k: v for k, v in values.items() if k not in SECRET_FIELDS}


def _settings_url(channel: Channel) -> str:
    if channel.provider in (Provider.META, Provider.TWILIO):
        return f"/settings/channels/{channel.pk}/"
    if channel.provider == Provider.MAILBOX:
        return f"/settings/channels/email/{channel.pk}/"
    if channel.provider == Provider.WIDGET:
        return f"/settings/channels/webchat/{channel.pk}/"
    return ""


def _row(channel: Channel) -> dict[str, Any]:
    rate = max_per_second(channel)
    return {
        "channel": channel,
        "url": _settings_url(channel),
        "rate": rate,
        "burst": burst(channel, rate) if rate else None,
    }


@manager_required
@require_http_methods(["GET", "POST"])
def channels(request: HttpRequest, staff: StaffMember, kind: str = "") -> HttpResponse:
    errors: dict[str, str] = {}
    forms: dict[str, dict[str, str]] = {"whatsapp": {}, "sms": {"keyword_replies": "provider"}}
    if request.method == "POST":
        try:
            if kind == "whatsapp":
                values = _form(request, WHATSAPP_FIELDS)
                forms["whatsapp"] = _redisplay(values)
                channel = channel_setup.whatsapp_channel_create(practice=staff.practice, actor=staff, **values)
            elif kind == "sms":
                values = {**_form(request, SMS_FIELDS), "keyword_replies": request.POST.get("keyword_replies", "")}
                forms["sms"] = _redisplay(values)
                channel = channel_setup.sms_channel_create(practice=staff.practice, actor=staff, **values)
            else:
                raise Http404("unknown channel kind")
        except ChannelSetupError as exc:
            errors[kind] = str(exc)
        else:
            flash.success(
                request, f"{channel.name} is set up. Paste the webhook URLs below into the provider's console."
            )
            return redirect(f"/settings/channels/{channel.pk}/")
    rows = [_row(c) for c in Channel.objects.filter(practice_id=staff.practice_id).order_by("kind", "name", "id")]
    return render(
        request,
        "connectors/channels.html",
        {"rows": rows, "forms": forms, "errors": errors},
        status=400 if errors else 200,
    )


def _detail(request: HttpRequest, channel: Channel, *, status: int = 200, **extra: Any) -> HttpResponse:
    context: dict[str, Any] = {
        **_row(channel),
        "webhooks": channel_setup.webhook_urls(channel),
        "credentials": channel_setup.masked_credentials(channel) if channel.provider != Provider.SIMULATOR else {},
        "updatable": channel_setup.updatable_credentials(channel),
        "is_whatsapp": channel.kind == ChannelKind.WHATSAPP,
        "templates": WhatsAppTemplate.objects.filter(channel=channel).order_by("name", "language"),
        "categories": TemplateCategory.choices,
        "statuses": TemplateStatus.choices,
        "template_form": {"category": TemplateCategory.UTILITY, "status": TemplateStatus.APPROVED},
        "template_action": f"/settings/channels/{channel.pk}/templates",
        **extra,
    }
    return render(request, "connectors/channel.html", context, status=status)


@manager_required
def channel_detail(request: HttpRequest, staff: StaffMember, channel_id: int) -> HttpResponse:
    return _detail(request, _channel(staff, channel_id))


@manager_required
@require_POST
def channel_test(request: HttpRequest, staff: StaffMember, channel_id: int) -> HttpResponse:
    channel = _channel(staff, channel_id)
    result = channel_setup.channel_check(channel=channel, actor=staff)
    (flash.success if result.ok else flash.error)(request, result.detail)
    return redirect(f"/settings/channels/{channel.pk}/")


@manager_required
@require_POST
def channel_credentials(request: HttpRequest, staff: StaffMember, channel_id: int) -> HttpResponse:
    channel = _channel(staff, channel_id)
    fields = channel_setup.updatable_credentials(channel)
    try:
        channel_setup.channel_credentials_update(channel=channel, values=_form(request, fields), actor=staff)
    except ChannelSetupError as exc:
        return _detail(request, channel, status=400, credentials_error=str(exc))
    flash.success(request, "Credentials updated. Test the connection to be sure they work.")
    return redirect(f"/settings/channels/{channel.pk}/")


@manager_required
@require_POST
def channel_enabled(request: HttpRequest, staff: StaffMember, channel_id: int) -> HttpResponse:
    channel = _channel(staff, channel_id)
    enabled = request.POST.get("enabled") == "1"
    channel_setup.channel_set_enabled(channel=channel, enabled=enabled, actor=staff)
    flash.success(request, f"{channel.name} is {'enabled' if enabled else 'disabled'}.")
    return redirect(f"/settings/channels/{channel.pk}/")


@manager_required
@require_POST
def template_add(request: HttpRequest, staff: StaffMember, channel_id: int) -> HttpResponse:
    channel = _channel(staff, channel_id)
    values = _form(request, TEMPLATE_FIELDS)
    try:
        whatsapp_template_save(
            channel=channel,
            actor=staff,
            name=values["name"],
            language=values["language"],
            body=values["body"],
            category=values["category"],
            status=values["status"],
        )
    except ChannelSetupError as exc:
        return _detail(request, channel, status=400, template_error=str(exc), template_form=values)
    flash.success(request, f"Template {values['name'].strip()} saved.")
    return redirect(f"/settings/channels/{channel.pk}/")


def _template(staff: StaffMember, channel: Channel, template_id: int) -> WhatsAppTemplate:
    template = WhatsAppTemplate.objects.filter(practice_id=staff.practice_id, channel=channel, pk=template_id).first()
    if template is None:
        raise Http404("template not found")
    return template


@manager_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, staff: StaffMember, channel_id: int, template_id: int) -> HttpResponse:
    channel = _channel(staff, channel_id)
    template = _template(staff, channel, template_id)
    error = ""
    values = {name: str(getattr(template, name)) for name in TEMPLATE_FIELDS}
    if request.method == "POST":
        values = _form(request, TEMPLATE_FIELDS)
        try:
            whatsapp_template_save(
                channel=channel,
                actor=staff,
                template=template,
                name=values["name"],
                language=values["language"],
                body=values["body"],
                category=values["category"],
                status=values["status"],
            )
        except ChannelSetupError as exc:
            error = str(exc)
        else:
            flash.success(request, f"Template {template.name} saved.")
            return redirect(f"/settings/channels/{channel.pk}/")
    return render(
        request,
        "connectors/template_edit.html",
        {
            "channel": channel,
            "template": template,
            "form": values,
            "error": error,
            "categories": TemplateCategory.choices,
            "statuses": TemplateStatus.choices,
        },
        status=400 if error else 200,
    )


@manager_required
@require_POST
def template_delete(request: HttpRequest, staff: StaffMember, channel_id: int, template_id: int) -> HttpResponse:
    channel = _channel(staff, channel_id)
    template = _template(staff, channel, template_id)
    whatsapp_template_delete(template=template, actor=staff)
    flash.success(request, f"Template {template.name} removed.")
    return redirect(f"/settings/channels/{channel.pk}/")
