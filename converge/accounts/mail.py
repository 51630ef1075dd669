"""The invitation email's outbox: queued with the invitation, sent by the worker's jobs lane
(never inside the request), retried with backoff, and kept out of patient threads, search and
exports by living on the invitation, not among patient messages.

The link's secret is stored encrypted (converge.core.crypto) only while the email waits; once it
is sent, given up, or the invitation stops being usable, it is wiped. Logs name the invitation's
id and the error's kind, never the address or the link."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from converge.accounts.models import StaffInvitation
from converge.audit.services import audit_record
from converge.core import clock, crypto

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=2)  # a claimed send not finished by then is tried again
BATCH = 20


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(0, attempts - 1), 1800))


def mailbox_for(practice_id: int) -> Any:
    """The practice's enabled mailbox channel that can send, or None."""
    from converge.connectors.email_channels import email_config
    from converge.connectors.models import Channel, Provider
    from converge.providers.types import ChannelKind

    channels = Channel.objects.select_related("practice").filter(
        practice_id=practice_id, kind=ChannelKind.EMAIL, provider=Provider.MAILBOX, enabled=True
    )
    for channel in channels.order_by("pk"):
        if email_config(channel).smtp_host:
            return channel
    return None


def queue(invitation: StaffInvitation, token: str) -> bool:
    """Queues the email when the practice has a mailbox that sends; False otherwise (the page
    then shows the link to copy, once)."""
    if mailbox_for(invitation.practice_id) is None:
        return False
    now = clock.now()
    StaffInvitation.objects.filter(pk=invitation.pk).update(
        mail_status="queued",
        mail_secret=crypto.encrypt_json({"token": token}),
        mail_attempts=0,
        mail_next_at=now,
        mail_error="",
    )
    invitation.mail_status = "queued"
    from converge.core.worker import wake_worker

    transaction.on_commit(wake_worker)
    return True


def cancel(invitation_ids: list[int]) -> None:
    """A withdrawn, replaced or accepted invitation's email is not sent (or retried)."""
    StaffInvitation.objects.filter(pk__in=invitation_ids, mail_status="queued").update(
        mail_status="cancelled", mail_secret="", mail_next_at=None
    )


def send_due() -> int:
    """Sends the queued invitation emails that are due; returns how many were sent."""
    now = clock.now()
    stale = StaffInvitation.objects.filter(mail_status="queued").filter(
        Q(used_at__isnull=False) | Q(revoked_at__isnull=False) | Q(expires_at__lte=now)
    )
    cancel(list(stale.values_list("pk", flat=True)))
    due = list(
        StaffInvitation.objects.filter(mail_status="queued", mail_next_at__lte=now)
        .order_by("mail_next_at", "pk")
        .values_list("pk", "mail_next_at")[:BATCH]
    )
    sent = 0
    for pk, next_at in due:
        # Claimed with one conditional UPDATE, so two workers never send the same email.
        if StaffInvitation.objects.filter(pk=pk, mail_status="queued", mail_next_at=next_at).update(
            mail_next_at=now + LEASE
        ):
            sent += _send_one(StaffInvitation.objects.select_related("practice").get(pk=pk))
    return sent


def _send_one(invitation: StaffInvitation) -> int:
    from converge.accounts.invites import invite_link
    from converge.connectors.email_channels import email_config, smtp_for
    from converge.providers.types import OutboundMessage, SendError

    attempts = invitation.mail_attempts + 1
    try:
        token = str(crypto.decrypt_json(invitation.mail_secret).get("token") or "")
    except Exception:  # a key dropped before the email went: it cannot be sent
        token = ""
    channel = mailbox_for(invitation.practice_id)
    if not token or channel is None:
        return _given_up(invitation, attempts, "no mailbox to send it" if token else "the link cannot be read")
    practice = invitation.practice
    body = (
        f"Hello {invitation.display_name},\n\n"
        f"You have been invited to join {practice.name} on Converge. Open this link to set your password "
        f"(it works once, until {invitation.expires_at:%d %b %Y %H:%M} UTC):\n\n{invite_link(token)}\n\n"
        "If you did not expect this, ignore this message."
    )
    message = OutboundMessage(
        idempotency_key=f"staff-invitation-{invitation.pk}",
        to_address=invitation.email,
        body=body,
        metadata={"subject": f"Your invitation to {practice.name} on Converge", "automatic": True},
    )
    try:
        smtp_for(email_config(channel)).send(message)
    except (SendError, OSError, ValueError) as exc:
        log.warning(
            "staff invitation mail failed invitation=%s attempt=%s kind=%s", invitation.pk, attempts, type(exc).__name__
        )
        if attempts >= MAX_ATTEMPTS:
            return _given_up(invitation, attempts, type(exc).__name__)
        StaffInvitation.objects.filter(pk=invitation.pk, mail_status="queued").update(
            mail_attempts=attempts, mail_next_at=clock.now() + backoff(attempts), mail_error=type(exc).__name__[:200]
        )
        return 0
    with transaction.atomic():
        StaffInvitation.objects.filter(pk=invitation.pk).update(
            mail_status="sent", mail_secret="", mail_next_at=None, mail_attempts=attempts, mail_error=""
        )
        audit_record(
            practice_id=invitation.practice_id,
            actor=None,
            action="staff.invite_sent",
            obj=invitation,
            detail={"channel": channel.pk, "attempts": attempts},
        )
    return 1


def _given_up(invitation: StaffInvitation, attempts: int, error: str) -> int:
    with transaction.atomic():
        StaffInvitation.objects.filter(pk=invitation.pk).update(
            mail_status="failed", mail_secret="", mail_next_at=None, mail_attempts=attempts, mail_error=error[:200]
        )
        audit_record(
            practice_id=invitation.practice_id,
            actor=None,
            action="staff.invite_mail_failed",
            obj=invitation,
            detail={"attempts": attempts, "error": error[:80]},
        )
    return 0
