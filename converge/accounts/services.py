"""Staff authentication: throttling and lockout, session bookkeeping, TOTP second factor, and
disabling an account (which ends every session and WebSocket of it at once)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.contrib.sessions.models import Session
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from converge.accounts.models import LoginAttempt, StaffSession
from converge.audit.services import audit_record
from converge.core import clock, events
from converge.practices.models import StaffMember

log = logging.getLogger(__name__)

ACCOUNT_FAILURES = 5  # per account in the window, then locked for the window
IP_FAILURES = 30  # per address in the window
WINDOW = timedelta(minutes=15)


def login_blocked(*, email: str, ip: str) -> str:
    """A reason the sign-in must not even be tried now, or ""."""
    since = clock.now() - WINDOW
    if LoginAttempt.objects.filter(email=email.lower(), created_at__gte=since).count() >= ACCOUNT_FAILURES:
        return "Too many failed sign-ins for this account. Try again in 15 minutes or ask an administrator."
    if LoginAttempt.objects.filter(ip=ip, created_at__gte=since).count() >= IP_FAILURES:
        return "Too many failed sign-ins from this network. Try again later."
    return ""


def login_failed(*, email: str, ip: str, practice_id: int | None) -> None:
    now = clock.now()
    LoginAttempt.objects.create(email=email.lower()[:254], ip=ip, created_at=now)
    audit_record(practice_id=practice_id, actor=None, action="auth.login_failed", ip=ip)
    if LoginAttempt.objects.filter(email=email.lower(), created_at__gte=now - WINDOW).count() == ACCOUNT_FAILURES:
        audit_record(practice_id=practice_id, actor=None, action="auth.lockout", ip=ip)
        log.warning("account locked after repeated failures practice=%s", practice_id)


def login_succeeded(*, staff: StaffMember, session_key: str, ip: str) -> None:
    StaffSession.objects.update_or_create(
        session_key=session_key, defaults={"user_id": staff.user_id, "created_at": clock.now()}
    )
    LoginAttempt.objects.filter(email=staff.user.email.lower()).delete()
    audit_record(practice_id=staff.practice_id, actor=staff, action="auth.login", ip=ip)


def sessions_end(*, user_id: int) -> int:
    keys = list(StaffSession.objects.filter(user_id=user_id).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    StaffSession.objects.filter(user_id=user_id).delete()
    events.publish_on_commit([events.user_group(user_id)], {"type": "session.ended"})
    return len(keys)


def staff_set_active(*, staff: StaffMember, active: bool, actor: Any) -> StaffMember:
    with transaction.atomic():
        staff.is_active = active
        staff.save(update_fields=["is_active"])
        staff.user.is_active = active
        staff.user.save(update_fields=["is_active"])
        ended = 0 if active else sessions_end(user_id=staff.user_id)
        audit_record(
            practice_id=staff.practice_id,
            actor=actor,
            action="staff.enable" if active else "staff.disable",
            obj=staff,
            detail={"sessions_ended": ended},
        )
    return staff


def staff_set_role(*, staff: StaffMember, role: str, actor: Any) -> StaffMember:
    from converge.practices.models import Role

    if role not in Role.values:
        raise ValueError(f"role: must be one of {', '.join(Role.values)}")
    with transaction.atomic():
        previous = staff.role
        staff.role = role
        staff.save(update_fields=["role"])
        audit_record(
            practice_id=staff.practice_id,
            actor=actor,
            action="staff.role",
            obj=staff,
            detail={"from": previous, "to": role},
        )
    return staff


# --- TOTP -------------------------------------------------------------------------------------


def mfa_device(staff: StaffMember) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=True).first()


def mfa_required(staff: StaffMember) -> bool:
    from converge.privacy.guard import cached_privacy_settings

    return staff.role in (cached_privacy_settings(staff.practice_id).mfa_required_roles or [])


def mfa_enrollment_start(staff: StaffMember) -> TOTPDevice:
    """An unconfirmed device whose secret the person scans; replaced if one already waits."""
    TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=False).delete()
    return TOTPDevice.objects.create(user_id=staff.user_id, name="Authenticator app", confirmed=False)


def mfa_enrollment_confirm(*, staff: StaffMember, code: str) -> bool:
    device = TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=False).first()
    if device is None or not _verify(device, code):
        return False
    with transaction.atomic():
        TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(practice_id=staff.practice_id, actor=staff, action="auth.mfa_enrolled", obj=staff)
    return True


def mfa_verify(*, staff: StaffMember, code: str, ip: str) -> bool:
    device = mfa_device(staff)
    ok = device is not None and _verify(device, code)
    if not ok:
        login_failed(email=staff.user.email, ip=ip, practice_id=staff.practice_id)
    return ok


def _verify(device: TOTPDevice, code: str) -> bool:
    code = "".join(ch for ch in code if ch.isdigit())
    return len(code) == 6 and bool(device.verify_token(code))


def otpauth_uri(device: TOTPDevice, *, issuer: str, account: str) -> str:
    import base64
    from urllib.parse import quote, urlencode

    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    label = quote(f"{issuer}:{account}")
    query = urlencode({"secret": secret, "issuer": issuer, "digits": device.digits, "period": device.step})
    return f"otpauth://totp/{label}?{query}"
