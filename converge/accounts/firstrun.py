"""First run: on an empty database (no practice yet), `/` offers a page that creates the practice
and its administrator, instead of the sign-in.

Whoever reaches that page first would own the server, so it answers only a browser on the server
itself (a loopback address with no proxy header: a reverse proxy on the same host would make
every caller look local) or one that opened the one-time setup link `converge serve` prints. Only
a SHA-256 of that link's secret is kept, in the data dir; it changes at every start and is
removed once the practice exists. Once a practice exists, every first-run URL is a 404."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
import secrets
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from converge.audit.services import audit_record
from converge.practices.models import Practice, Role, StaffMember

SESSION_KEY = "first_run_allowed"
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
_practice_exists = False  # once True it stays so (practices are not deleted from a running server)


class FirstRunError(ValueError):
    """The form cannot be saved; the message names the field."""


def setup_needed() -> bool:
    global _practice_exists
    if _practice_exists:
        return False
    _practice_exists = Practice.objects.exists()
    return not _practice_exists


def _token_file() -> Path:
    return Path(settings.DATA_DIR) / "setup_token"


def _lock_file() -> Path:
    return Path(settings.DATA_DIR) / "setup.lock"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def announce(base_url: str) -> str:
    """At `converge serve`: on an empty database, a new one-time setup link (returned, to print);
    "" when a practice exists."""
    if not setup_needed():
        with contextlib.suppress(FileNotFoundError):
            _token_file().unlink()
        return ""
    token = secrets.token_urlsafe(24)
    path = _token_file()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_digest(token))
    with contextlib.suppress(FileNotFoundError):
        _lock_file().unlink()  # a setup interrupted by a crash does not block the next start
    return f"{base_url.rstrip('/')}/setup/{token}"


def token_matches(token: str) -> bool:
    if not token or len(token) > 100 or not token.isascii():
        return False
    try:
        stored = _token_file().read_text().strip()
    except OSError:
        return False
    return bool(stored) and hmac.compare_digest(stored, _digest(token))


def from_this_machine(request: HttpRequest) -> bool:
    if any(request.META.get(h) for h in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", ""))).is_loopback
    except ValueError:
        return False


def allowed(request: HttpRequest) -> bool:
    return from_this_machine(request) or bool(request.session.get(SESSION_KEY))


def time_zones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def practice_and_admin_create(
    *, practice_name: str, time_zone: str, admin_name: str, email: str, password: str, password_again: str
) -> StaffMember:
    """The practice (with the default teams) and its administrator, once: a second attempt, even
    a simultaneous one, is refused. Raises FirstRunError naming the field."""
    from converge.accounts.invites import InviteError, clean_email, clean_name
    from converge.practices.services import practice_create, staff_create, unique_slug

    name = " ".join(practice_name.split())
    if not name or len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise FirstRunError("practice_name: enter the practice's name (at most 200 characters)")
    if time_zone not in zoneinfo.available_timezones():
        raise FirstRunError("time_zone: choose a time zone from the list")
    try:
        person = clean_name(admin_name)
    except InviteError:
        raise FirstRunError("admin_name: enter your name (at most 120 characters)") from None
    try:
        address = clean_email(email)
    except InviteError:
        raise FirstRunError("email: enter a valid email address") from None
    if password != password_again:
        raise FirstRunError("password: the two passwords do not match")
    if len(password) > 4096 or "\x00" in password:
        raise FirstRunError("password: choose another password")
    try:
        validate_password(password, get_user_model()(username=address, email=address))
    except ValidationError as invalid:
        raise FirstRunError("password: " + " ".join(invalid.messages)) from None
    try:  # one setup at a time, across processes: the file is the claim
        claim = os.open(_lock_file(), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise FirstRunError("practice_name: the practice is being created already") from None
    os.close(claim)
    try:
        with transaction.atomic():
            if Practice.objects.exists():
                raise FirstRunError("practice_name: this server already has a practice; sign in instead")
            practice = practice_create(name=name, slug=unique_slug(name), time_zone=time_zone)
            admin = staff_create(
                practice=practice,
                email=address,
                password=password,
                display_name=person,
                role=Role.ADMIN,
                team_slugs=(),
                validate=False,  # validated above
            )
            audit_record(practice_id=practice.pk, actor=admin, action="practice.first_run", obj=practice)
    finally:
        with contextlib.suppress(FileNotFoundError):
            _lock_file().unlink()
    with contextlib.suppress(FileNotFoundError):
        _token_file().unlink()
    global _practice_exists
    _practice_exists = True
    return admin
