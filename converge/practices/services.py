from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils.text import slugify

from converge.audit.services import audit_record
from converge.core import clock
from converge.practices.models import ApiToken, Practice, Role, StaffMember, Team
from converge.teamchat.services import team_channel_create

DEFAULT_TEAMS = (
    ("Front desk", "front-desk", False),
    ("Scheduling", "scheduling", False),
    ("Nursing", "nursing", True),
    ("Providers", "providers", True),
)


def practice_create(*, name: str, slug: str, time_zone: str = "America/New_York") -> Practice:
    with transaction.atomic():
        practice = Practice(name=name, slug=slug, time_zone=time_zone)
        practice.full_clean()
        practice.save()
        teams = {
            team_slug: Team.objects.create(practice=practice, name=team_name, slug=team_slug, is_clinical=clinical)
            for team_name, team_slug, clinical in DEFAULT_TEAMS
        }
        practice.default_team = teams["front-desk"]
        practice.save(update_fields=["default_team"])
        for team in teams.values():  # each team's channel of team messages comes with it
            team_channel_create(team=team)
        audit_record(practice_id=practice.id, actor=None, action="practice.create", obj=practice)
    return practice


def staff_create(
    *,
    practice: Practice,
    email: str,
    password: str | None,
    display_name: str,
    role: str = Role.FRONT_DESK,
    team_slugs: tuple[str, ...] = (),
    validate: bool = True,
    phone: str = "",
) -> StaffMember:
    email = email.strip().lower()
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model(username=email, email=email)
        if password:
            if validate:
                validate_password(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        staff = StaffMember.objects.create(
            practice=practice, user=user, display_name=display_name, role=role, phone=phone
        )
        if team_slugs:
            staff.teams.set(Team.objects.filter(practice=practice, slug__in=team_slugs))
        audit_record(
            practice_id=practice.id,
            actor=None,
            action="staff.create",
            obj=staff,
            detail={"role": role},
        )
    return staff


def api_token_create(*, practice: Practice, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and the secret, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    secret = f"cvg_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(practice=practice, name=name, prefix=prefix, token_hash=token_hash(secret))
        audit_record(practice_id=practice.id, actor=None, action="api_token.create", obj=token)
    return token, secret


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_authenticate(secret: str) -> ApiToken | None:
    token = (
        ApiToken.objects.select_related("practice")
        .filter(token_hash=token_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is not None:
        now = clock.now()
        # One write a minute is enough to show "last used" without a write per request.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "practice"
    slug, n = base, 1
    while Practice.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


class SetupError(ValueError):
    """A practice setting cannot be saved; the message names the field."""


def business_hours_set(*, practice: Practice, actor: object, hours: dict[int, tuple[str, str] | None]) -> Practice:
    """Opening hours per weekday (0 = Monday): (open, close) as HH:MM, or None for closed."""
    from datetime import time

    value: dict[str, list[list[str]]] = {}
    for day in range(7):
        pair = hours.get(day)
        if pair is None:
            value[str(day)] = []
            continue
        try:
            opens, closes = (time.fromisoformat(p.strip()) for p in pair)
        except ValueError:
            raise SetupError(f"hours: day {day + 1}: enter times as HH:MM") from None
        if closes <= opens:
            raise SetupError(f"hours: day {day + 1}: closing must be after opening")
        value[str(day)] = [[f"{opens:%H:%M}", f"{closes:%H:%M}"]]
    with transaction.atomic():
        previous = practice.business_hours
        practice.business_hours = value
        practice.save(update_fields=["business_hours"])
        audit_record(
            practice_id=practice.pk,
            actor=actor,
            action="practice.hours",
            obj=practice,
            detail={"from": previous, "to": value},
        )
    return practice


def team_create(*, practice: Practice, actor: object, name: str, clinical: bool = False) -> Team:
    name = " ".join(name.split())
    if not name or len(name) > 100 or any(ord(ch) < 32 for ch in name):
        raise SetupError("name: enter the team's name (at most 100 characters)")
    slug = slugify(name)[:60]
    if not slug:
        raise SetupError("name: use letters or digits in the team's name")
    if Team.objects.filter(practice=practice, slug=slug).exists():
        raise SetupError(f"name: the practice already has a team called {name}")
    if Team.objects.filter(practice=practice).count() >= 50:
        raise SetupError("name: a practice has at most 50 teams")
    with transaction.atomic():
        team = Team.objects.create(practice=practice, name=name, slug=slug, is_clinical=clinical)
        team_channel_create(team=team)
        audit_record(practice_id=practice.pk, actor=actor, action="practice.team_create", obj=team)
    return team
