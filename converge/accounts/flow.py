"""The staff sign-in flow as a state machine: throttle, password, second factor.

A person whose password matched but who has a second factor is *not* signed in: the session
holds only who is pending, the user's session hash (a password change voids it) and when, for
ten minutes. Every staff page, the API and the WebSocket therefore treat the session as
anonymous; only the verify page reads the pending state. Enrolling or replacing a device needs
a signed-in session, the password again, and the current code when a device exists.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from converge.accounts import services
from converge.core import clock
from converge.core.principal import client_ip
from converge.practices.models import StaffMember

MFA_PENDING = "mfa_pending"
MFA_REAUTH = "mfa_reauth_at"  # when the password (and old code) were re-entered to enrol
PENDING_FOR = timedelta(minutes=10)


def sign_in(request: HttpRequest, *, email: str, password: str, next_url: str = "/") -> tuple[StaffMember | None, str]:
    """Returns the staff member and "" when the password matched (signed in, or pending the
    second factor: see `pending_staff`), or None and the message to show."""
    email = email.strip().lower()
    ip = client_ip(request)
    blocked = services.login_blocked(email=email, ip=ip)
    if blocked:
        return None, blocked
    user = authenticate(request, username=email, password=password)
    staff = getattr(user, "staff", None) if user is not None else None
    if user is None or staff is None or not staff.is_active:
        practice_id = StaffMember.objects.filter(user__email=email).values_list("practice_id", flat=True).first()
        services.login_failed(email=email, ip=ip, practice_id=practice_id)
        return None, "That email and password do not match an active account."
    if services.mfa_device(staff) is not None:
        logout(request)  # drops any earlier sign-in in this browser and gives a new session key
        request.session[MFA_PENDING] = {
            "user_id": user.pk,
            "hash": user.get_session_auth_hash(),
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
            "at": clock.now().timestamp(),
            "next": next_url,
        }
        return staff, ""
    login(request, user)  # a new session key: no fixation
    services.login_succeeded(staff=staff, session_key=request.session.session_key or "", ip=ip)
    return staff, ""


def _pending(request: HttpRequest) -> dict[str, Any] | None:
    pending = request.session.get(MFA_PENDING)
    if not isinstance(pending, dict):
        return None
    at = pending.get("at")
    if not isinstance(at, int | float) or clock.now().timestamp() - at > PENDING_FOR.total_seconds():
        request.session.pop(MFA_PENDING, None)
        return None
    return pending


def mfa_pending(request: HttpRequest) -> bool:
    return _pending(request) is not None


def pending_staff(request: HttpRequest) -> StaffMember | None:
    """The active staff member whose password matched in this session in the last ten minutes
    and whose password has not changed since, or None."""
    pending = _pending(request)
    if pending is None:
        return None
    user_id = pending.get("user_id")
    if not isinstance(user_id, int):
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    staff = getattr(user, "staff", None) if user is not None else None
    if user is None or staff is None or not staff.is_active:
        return None
    if not constant_time_compare(str(pending.get("hash", "")), user.get_session_auth_hash()):
        return None
    return staff


def complete_second_factor(request: HttpRequest, staff: StaffMember) -> str:
    """Signs the pending person in (a new session key) and returns where they were going."""
    pending = _pending(request) or {}
    login(request, staff.user, backend=str(pending.get("backend") or settings.AUTHENTICATION_BACKENDS[0]))
    request.session.pop(MFA_PENDING, None)
    services.login_succeeded(staff=staff, session_key=request.session.session_key or "", ip=client_ip(request))
    return str(pending.get("next") or "/")


def reauthenticated(request: HttpRequest) -> None:
    request.session[MFA_REAUTH] = clock.now().timestamp()


def recently_reauthenticated(request: HttpRequest) -> bool:
    at = request.session.get(MFA_REAUTH)
    return isinstance(at, int | float) and clock.now().timestamp() - at <= PENDING_FOR.total_seconds()
