"""Shared fixtures. Django imports stay inside fixtures so pure tests can run with -p no:django."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

requires_postgres = pytest.mark.skipif(
    not os.environ.get("CONVERGE_TEST_DATABASE_URL", "").startswith("postgres"),
    reason="needs CONVERGE_TEST_DATABASE_URL=postgresql://... (CI sets it)",
)
requires_redis = pytest.mark.skipif(
    not os.environ.get("CONVERGE_TEST_REDIS_URL"), reason="needs CONVERGE_TEST_REDIS_URL (CI sets it)"
)


def clear_cache() -> None:
    """Empty this test run's cache. On Redis only our own key prefix: other test processes
    (xdist workers) share the database."""
    from django.conf import settings
    from django.core.cache import cache

    config = settings.CACHES["default"]
    if config["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client()  # type: ignore[attr-defined]
        for key in client.scan_iter(match=f"{config['KEY_PREFIX']}:*"):
            client.delete(key)
    else:
        cache.clear()
    from converge.core.localcache import clear_local_caches

    clear_local_caches()  # process-local: rolled-back rows must not outlive their test


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    """A test that moves converge.core.clock must not move it for the tests after it."""
    yield
    from converge.core import clock

    clock._frozen = None
    clock._offset = clock.timedelta(0)


@pytest.fixture(autouse=True)
def _clean_simulator_outbox(request: pytest.FixtureRequest) -> Iterator[None]:
    django_test = "django_db_setup" in request.fixturenames
    if django_test:
        clear_cache()  # rate-limit counters must not leak from one test into the next
    yield
    if not django_test:
        return
    from django.conf import settings

    shutil.rmtree(settings.DATA_DIR / "simulator", ignore_errors=True)


ALWAYS_OPEN = {str(day): [["00:00", "23:59:59.999999"]] for day in range(7)}


@pytest.fixture
def practice(db: Any) -> Any:
    from converge.practices.services import practice_create

    practice = practice_create(name="Sunrise Family Clinic", slug="sunrise")
    # Open around the clock, so tests are not answered with "we're closed" depending on when
    # they run; after-hours behaviour is tested with its own hours and a frozen clock.
    practice.business_hours = ALWAYS_OPEN
    practice.save(update_fields=["business_hours"])
    return practice


@pytest.fixture
def other_practice(db: Any) -> Any:
    from converge.practices.services import practice_create

    practice = practice_create(name="Harbor Pediatrics", slug="harbor")
    practice.business_hours = ALWAYS_OPEN
    practice.save(update_fields=["business_hours"])
    return practice


@pytest.fixture
def staff(practice: Any) -> Any:
    from tests.helpers import make_staff

    return make_staff(practice, "Maria Lopez", team_slugs=("front-desk",))


@pytest.fixture
def nurse(practice: Any) -> Any:
    from converge.practices.models import Role
    from tests.helpers import make_staff

    return make_staff(practice, "Grace Kim", Role.NURSE, team_slugs=("nursing",))


@pytest.fixture
def sms_channel(practice: Any) -> Any:
    from converge.connectors.services import simulator_channel_create

    return simulator_channel_create(practice=practice, kind="sms")


@pytest.fixture
def whatsapp_channel(practice: Any) -> Any:
    from converge.connectors.services import simulator_channel_create

    return simulator_channel_create(practice=practice, kind="whatsapp")


@pytest.fixture
def staff_client(staff: Any) -> Any:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff.user)
    return client


@pytest.fixture
def api_token(practice: Any) -> str:
    from converge.practices.services import api_token_create

    _token, secret = api_token_create(practice=practice, name="tests")
    return secret


def _flush_retrying_deadlocks() -> None:
    """A transactional test's teardown empties every table with one TRUNCATE. On PostgreSQL a
    browser test's `converge serve` keeps working against the same database (its worker's lanes
    and jobs), and a TRUNCATE that takes its locks while a lane's transaction holds a row can be
    chosen as a deadlock victim: the flush then fails and the next test finds the last one's data.
    The lane retries its work; the flush retries too."""
    import time

    from django.core.management.base import CommandError
    from django.core.management.commands import flush

    handle = flush.Command.handle
    if getattr(handle, "retries_deadlocks", False):
        return

    def handle_retrying(self: Any, **options: Any) -> Any:
        for attempt in range(5):
            try:
                return handle(self, **options)
            except CommandError as exc:
                if "deadlock" not in str(exc.__cause__).lower() or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        return None

    handle_retrying.retries_deadlocks = True  # type: ignore[attr-defined]
    flush.Command.handle = handle_retrying  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("django"):
        _flush_retrying_deadlocks()
