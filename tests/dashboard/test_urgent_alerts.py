"""Urgent alerts for staff (issue 13 #3): an urgent patient message raises an alert on every staff
page that stays, read from the database, until someone acknowledges it (POST, CSRF, audited,
scoped to the practice and to clinical confidentiality); a new urgent message raises it again.
Urgent conversations are pinned at the top of the inbox lists, with a cursor that pages them
correctly."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from converge.audit.models import AuditEvent
from converge.conversations.models import Conversation, ConversationEvent, Priority
from converge.conversations.selectors import ConversationFilter, inbox_page
from converge.core import clock
from converge.core.principal import staff_principal
from converge.patients.models import Patient
from converge.practices.models import Role
from converge.privacy.models import PrivacySettings
from converge.routing.models import UrgentAlert
from tests.conftest import clear_cache
from tests.dashboard.conftest import HTMX
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

URGENT_TEXT = "crushing chest pain and my left arm is numb"


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def urgent_conversation(sms_channel, sender: str = "+15552017788") -> Conversation:
    conversation = receive(sms_channel, sender, URGENT_TEXT).message.conversation
    conversation.refresh_from_db()
    assert conversation.priority == Priority.URGENT
    Patient.objects.filter(pk=conversation.patient_id).update(first_name="Ana", last_name="Reyes", is_verified=True)
    return conversation


def confidentiality(practice, on: bool) -> None:
    PrivacySettings.objects.update_or_create(practice=practice, defaults={"clinical_confidentiality": on})
    clear_cache()


def alert_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-urgent-conversation="(\d+)"', html)}


def test_every_staff_page_shows_the_unacknowledged_alert_from_the_database(nurse, sms_channel):
    conversation = urgent_conversation(sms_channel)
    client = signed_in(nurse)
    for url in ("/", f"/c/{conversation.pk}/", "/patients/", "/settings/", "/calendar/"):
        page = client.get(url).content.decode()
        assert alert_ids(page) == {conversation.pk}, url
        assert "Urgent message from Ana Reyes" in page, url
        assert f'hx-post="/c/{conversation.pk}/acknowledge"' in page, url
    partial = client.get("/urgent/alerts", headers=HTMX).content.decode()
    assert alert_ids(partial) == {conversation.pk} and "Acknowledge" in partial


def test_acknowledge_records_who_audits_and_announces(
    nurse, sms_channel, published, django_capture_on_commit_callbacks
):
    conversation = urgent_conversation(sms_channel)
    client = signed_in(nurse)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX)
    assert response.status_code == 204
    alert = UrgentAlert.objects.get(conversation=conversation)
    assert alert.acknowledged_by == nurse and alert.acknowledged_at is not None
    audit = AuditEvent.objects.get(action="urgent.acknowledge")
    assert audit.patient_id == conversation.patient_id and audit.actor_user_id == nurse.user_id
    assert audit.object_id == str(conversation.pk)
    assert "Ana" not in str(audit.detail) and URGENT_TEXT not in str(audit.detail)
    event = next(e for _groups, e in published if e["type"] == "urgent.acknowledged")
    assert event["conversation_id"] == conversation.pk
    assert event["staff_name"] == "Grace Kim" and event["acknowledged_at"]
    assert re.fullmatch(r"\d{1,2}:\d\d [AP]M", event["time_label"])
    assert set(event) == {"type", "conversation_id", "staff_id", "staff_name", "acknowledged_at", "time_label"}
    # In the thread, for the record.
    assert ConversationEvent.objects.filter(conversation=conversation, kind="urgent_ack").get().text == (
        "Urgent alert acknowledged by Grace Kim"
    )
    # Gone from every page and the partial; the next page load reads the database.
    assert alert_ids(client.get("/").content.decode()) == set()
    assert alert_ids(client.get("/urgent/alerts", headers=HTMX).content.decode()) == set()
    # A second acknowledgement (another browser clicked too) changes nothing and writes nothing.
    assert client.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX).status_code == 204
    assert AuditEvent.objects.filter(action="urgent.acknowledge").count() == 1
    assert UrgentAlert.objects.get(conversation=conversation).acknowledged_by == nurse


def test_a_plain_form_post_is_redirected_back(nurse, sms_channel):
    conversation = urgent_conversation(sms_channel)
    response = signed_in(nurse).post(f"/c/{conversation.pk}/acknowledge", {"next": "/patients/"})
    assert response.status_code == 302 and response["Location"] == "/patients/"
    evil = signed_in(nurse).post(f"/c/{conversation.pk}/acknowledge", {"next": "https://evil.example/"})
    assert evil["Location"] == "/"


def test_acknowledge_needs_post_and_csrf(nurse, sms_channel):
    conversation = urgent_conversation(sms_channel)
    assert signed_in(nurse).get(f"/c/{conversation.pk}/acknowledge").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(nurse.user)
    assert strict.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX).status_code == 403
    assert UrgentAlert.objects.get(conversation=conversation).acknowledged_at is None


def test_another_practice_cannot_see_or_acknowledge(sms_channel, other_practice):
    conversation = urgent_conversation(sms_channel)
    outsider = signed_in(make_staff(other_practice, "Bob Other", Role.MANAGER))
    assert outsider.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX).status_code == 404
    assert UrgentAlert.objects.get(conversation=conversation).acknowledged_at is None
    page = outsider.get("/").content.decode()
    assert alert_ids(page) == set() and "Ana Reyes" not in page


def test_signed_out_is_refused(sms_channel):
    conversation = urgent_conversation(sms_channel)
    assert Client().post(f"/c/{conversation.pk}/acknowledge", headers=HTMX).status_code == 401
    assert UrgentAlert.objects.get(conversation=conversation).acknowledged_at is None


@pytest.mark.parametrize("role", [Role.NURSE, Role.PROVIDER, Role.MANAGER, Role.ADMIN])
def test_clinical_roles_read_and_acknowledge_under_confidentiality(practice, sms_channel, role):
    confidentiality(practice, True)
    conversation = urgent_conversation(sms_channel)
    client = signed_in(make_staff(practice, "Casey Clinical", role))
    page = client.get("/").content.decode()
    assert "Urgent message from Ana Reyes" in page
    assert client.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX).status_code == 204
    assert UrgentAlert.objects.get(conversation=conversation).acknowledged_at is not None


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.SCHEDULER])
def test_non_clinical_roles_see_a_restricted_alert_and_cannot_acknowledge_it(practice, sms_channel, role):
    confidentiality(practice, True)
    conversation = urgent_conversation(sms_channel)
    client = signed_in(make_staff(practice, "Fran Desk", role))
    for page in (client.get("/").content.decode(), client.get("/urgent/alerts", headers=HTMX).content.decode()):
        assert alert_ids(page) == {conversation.pk}  # they still know something urgent is waiting
        assert "Urgent message (clinical, restricted)" in page
        assert "Ana" not in page and "Reyes" not in page and "chest" not in page
        assert "/acknowledge" not in page
    assert client.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX).status_code == 403
    assert UrgentAlert.objects.get(conversation=conversation).acknowledged_at is None
    assert not AuditEvent.objects.filter(action="urgent.acknowledge").exists()


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.SCHEDULER])
def test_without_confidentiality_every_role_reads_and_acknowledges(practice, sms_channel, role):
    confidentiality(practice, False)
    conversation = urgent_conversation(sms_channel)
    client = signed_in(make_staff(practice, "Fran Desk", role))
    assert "Urgent message from Ana Reyes" in client.get("/").content.decode()
    assert client.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX).status_code == 204


def test_a_new_urgent_message_after_acknowledgement_raises_it_again(
    nurse, sms_channel, published, django_capture_on_commit_callbacks
):
    conversation = urgent_conversation(sms_channel)
    client = signed_in(nurse)
    client.post(f"/c/{conversation.pk}/acknowledge", headers=HTMX)
    assert alert_ids(client.get("/").content.decode()) == set()
    clock.advance(timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=True):
        again = receive(sms_channel, "+15552017788", "now I can't breathe and I'm passing out").message
    assert again.conversation_id == conversation.pk
    assert any(e == {"type": "conversation.urgent", "conversation_id": conversation.pk} for _g, e in published)
    assert alert_ids(client.get("/").content.decode()) == {conversation.pk}
    assert UrgentAlert.objects.filter(conversation=conversation, acknowledged_at__isnull=True).count() == 1


def test_several_urgent_messages_make_one_alert_per_conversation(nurse, sms_channel):
    first = urgent_conversation(sms_channel)
    receive(sms_channel, "+15552017788", "the chest pain is worse, I can't breathe")
    second = urgent_conversation(sms_channel, "+15552017799")
    page = signed_in(nurse).get("/").content.decode()
    assert re.findall(r'data-urgent-conversation="(\d+)"', page).count(str(first.pk)) == 1
    assert alert_ids(page) == {first.pk, second.pk}


def test_page_query_count_does_not_grow_with_alerts(nurse, sms_channel):
    client = signed_in(nurse)
    urgent_conversation(sms_channel, "+15552017700")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get("/urgent/alerts", headers=HTMX)
        return len(captured.captured_queries)

    one = queries()
    for n in range(1, 6):
        urgent_conversation(sms_channel, f"+1555201770{n}")
    assert queries() == one


# --- Pinned at the top of the lists ------------------------------------------------------------


def list_ids(client: Client, query: str) -> list[int]:
    page = client.get(f"/inbox/list?{query}", headers=HTMX).content.decode()
    return [int(i) for i in re.findall(r'data-conversation-id="(\d+)"', page)]


def test_urgent_conversations_are_pinned_above_newer_ones(nurse, sms_channel):
    urgent = urgent_conversation(sms_channel, "+15552017600")
    clock.advance(timedelta(minutes=1))
    newer = [receive(sms_channel, f"+1555201761{n}", "What are your opening hours?") for n in range(3)]
    client = signed_in(nurse)
    ids = list_ids(client, "view=all")
    assert ids[0] == urgent.pk and len(ids) == 4
    assert ids[1:] == [r.message.conversation_id for r in reversed(newer)]  # the rest newest first
    assert list_ids(client, "view=unassigned")[0] == urgent.pk
    team = urgent.team_id
    assert list_ids(client, f"view=all&team={team}")[0] == urgent.pk


def test_pagination_with_pinned_conversations_is_complete_and_disjoint(nurse, sms_channel):
    pinned = []
    for n in range(3):
        pinned.append(urgent_conversation(sms_channel, f"+155520175{n:02d}").pk)
        clock.advance(timedelta(seconds=1))
    others = []
    for n in range(55):
        others.append(receive(sms_channel, f"+155520176{n:02d}", f"hours? {n}").message.conversation_id)
        clock.advance(timedelta(seconds=1))
    client = signed_in(nurse)
    seen: list[int] = []
    query = "view=all"
    while True:
        page = client.get(f"/inbox/list?{query}", headers=HTMX).content.decode()
        seen += [int(i) for i in re.findall(r'data-conversation-id="(\d+)"', page)]
        cursor = re.search(r"before=([A-Za-z0-9_=-]+)", page)
        if not cursor:
            break
        query = f"view=all&before={cursor.group(1)}"
    assert seen == [*reversed(pinned), *reversed(others)]
    # A page boundary inside the pinned block.
    first = inbox_page(principal=staff_principal(nurse), filters=ConversationFilter(view="all"), limit=2)
    assert [c.pk for c in first] == [pinned[2], pinned[1]]


def test_a_stale_two_part_cursor_still_pages(nurse, sms_channel):
    import base64

    for n in range(3):
        receive(sms_channel, f"+155520177{n:02d}", f"hours? {n}")
        clock.advance(timedelta(seconds=1))
    newest = Conversation.objects.order_by("-last_message_at").first()
    raw = f"{newest.last_message_at.isoformat()}|{newest.pk}"
    cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    assert len(list_ids(signed_in(nurse), f"view=all&before={cursor}")) == 2


def test_list_query_count_is_unchanged_by_pinning(nurse, sms_channel):
    principal = staff_principal(nurse)

    def queries(limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            inbox_page(principal=principal, filters=ConversationFilter(view="all"), limit=limit)
        return len(captured.captured_queries)

    for n in range(4):
        urgent_conversation(sms_channel, f"+155520178{n:02d}")
        receive(sms_channel, f"+155520179{n:02d}", "hours?")
    assert queries(2) == queries(8) <= 3
