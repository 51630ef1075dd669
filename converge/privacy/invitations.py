"""Inbound clinical content on a standard channel: optionally answered with an invitation to
continue in the secure portal. The patient's message is stored and routed as usual either way."""

from __future__ import annotations

from datetime import timedelta

from converge.connectors.models import Tier
from converge.conversations.models import Conversation, Message
from converge.core import clock
from converge.privacy.guard import cached_privacy_settings
from converge.privacy.models import PortalLink
from converge.privacy.phi import scan

CLINICAL_KINDS = frozenset(
    {
        "medication",
        "diagnosis",
        "lab_result",
        "lab_value",
        "procedure",
        "symptom",
        "mental_health",
        "sexual_health",
        "pregnancy",
        "substance_use",
        "genetic",
    }
)


# Short texts are sometimes triaged clinical on little evidence ("And now by text": 0.64); an
# invitation to the portal on such a guess would be noise.
INVITE_CONFIDENCE = 0.8


def invite_to_portal(conversation: Conversation, message: Message) -> None:
    if message.channel.tier != Tier.STANDARD or message.kind not in ("text", "image", "document"):
        return
    settings = cached_privacy_settings(message.practice_id)
    if not settings.invite_to_portal_on_clinical:
        return
    triage = message.metadata.get("classification") or {}
    confident = float(triage.get("confidence", 0)) >= INVITE_CONFIDENCE
    clinical = (confident and triage.get("category") in ("clinical", "refill", "urgent")) or any(
        f.kind in CLINICAL_KINDS for f in scan(message.body).findings
    )
    if not clinical:
        return
    # One invitation a day per conversation is plenty.
    if PortalLink.objects.filter(conversation=conversation, created_at__gte=clock.now() - timedelta(days=1)).exists():
        return
    from converge.conversations.services import ServiceError, message_queue
    from converge.privacy.notices import portal_invitation_text
    from converge.privacy.portal_delivery import portal_link_create

    link = portal_link_create(patient=conversation.patient, conversation=conversation)
    try:
        message_queue(
            conversation=conversation,
            channel=message.channel,
            body=portal_invitation_text(conversation.patient.language, conversation.patient.practice.name, link),
            sender=None,
            is_automatic=True,
            metadata={"portal_invitation": True},
        )
    except ServiceError:
        return
