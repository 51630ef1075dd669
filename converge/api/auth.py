from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from converge.core.principal import Principal, client_ip
from converge.practices.services import api_token_authenticate


class StaffSession(APIKeyCookie):
    """The staff member's browser session (with Django's CSRF check on unsafe methods)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        staff = getattr(user, "staff", None) if user.is_authenticated else None
        if staff is None or not staff.is_active:
            return None
        return Principal(practice_id=staff.practice_id, staff=staff, ip=client_ip(request))


class PracticeToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = api_token_authenticate(token)
        if api_token is None:
            return None
        return Principal(practice_id=api_token.practice_id, token=api_token, ip=client_ip(request))


def principal_of(request: HttpRequest) -> Principal:
    principal = request.auth  # type: ignore[attr-defined]
    assert isinstance(principal, Principal)
    return principal
