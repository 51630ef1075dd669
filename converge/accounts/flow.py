"""The sign-in flow shared by the staff login page: throttle, password, second factor."""

from __future__ import annotations

from django.contrib.auth import authenticate, login
from django.http import HttpRequest

from converge.accounts import services
from converge.core.principal import client_ip
from converge.practices.models import StaffMember

MFA_PENDING = "mfa_pending"


def sign_in(request: HttpRequest, *, email: str, password: str) -> tuple[StaffMember | None, str]:
    """Returns the staff member and "" on success, or None and the message to show."""
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
    login(request, user)  # a new session key: no fixation
    services.login_succeeded(staff=staff, session_key=request.session.session_key or "", ip=ip)
    if services.mfa_device(staff) is not None:
        request.session[MFA_PENDING] = True
    return staff, ""


def mfa_pending(request: HttpRequest) -> bool:
    return bool(request.session.get(MFA_PENDING))
