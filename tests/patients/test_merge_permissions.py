"""Merging patients is for practice managers and administrators (the README's permission
matrix): the service refuses anyone else, the pages answer 403 with a reason and do not offer
the merge. Linking an unknown sender to the patient it turned out to be stays everyone's job."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.patients.merge import MergeNotAllowed, patient_link_sender, patient_merge
from converge.patients.models import Patient
from converge.patients.services import patient_create
from converge.practices.models import Role
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(practice, staff):
    a = patient_create(practice_id=practice.pk, actor=staff, first_name="Ana", last_name="Reyes")
    b = patient_create(practice_id=practice.pk, actor=staff, first_name="Ana", last_name="Reyes Diaz")
    return a, b


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.SCHEDULER, Role.NURSE, Role.PROVIDER])
def test_roles_without_merge_are_refused_by_the_service(practice, pair, role):
    a, b = pair
    with pytest.raises(MergeNotAllowed, match="managers and administrators"):
        patient_merge(survivor=a, loser=b, actor=make_staff(practice, "No Merge", role))
    b.refresh_from_db()
    assert b.merged_into_id is None


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.SCHEDULER, Role.NURSE, Role.PROVIDER])
def test_roles_without_merge_get_403_on_the_merge_page(practice, pair, role):
    a, b = pair
    client = signed_in(make_staff(practice, "No Merge", role))
    response = client.post(f"/patients/{a.pk}/merge", {"other": b.pk})
    assert response.status_code == 403
    assert "managers and administrators" in response.content.decode()
    assert Patient.objects.get(pk=b.pk).merged_into_id is None
    assert client.get(f"/patients/{a.pk}/merge", {"other": b.pk}).status_code == 403
    page = client.get(f"/patients/{a.pk}/").content.decode()
    assert "Merge a duplicate" not in page and 'id="merge-q"' not in page


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_managers_and_administrators_merge(practice, pair, role):
    a, b = pair
    client = signed_in(make_staff(practice, "Can Merge", role))
    assert "Merge a duplicate" in client.get(f"/patients/{a.pk}/").content.decode()
    assert client.get(f"/patients/{a.pk}/merge", {"other": b.pk}).status_code == 200
    assert client.post(f"/patients/{a.pk}/merge", {"other": b.pk}).status_code == 302
    assert Patient.objects.get(pk=b.pk).merged_into_id == a.pk


def test_front_desk_still_links_an_unknown_sender(practice, pair, staff, sms_channel):
    known, _ = pair
    unknown = receive(sms_channel, "+15552017788", "This is Ana, new phone").message.patient
    page = signed_in(staff).get(f"/patients/{unknown.pk}/").content.decode()
    assert "Link this sender to a patient" in page
    patient_link_sender(unknown=unknown, patient=known, actor=staff)
    unknown.refresh_from_db()
    assert unknown.merged_into_id == known.pk


def test_link_refuses_two_verified_patients_for_front_desk(pair, staff):
    a, b = pair
    with pytest.raises(Exception, match="merge verified patients instead"):
        patient_link_sender(unknown=b, patient=a, actor=staff)
