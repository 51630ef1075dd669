"""Staff authentication: throttling and lockout, session bookkeeping, TOTP second factor, and
disabling an account (which ends every session and WebSocket of it at once)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.crypto import get_random_string
from django_otp.plugins.otp_totp.models import TOTPDevice

from converge.accounts.models import LoginAttempt, RecoveryCode, StaffSession
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


def mfa_enrollment_pending(staff: StaffMember) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=False).first()


def users_with_mfa(user_ids: list[int]) -> set[int]:
    return set(TOTPDevice.objects.filter(user_id__in=user_ids, confirmed=True).values_list("user_id", flat=True))


def mfa_enrollment_confirm(*, staff: StaffMember, code: str) -> bool:
    device = mfa_enrollment_pending(staff)
    if device is None or not _verify(device, code):
        return False
    with transaction.atomic():
        TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=True).delete()
        RecoveryCode.objects.filter(user_id=staff.user_id).delete()  # they belonged to the old device
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(practice_id=staff.practice_id, actor=staff, action="auth.mfa_enrolled", obj=staff)
    return True


def mfa_verify(*, staff: StaffMember, code: str, ip: str) -> bool:
    """The authenticator's current code, or one of the person's unused recovery codes. A miss
    counts as a failed sign-in (the same lockout as wrong passwords)."""
    if any(ch.isalpha() for ch in code):
        return recovery_code_use(staff=staff, code=code, ip=ip)
    device = mfa_device(staff)
    ok = device is not None and _verify(device, code)
    if not ok:
        login_failed(email=staff.user.email, ip=ip, practice_id=staff.practice_id)
    return ok


def mfa_reset(*, staff: StaffMember, actor: StaffMember) -> None:
    """A manager's answer to a lost phone and lost recovery codes: the person signs in with the
    password alone next time (and enrols again where the role requires it)."""
    if not may_manage_staff(actor, staff):
        raise StaffChangeNotAllowed
    with transaction.atomic():
        had_device = TOTPDevice.objects.filter(user_id=staff.user_id).delete()[0] > 0
        RecoveryCode.objects.filter(user_id=staff.user_id).delete()
        ended = sessions_end(user_id=staff.user_id)
        audit_record(
            practice_id=staff.practice_id,
            actor=actor,
            action="auth.mfa_reset",
            obj=staff,
            detail={"had_device": had_device, "sessions_ended": ended},
        )


class StaffChangeNotAllowed(PermissionDenied):
    def __init__(self) -> None:
        super().__init__(
            "Only practice managers and administrators can change staff accounts, "
            "and only administrators can change an administrator's."
        )


def may_manage_staff(actor: StaffMember | None, staff: StaffMember) -> bool:
    from converge.practices.models import Role
    from converge.practices.permissions import Perm, can

    if actor is None or actor.practice_id != staff.practice_id or actor.pk == staff.pk:
        return False
    if staff.role == Role.ADMIN and actor.role != Role.ADMIN:
        return False
    return can(actor, Perm.MANAGE_STAFF)


# --- recovery codes ---------------------------------------------------------------------------

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def recovery_codes_issue(staff: StaffMember) -> list[str]:
    """A new set of one-time codes, shown once; the old set stops working."""
    codes = ["-".join(get_random_string(4, _RECOVERY_ALPHABET) for _ in range(3)) for _ in range(RECOVERY_CODES)]
    now = clock.now()
    with transaction.atomic():
        RecoveryCode.objects.filter(user_id=staff.user_id).delete()
        RecoveryCode.objects.bulk_create(
            RecoveryCode(user_id=staff.user_id, code_hash=make_password(_normal(code)), created_at=now)
            for code in codes
        )
        audit_record(practice_id=staff.practice_id, actor=staff, action="auth.recovery_codes_issued", obj=staff)
    return codes


def recovery_codes_left(staff: StaffMember) -> int:
    return RecoveryCode.objects.filter(user_id=staff.user_id, used_at=None).count()


def recovery_code_use(*, staff: StaffMember, code: str, ip: str) -> bool:
    candidate = _normal(code)
    with transaction.atomic():
        unused = list(RecoveryCode.objects.select_for_update().filter(user_id=staff.user_id, used_at=None))
        match = next((row for row in unused if len(candidate) == 12 and check_password(candidate, row.code_hash)), None)
        if match is None:
            login_failed(email=staff.user.email, ip=ip, practice_id=staff.practice_id)
            return False
        match.used_at = clock.now()
        match.save(update_fields=["used_at"])
        audit_record(
            practice_id=staff.practice_id,
            actor=staff,
            action="auth.recovery_code_used",
            obj=staff,
            ip=ip,
            detail={"remaining": len(unused) - 1},
        )
    return True


def _normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


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
