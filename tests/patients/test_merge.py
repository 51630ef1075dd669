"""Merging patients and linking an unknown sender: everything moves, one open conversation
remains, the loser points at the survivor, and it is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from converge.audit.models import AuditEvent
from converge.conversations import services
from converge.conversations.models import Conversation, ConversationRead, Mention, Message, Note
from converge.core import clock
from converge.patients.merge import patient_link_sender, patient_merge
from converge.patients.models import ContactPoint, Patient
from converge.patients.services import PatientError, contact_point_add, patient_create
from converge.practices.models import Role
from converge.scheduling.models import Appointment, Provider
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(practice):
    """Merging is for managers and administrators (test_merge_permissions covers the others)."""
    return make_staff(practice, "Maria Lopez", Role.MANAGER, team_slugs=("front-desk",))


@pytest.fixture
def known(practice, staff):
    patient = patient_create(practice_id=practice.pk, actor=staff, first_name="Ana", last_name="Reyes")
    contact_point_add(patient=patient, actor=staff, kind="email", address="ana@example.com")
    return patient


def _appointment(practice, patient, days):
    provider = Provider.objects.get_or_create(practice=practice, display_name="Dr. Patel")[0]
    start = clock.now() + timedelta(days=days)
    return Appointment.objects.create(
        practice=practice,
        patient=patient,
        provider=provider,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_until=start + timedelta(minutes=20),
    )


def test_link_unknown_sender_moves_messages_contacts_and_conversation(practice, staff, known, sms_channel):
    received = receive(sms_channel, "+15552017788", "This is Ana, new phone")
    unknown = received.message.patient
    assert not unknown.is_verified
    patient_link_sender(unknown=unknown, patient=known, actor=staff)
    unknown.refresh_from_db()
    assert unknown.merged_into_id == known.pk
    assert set(ContactPoint.objects.filter(patient=known).values_list("kind", flat=True)) == {"email", "sms"}
    conversation = Conversation.objects.get(pk=received.message.conversation_id)
    assert conversation.patient_id == known.pk
    assert Message.objects.get(pk=received.message.pk).patient_id == known.pk
    # The next text from that number lands in Ana's conversation.
    again = receive(sms_channel, "+15552017788", "Hello again")
    assert again.message.patient_id == known.pk and again.message.conversation_id == conversation.pk
    audit = AuditEvent.objects.get(action="patient.merge")
    assert audit.detail["merged"] == unknown.pk and audit.patient_id == known.pk
    assert "Ana" not in str(audit.detail) and "555" not in str(audit.detail)
    assert AuditEvent.objects.filter(action="patient.merged_into", patient_id=unknown.pk).exists()


def test_two_open_conversations_are_folded_into_one(practice, staff, nurse, sms_channel, whatsapp_channel):
    first = receive(sms_channel, "+15552017700", "from phone one").message
    clock.advance(timedelta(minutes=5))
    second = receive(whatsapp_channel, "+15552017711", "from phone two").message
    survivor, loser = first.patient, second.patient
    Patient.objects.filter(pk=survivor.pk).update(first_name="Ana", is_verified=True)
    survivor.refresh_from_db()
    keep, fold = first.conversation, second.conversation
    services.note_post(conversation=fold, author=staff, body=f"@{nurse.user.email.split('@')[0]} look")
    services.conversation_set_triage(conversation=fold, actor=staff, priority=3)
    services.conversation_mark_read(conversation=fold, staff=staff)
    patient_merge(survivor=survivor, loser=loser, actor=staff)
    assert not Conversation.objects.filter(pk=fold.pk).exists()
    keep.refresh_from_db()
    assert keep.status == "open" and keep.priority == 3
    assert set(Message.objects.filter(conversation=keep).values_list("body", flat=True)) == {
        "from phone one",
        "from phone two",
    }
    assert Note.objects.filter(conversation=keep).count() == 1
    assert Mention.objects.get().conversation_id == keep.pk
    assert not ConversationRead.objects.filter(conversation_id=fold.pk).exists()
    assert keep.last_message_at >= second.created_at
    assert Conversation.objects.filter(patient=survivor).exclude(status="resolved").count() == 1
    assert keep.events.filter(kind="merged").exists()


def test_resolved_history_and_appointments_move_too(practice, staff, known, sms_channel):
    received = receive(sms_channel, "+15552017722", "old matter")
    loser = received.message.patient
    old = received.message.conversation
    services.conversation_set_status(conversation=old, actor=staff, status="resolved")
    appointment = _appointment(practice, loser, 3)
    patient_merge(survivor=known, loser=loser, actor=staff)
    old.refresh_from_db()
    appointment.refresh_from_db()
    assert old.patient_id == known.pk and old.status == "resolved"
    assert appointment.patient_id == known.pk


def test_survivor_gains_missing_details(practice, staff):
    survivor = patient_create(practice_id=practice.pk, actor=staff, first_name="Ana")
    loser = patient_create(practice_id=practice.pk, actor=staff, last_name="Reyes", external_id="EHR-1")
    patient_merge(survivor=survivor, loser=loser, actor=staff)
    survivor.refresh_from_db()
    assert (survivor.first_name, survivor.last_name, survivor.external_id) == ("Ana", "Reyes", "EHR-1")


def test_earlier_merges_follow_to_the_new_survivor(practice, staff):
    a, b, c = (patient_create(practice_id=practice.pk, actor=staff, first_name=n) for n in "ABC")
    patient_merge(survivor=b, loser=a, actor=staff)
    patient_merge(survivor=c, loser=b, actor=staff)
    a.refresh_from_db()
    assert a.merged_into_id == c.pk


def test_refusals(practice, other_practice, staff, known, sms_channel):
    with pytest.raises(PatientError, match="itself"):
        patient_merge(survivor=known, loser=known, actor=staff)
    foreign = patient_create(practice_id=other_practice.pk, actor=None, first_name="Eve")
    with pytest.raises(PatientError, match="not found"):
        patient_merge(survivor=known, loser=foreign, actor=staff)
    other = patient_create(practice_id=practice.pk, actor=staff, first_name="Bo")
    patient_merge(survivor=known, loser=other, actor=staff)
    with pytest.raises(PatientError, match="already merged"):
        patient_merge(survivor=known, loser=other, actor=staff)
    with pytest.raises(PatientError, match="only an unverified sender"):
        patient_link_sender(unknown=known, patient=other, actor=staff)


def test_link_and_merge_pages(practice, staff, known, sms_channel):
    from django.test import Client

    client = Client()
    client.force_login(staff.user)
    received = receive(sms_channel, "+15552017733", "hi it's Ana")
    unknown = received.message.patient
    results = client.get(f"/patients/{unknown.pk}/link?q=Reyes", headers={"HX-Request": "true"}).content.decode()
    assert f"/patients/{unknown.pk}/link?patient={known.pk}" in results
    confirm = client.get(f"/patients/{unknown.pk}/link?patient={known.pk}").content.decode()
    assert "Link this sender to Ana Reyes?" in confirm
    response = client.post(f"/patients/{unknown.pk}/link", {"patient": known.pk})
    assert response.status_code == 302 and response.url == f"/c/{received.message.conversation_id}/"
    unknown.refresh_from_db()
    assert unknown.merged_into_id == known.pk
    # The merged record's page forwards to the survivor.
    assert client.get(f"/patients/{unknown.pk}/").url == f"/patients/{known.pk}/"

    duplicate = patient_create(practice_id=practice.pk, actor=staff, first_name="Ana", last_name="Reyes-Diaz")
    found = client.get(f"/patients/lookup?for={known.pk}&merge_q=Reyes-Diaz").content.decode()
    assert f"/patients/{known.pk}/merge?other={duplicate.pk}" in found
    assert (
        "Merge Ana Reyes-Diaz into Ana Reyes?"
        in client.get(f"/patients/{known.pk}/merge?other={duplicate.pk}").content.decode()
    )
    client.post(f"/patients/{known.pk}/merge", {"other": duplicate.pk})
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == known.pk


def test_pages_cannot_merge_across_practices(practice, other_practice, known):
    from django.test import Client

    intruder = make_staff(other_practice, "Eve", Role.MANAGER)
    theirs = patient_create(practice_id=other_practice.pk, actor=None, first_name="Zed")
    client = Client()
    client.force_login(intruder.user)
    assert client.post(f"/patients/{theirs.pk}/merge", {"other": known.pk}).status_code == 404
    assert client.post(f"/patients/{known.pk}/link", {"patient": theirs.pk}).status_code == 404
    known.refresh_from_db()
    assert known.merged_into_id is None
