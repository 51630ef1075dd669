"""The per-channel registry of WhatsApp message templates, and sending one.

Templates are created and approved in Meta's WhatsApp Manager; the registry mirrors what was
approved there (name, language, body with `{{1}}` placeholders, category, approval state) so
Converge can refuse an unapproved template before queueing it, show staff the rendered text,
and check the number of parameters Meta will expect.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.connectors.channel_setup import ChannelSetupError
from converge.connectors.models import Channel, TemplateCategory, TemplateStatus, WhatsAppTemplate
from converge.conversations.models import Conversation, Message
from converge.conversations.services import ServiceError, message_queue
from converge.practices.models import StaffMember
from converge.providers.types import ChannelKind

_NAME = re.compile(r"[a-z0-9_]{1,512}")
# Meta's codes: "en", "en_US", "pt_BR", "fil", "zh_HK", ...
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
MAX_BODY = 1024
MAX_PARAM = 1024


def template_placeholder_count(body: str) -> int:
    """How many parameters the body takes; its placeholders must be {{1}} .. {{n}}."""
    numbers = sorted({int(n) for n in _PLACEHOLDER.findall(body)})
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError("placeholders must be numbered {{1}}, {{2}}, … without gaps")
    return len(numbers)


def template_render(body: str, params: Sequence[str]) -> str:
    """The text the patient will read: the body with {{n}} replaced by the n-th parameter."""
    expected = template_placeholder_count(body)
    if len(params) != expected:
        raise ValueError(f"this template takes {expected} parameter(s), {len(params)} given")
    for i, param in enumerate(params, start=1):
        # Meta refuses parameters with line breaks, tabs or more than four spaces in a row.
        if not param.strip() or len(param) > MAX_PARAM or re.search(r"[\n\t]| {5,}", param):
            raise ValueError(f"parameter {i}: 1-{MAX_PARAM} characters on one line")
    return _PLACEHOLDER.sub(lambda m: params[int(m.group(1)) - 1], body)


def whatsapp_template_save(
    *,
    channel: Channel,
    name: str,
    language: str,
    body: str,
    category: str = TemplateCategory.UTILITY,
    status: str = TemplateStatus.PENDING,
    actor: Any,
    template: WhatsAppTemplate | None = None,
) -> WhatsAppTemplate:
    """Register a template for the channel (or update `template`)."""
    if channel.kind != ChannelKind.WHATSAPP:
        raise ChannelSetupError("templates belong to WhatsApp channels")
    name, language, body = name.strip(), language.strip(), body.strip()
    if not _NAME.fullmatch(name):
        raise ChannelSetupError("name: lowercase letters, digits and _, as named in WhatsApp Manager")
    if not _LANGUAGE.fullmatch(language):
        raise ChannelSetupError("language: a WhatsApp language code such as en_US, es or pt_BR")
    if not body or len(body) > MAX_BODY:
        raise ChannelSetupError(f"body: 1 to {MAX_BODY} characters")
    try:
        template_placeholder_count(body)
    except ValueError as exc:
        raise ChannelSetupError(f"body: {exc}") from None
    if category not in TemplateCategory.values:
        raise ChannelSetupError("category: utility, marketing or authentication")
    if status not in TemplateStatus.values:
        raise ChannelSetupError("status: approved, pending or rejected")
    if template is not None and template.channel_id != channel.pk:
        raise ChannelSetupError("template not found")
    try:
        with transaction.atomic():
            if template is None:
                template = WhatsAppTemplate(practice_id=channel.practice_id, channel=channel)
            template.name, template.language, template.body = name, language, body
            template.category, template.status = category, status
            template.save()
            audit_record(
                practice_id=channel.practice_id,
                actor=actor,
                action="whatsapp_template.save",
                obj=template,
                detail={"name": name, "language": language, "status": status},
            )
    except IntegrityError:
        raise ChannelSetupError(f"a template {name} ({language}) is already registered for this channel") from None
    return template


def whatsapp_template_delete(*, template: WhatsAppTemplate, actor: Any) -> None:
    with transaction.atomic():
        audit_record(
            practice_id=template.practice_id,
            actor=actor,
            action="whatsapp_template.delete",
            obj=template,
            detail={"name": template.name, "language": template.language},
        )
        template.delete()


def whatsapp_template_send(
    *,
    conversation: Conversation,
    template: WhatsAppTemplate,
    params: Sequence[str],
    sender: StaffMember | None,
    is_automatic: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Message:
    """Queue an approved template: how a business-initiated WhatsApp message starts (or restarts)
    a conversation outside the 24-hour window. The rendered body is what staff see."""
    if template.practice_id != conversation.practice_id:
        raise ServiceError("template not found")
    if not template.is_approved:
        raise ServiceError(f"the WhatsApp template {template.name} is not approved")
    params = [str(p).strip() for p in params]
    try:
        body = template_render(template.body, params)
    except ValueError as exc:
        raise ServiceError(f"template {template.name}: {exc}") from None
    return message_queue(
        conversation=conversation,
        channel=template.channel,
        body=body,
        sender=sender,
        kind="template",
        is_automatic=is_automatic,
        metadata={
            **(metadata or {}),
            "template_name": template.name,
            "template_language": template.language,
            "template_params": params,
        },
    )
