"""The audit page in a practice manager's words: plain actions, objects and people by name, paging
that keeps the filters, the patient filter by name, and a bounded number of queries per page."""

from __future__ import annotations

import ast
import csv
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

import converge
from converge.audit.describe import ACTIONS, action_label
from converge.audit.models import AuditEvent
from converge.audit.services import audit_record
from converge.conversations.models import Conversation
from converge.patients.models import Patient
from converge.practices.models import Role
from converge.scheduling.models import Provider
from converge.scheduling.services import appointment_book
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(practice):
    manager = make_staff(practice, "Sarah Whitfield", Role.MANAGER)
    client = Client()
    client.force_login(manager.user)
    return client


def _named(patient_id: int, first: str, last: str) -> Patient:
    Patient.objects.filter(pk=patient_id).update(first_name=first, last_name=last, is_verified=True)
    return Patient.objects.get(pk=patient_id)


def _text(response) -> str:
    """The visible text of the table body (no attributes, no tags)."""
    html = response.content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def _codes_in_source() -> set[str]:
    """Every action code an audit_record call in converge/ can write (constants, and both arms of
    a conditional)."""
    codes: set[str] = set()
    for path in Path(converge.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name != "audit_record":
                continue
            for kw in node.keywords:
                if kw.arg != "action":
                    continue
                values = [kw.value.body, kw.value.orelse] if isinstance(kw.value, ast.IfExp) else [kw.value]
                for value in values:
                    assert isinstance(value, ast.Constant), f"{path}:{node.lineno}: action is not a literal"
                    codes.add(value.value)
    return codes


def test_every_action_code_in_the_codebase_has_plain_words():
    codes = _codes_in_source()
    assert len(codes) > 60
    missing = sorted(codes - ACTIONS.keys())
    assert not missing, f"add plain words to converge/audit/describe.py ACTIONS for {missing}"


def test_unknown_action_codes_still_read_as_words():
    assert action_label("frobnicate.the_widget") == "Frobnicate: the widget"
    assert action_label("") == "Unknown action"
    assert action_label("appointment.read") == "Viewed appointment"


def test_the_page_shows_plain_words_and_names_not_codes_and_ids(practice, sms_channel, staff, manager_client):
    received = receive(sms_channel, "+15552017788", "Can I move my visit?")
    ana = _named(received.message.patient_id, "Ana", "Ruiz")
    conversation = Conversation.objects.get(pk=received.message.conversation_id)
    provider = Provider.objects.create(practice=practice, display_name="Dr. Anika Patel")
    appointment = appointment_book(
        patient=ana,
        provider=provider,
        start=datetime(2026, 12, 1, 10, 30, tzinfo=ZoneInfo(practice.time_zone)),
        check_hours=False,
    )
    audit_record(practice_id=practice.pk, actor=staff, action="appointment.read", obj=appointment, patient_id=ana.pk)
    audit_record(practice_id=practice.pk, actor=staff, action="conversation.read", obj=conversation, patient_id=ana.pk)
    audit_record(practice_id=practice.pk, actor=staff, action="auth.login")

    page = manager_client.get("/settings/audit/")
    assert page.status_code == 200
    text = _text(page)
    assert "Viewed appointment" in text
    assert "Viewed conversation" in text
    assert "Signed in" in text
    assert "Received message" in text
    assert "Appointment Tue 1 Dec 2026 10:30 with Dr. Anika Patel" in text
    assert f"Conversation #{conversation.pk} with Ana Ruiz" in text
    assert "Ana Ruiz" in text
    assert "Maria Lopez" in text
    assert f"Ana Ruiz via “{sms_channel.name}”" in text
    for raw in ("appointment.read", "conversation.read", "auth.login", "scheduling.appointment", "staff:", "channel:"):
        assert raw not in text
    # the patient column names the patient and links to the record, never a bare number
    assert f'<a href="/patients/{ana.pk}/">Ana Ruiz</a>' in page.content.decode()
    assert not re.search(rf"<td>\s*{ana.pk}\s*</td>", page.content.decode())


def test_a_deleted_object_and_an_unknown_type_still_read_well(practice, staff, manager_client):
    audit_record(practice_id=practice.pk, actor=staff, action="appointment.read")
    AuditEvent.objects.filter(action="appointment.read").update(object_type="scheduling.appointment", object_id="999")
    audit_record(practice_id=practice.pk, actor="patient-portal", action="portal.enter")
    AuditEvent.objects.filter(action="portal.enter").update(object_type="someapp.thing_gone", object_id="7")
    text = _text(manager_client.get("/settings/audit/"))
    assert "Appointment #999 (deleted)" in text
    assert "Thing gone #7" in text
    assert "Patient (secure portal)" in text


def test_patient_filter_takes_a_name(practice, sms_channel, manager_client):
    ana = _named(receive(sms_channel, "+15552017788", "hello").message.patient_id, "Ana", "Ruiz")
    _named(receive(sms_channel, "+15552017799", "hi").message.patient_id, "Karen", "Walker")

    page = manager_client.get("/settings/audit/", {"patient": "ruiz"})
    text = _text(page)
    assert "Ana Ruiz" in text
    assert "Karen Walker" not in text
    assert "Patients matching “ruiz”: Ana Ruiz" in page.content.decode()
    # full name, in any case, and the record number (links and old bookmarks) still work
    assert "Ana Ruiz" in _text(manager_client.get("/settings/audit/", {"patient": "ana RUIZ"}))
    assert "Karen Walker" not in _text(manager_client.get("/settings/audit/", {"patient": str(ana.pk)}))
    nobody = manager_client.get("/settings/audit/", {"patient": "Zzyzx"})
    assert "No audit rows match." in nobody.content.decode()
    assert "No patient is called “Zzyzx”." in nobody.content.decode()
    # the CSV export honours the same filter
    csv_text = b"".join(manager_client.get("/settings/audit.csv", {"patient": "Ruiz"}).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows and {r["patient_id"] for r in rows} == {str(ana.pk)}
    assert {r["patient"] for r in rows} == {"Ana Ruiz"}


def test_paging_keeps_the_filters(practice, staff, manager_client):
    other = make_staff(practice, "James Carter")
    for i in range(120):
        audit_record(practice_id=practice.pk, actor=staff, action="patient.read", detail={"i": i})
        audit_record(practice_id=practice.pk, actor=other, action="patient.read", detail={"i": i})
    filters = {"staff": str(staff.user_id), "action": "patient."}

    first = manager_client.get("/settings/audit/", filters)
    html = first.content.decode()
    assert _text(first).count("Viewed patient record") == 50
    assert "James Carter" not in _text(first)
    assert 'rel="prev"' not in html
    older = re.search(r'href="\?([^"]+)" rel="next"', html)
    assert older, "an Older link"
    query = older.group(1).replace("&amp;", "&")
    assert f"staff={staff.user_id}" in query and "action=patient." in query

    second = manager_client.get("/settings/audit/?" + query)
    html2 = second.content.decode()
    assert _text(second).count("Viewed patient record") == 50
    assert "James Carter" not in _text(second)
    first_ids = set(re.findall(r"\bi: (\d+)", _text(first)))
    assert len(first_ids) == 50
    assert first_ids.isdisjoint(set(re.findall(r"\bi: (\d+)", _text(second))))
    newer = re.search(r'href="\?([^"]+)" rel="prev"', html2)
    assert newer and f"staff={staff.user_id}" in newer.group(1)
    back = manager_client.get("/settings/audit/?" + newer.group(1).replace("&amp;", "&"))
    assert _text(back) == _text(first)

    third = manager_client.get(
        "/settings/audit/?" + re.search(r'href="\?([^"]+)" rel="next"', html2).group(1).replace("&amp;", "&")
    )
    # 120 rows for this staff member and action: 50 + 50 + 20, and no Older link on the last page
    assert _text(third).count("Viewed patient record") == 20
    assert 'rel="next"' not in third.content.decode()
    # the CSV link carries the filters but not the page position
    csv_link = re.search(r'href="/settings/audit\.csv\?([^"]+)"', html2).group(1)
    assert "before=" not in csv_link and f"staff={staff.user_id}" in csv_link


def test_page_size_and_height_are_bounded(practice, staff, manager_client):
    for i in range(300):
        audit_record(practice_id=practice.pk, actor=staff, action="patient.read", detail={"i": i})
    page = manager_client.get("/settings/audit/")
    body = page.content.decode().split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr>") == 50


def test_query_count_does_not_grow_with_the_rows(practice, sms_channel, staff, manager_client):
    provider = Provider.objects.create(practice=practice, display_name="Dr. Anika Patel")
    zone = ZoneInfo(practice.time_zone)

    def seed(n: int, offset: int) -> None:
        for i in range(n):
            received = receive(sms_channel, f"+1555201{offset + i:04d}", "hello")
            patient = _named(received.message.patient_id, f"P{offset + i}", "Ruiz")
            appointment = appointment_book(
                patient=patient,
                provider=provider,
                start=datetime(2026, 12, 1, 9, tzinfo=zone) + timedelta(hours=offset + i),
                check_hours=False,
            )
            audit_record(
                practice_id=practice.pk, actor=staff, action="appointment.read", obj=appointment, patient_id=patient.pk
            )
            conversation = Conversation.objects.get(pk=received.message.conversation_id)
            audit_record(
                practice_id=practice.pk,
                actor=staff,
                action="conversation.read",
                obj=conversation,
                patient_id=patient.pk,
            )

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert manager_client.get("/settings/audit/").status_code == 200
        return len(ctx.captured_queries)

    seed(3, 0)
    few = queries()
    seed(30, 100)
    many = queries()
    # one or two queries per kind of object on the page, none per row
    assert many <= few + 2, f"{few} queries for a few rows, {many} for a full page"
    assert many <= 25
