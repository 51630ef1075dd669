"""Managing canned responses is for nurses, providers, managers and administrators (the README's
permission matrix): everyone may use them in the composer, but front desk and schedulers may not
create, edit or delete them — in the service, on the pages (403 with a reason) and in the UI."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.practices.models import Role
from converge.replies.models import CannedResponse
from converge.replies.services import (
    TemplatesNotAllowed,
    canned_response_create,
    canned_response_delete,
    canned_response_update,
)
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db

FIELDS = {"shortcut": "hours", "title": "Hours", "body": "We are open 8-5.", "language": "en"}


@pytest.fixture
def existing(practice):
    return canned_response_create(practice_id=practice.pk, actor=None, **FIELDS)


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.SCHEDULER])
def test_service_refuses_roles_without_manage_templates(practice, existing, role):
    member = make_staff(practice, "No Templates", role)
    with pytest.raises(TemplatesNotAllowed, match="nurses, providers, managers and administrators"):
        canned_response_create(practice_id=practice.pk, actor=member, **{**FIELDS, "shortcut": "new"})
    with pytest.raises(TemplatesNotAllowed):
        canned_response_update(response=existing, actor=member, **{**FIELDS, "body": "Changed"})
    with pytest.raises(TemplatesNotAllowed):
        canned_response_delete(response=existing, actor=member)
    existing.refresh_from_db()
    assert existing.body == FIELDS["body"]
    assert list(CannedResponse.objects.values_list("shortcut", flat=True)) == ["hours"]


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.SCHEDULER])
def test_pages_answer_403_and_hide_the_forms(practice, existing, role):
    client = signed_in(make_staff(practice, "No Templates", role))
    created = client.post("/settings/replies/", {**FIELDS, "shortcut": "new"})
    assert created.status_code == 403 and "nurses, providers" in created.content.decode()
    assert client.post(f"/settings/replies/{existing.pk}/", {**FIELDS, "body": "Changed"}).status_code == 403
    assert client.get(f"/settings/replies/{existing.pk}/").status_code == 403
    assert client.post(f"/settings/replies/{existing.pk}/delete").status_code == 403
    existing.refresh_from_db()
    assert existing.body == FIELDS["body"]
    assert CannedResponse.objects.count() == 1
    page = client.get("/settings/replies/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/hours" in html  # still listed: they use them in the composer
    assert "New canned response" not in html
    assert (
        f"/settings/replies/{existing.pk}/delete" not in html and f'href="/settings/replies/{existing.pk}/"' not in html
    )


@pytest.mark.parametrize("role", [Role.NURSE, Role.PROVIDER, Role.MANAGER, Role.ADMIN])
def test_template_roles_create_edit_and_delete(practice, existing, role):
    client = signed_in(make_staff(practice, "Templates", role))
    html = client.get("/settings/replies/").content.decode()
    assert "New canned response" in html and f"/settings/replies/{existing.pk}/delete" in html
    assert client.post("/settings/replies/", {**FIELDS, "shortcut": "new"}).status_code == 302
    assert client.post(f"/settings/replies/{existing.pk}/", {**FIELDS, "body": "Changed"}).status_code == 302
    existing.refresh_from_db()
    assert existing.body == "Changed"
    assert client.post(f"/settings/replies/{existing.pk}/delete").status_code == 302
    assert list(CannedResponse.objects.values_list("shortcut", flat=True)) == ["new"]
