"""The on-call rota (issue 17): who is on call when, in the practice's time zone, paged before
the ordered on-call list; and a page waiting for a retry when the alert is acknowledged is not
sent."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.connectors.simulate import simulator_outbox
from converge.core import clock
from converge.practices import rota
from converge.practices.models import OnCallShift, Role
from converge.providers.simulator.connector import SimulatorConnector
from converge.providers.types import DeliveryStatus, RetryableSendError
from converge.routing.oncall import on_call_targets
from converge.routing.services import routing_settings, urgent_acknowledge, urgent_escalate_due
from tests.helpers import make_staff
from tests.routing.test_oncall_escalation import KIM, PATEL, at, drain, lines, on_call, pages, urgent  # noqa: F401

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
ROTA_PHONE = "+15559870003"


@pytest.fixture
def manager(practice):
    return make_staff(practice, "Mia Manager", Role.MANAGER)


@pytest.fixture
def weekend_nurse(practice):
    return make_staff(practice, "Wes Weekend", Role.NURSE, phone=ROTA_PHONE)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_weekly_overnight_and_dated_shifts_in_the_practice_time_zone(practice, manager, weekend_nurse):
    other = make_staff(practice, "Dee Dated", Role.PROVIDER, phone="+15559870004")
    # Fridays 18:00 to Saturday 08:00, and all day Sundays.
    rota.shift_add(actor=manager, staff_id=weekend_nurse.pk, weekdays=["4"], start_time="18:00", end_time="08:00")
    rota.shift_add(actor=manager, staff_id=weekend_nurse.pk, weekdays=["6"], start_time="00:00", end_time="00:00")
    rota.shift_add(
        actor=manager,
        staff_id=other.pk,
        start_date="2026-12-24",
        end_date="2026-12-27",
        start_time="18:00",
        end_time="08:00",
    )
    names = lambda when: [m.display_name for m in rota.on_shift(practice.pk, when)]  # noqa: E731
    assert names(local(2026, 12, 4, 17, 59)) == []  # Friday before the shift
    assert names(local(2026, 12, 4, 18, 0)) == ["Wes Weekend"]
    assert names(local(2026, 12, 5, 7, 59)) == ["Wes Weekend"]  # Saturday morning, the overnight part
    assert names(local(2026, 12, 5, 8, 0)) == []
    assert names(local(2026, 12, 6, 23, 59)) == ["Wes Weekend"]  # Sunday all day
    # 23:30 UTC on Friday is 18:30 in New York: the practice's zone decides, not UTC's date.
    assert names(datetime(2026, 12, 4, 23, 30, tzinfo=ZoneInfo("UTC"))) == ["Wes Weekend"]
    assert names(local(2026, 12, 24, 17, 0)) == []
    assert names(local(2026, 12, 25, 12, 0)) == ["Dee Dated"]
    assert names(local(2026, 12, 27, 8, 0)) == ["Wes Weekend"]  # Sunday; the dated shift is over
    assert AuditEvent.objects.filter(action="oncall.shift_add").count() == 3


def test_refusals_name_the_field(practice, manager, weekend_nurse):
    no_phone = make_staff(practice, "Nat Nophone", Role.NURSE)
    cases = [
        ({"staff_id": no_phone.pk, "weekdays": ["1"]}, "staff:"),
        ({"staff_id": 999999, "weekdays": ["1"]}, "staff:"),
        ({"staff_id": weekend_nurse.pk, "weekdays": ["9"]}, "weekdays:"),
        ({"staff_id": weekend_nurse.pk}, "start_date:"),
        ({"staff_id": weekend_nurse.pk, "weekdays": ["1"], "start_time": "25:00"}, "start_time:"),
        ({"staff_id": weekend_nurse.pk, "start_date": "2026-12-05", "end_date": "2026-12-04"}, "end_date:"),
        ({"staff_id": weekend_nurse.pk, "start_date": "soon", "end_date": "2026-12-04"}, "start_date:"),
    ]
    for kwargs, field in cases:
        with pytest.raises(rota.RotaError, match=field):
            rota.shift_add(actor=manager, **kwargs)
    nurse = make_staff(practice, "Nora Nurse", Role.NURSE)
    with pytest.raises(rota.RotaNotAllowed):
        rota.shift_add(actor=nurse, staff_id=weekend_nurse.pk, weekdays=["1"])


def test_the_rota_person_is_paged_first_then_the_list(practice, sms_channel, on_call, manager, weekend_nurse):
    patel, kim = on_call
    conversation, alert = urgent(sms_channel)
    rota.shift_add(
        actor=manager,
        staff_id=weekend_nurse.pk,
        weekdays=[str(d) for d in range(7)],
        start_time="00:00",
        end_time="00:00",
    )
    rota.shift_add(
        actor=manager, staff_id=kim.pk, weekdays=[str(d) for d in range(7)], start_time="00:00", end_time="00:00"
    )
    targets = on_call_targets(routing_settings(practice.pk))
    assert [t.label for t in targets] == ["Wes Weekend", "Grace Kim", "Dr Patel"]  # Kim not twice
    with at(alert, 6):
        assert urgent_escalate_due() == 1
        drain()
    with at(alert, 12):
        assert urgent_escalate_due() == 1
        drain()
    assert [p.metadata["to_address"] for p in pages()] == [ROTA_PHONE, KIM]
    assert lines(conversation)[0] == "Not acknowledged in 5 min: paging Wes Weekend (on call)"


def test_a_disabled_person_on_the_rota_is_not_paged(practice, manager, weekend_nurse):
    rota.shift_add(
        actor=manager,
        staff_id=weekend_nurse.pk,
        weekdays=[str(d) for d in range(7)],
        start_time="00:00",
        end_time="00:00",
    )
    weekend_nurse.is_active = False
    weekend_nurse.save(update_fields=["is_active"])
    assert rota.on_shift(practice.pk) == []


def test_a_page_waiting_for_its_retry_is_not_sent_once_acknowledged(practice, sms_channel, on_call, monkeypatch):
    real_send = SimulatorConnector.send

    def flaky(self, channel, message):
        if message.to_address == PATEL:
            raise RetryableSendError("provider timeout")
        return real_send(self, channel, message)

    monkeypatch.setattr(SimulatorConnector, "send", flaky)
    patel, kim = on_call
    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        urgent_escalate_due()
        drain()
        [page] = pages()
        page.refresh_from_db()
        assert page.status == DeliveryStatus.QUEUED and page.attempts == 1
        urgent_acknowledge(conversation=conversation, staff=kim)
    monkeypatch.setattr(SimulatorConnector, "send", real_send)  # the provider is back
    with at(alert, 7):
        drain()
        assert urgent_escalate_due() == 0
    page.refresh_from_db()
    assert page.status == DeliveryStatus.FAILED and page.failure_code == "page-cancelled"
    assert [line for line in simulator_outbox(sms_channel.key) if line["to"] == PATEL] == []
    assert "On-call page to Dr Patel not sent: the alert was acknowledged" in lines(conversation)
    assert AuditEvent.objects.filter(action="urgent.page_cancelled").count() == 1
    assert len(pages()) == 1  # nobody else paged


def test_on_call_page_adds_and_removes_shifts(practice, manager, weekend_nurse):
    client = Client()
    client.force_login(manager.user)
    page = client.get("/settings/on-call/")
    assert page.status_code == 200 and "Wes Weekend" in page.content.decode()
    bad = client.post("/settings/on-call/add", {"staff": str(weekend_nurse.pk), "start_time": "18:00"})
    assert bad.status_code == 400 and "start_date:" in bad.content.decode()
    done = client.post(
        "/settings/on-call/add",
        {"staff": str(weekend_nurse.pk), "weekdays": ["5", "6"], "start_time": "00:00", "end_time": "00:00"},
    )
    assert done.status_code == 302
    shift = OnCallShift.objects.get(staff=weekend_nurse)
    assert "Every Sat, Sun, all day" in client.get("/settings/on-call/").content.decode()
    assert client.post(f"/settings/on-call/{shift.pk}/remove").status_code == 302
    assert not OnCallShift.objects.exists()
    assert AuditEvent.objects.filter(action="oncall.shift_remove").count() == 1
    nurse = make_staff(practice, "Nora Nurse", Role.NURSE)
    other = Client()
    other.force_login(nurse.user)
    assert other.get("/settings/on-call/").status_code == 403


def test_time_is_now_by_default(practice, manager, weekend_nurse):
    today = clock.now().astimezone(NY).weekday()
    rota.shift_add(
        actor=manager, staff_id=weekend_nurse.pk, weekdays=[str(today)], start_time="00:00", end_time="00:00"
    )
    assert rota.on_shift(practice.pk) == [weekend_nurse]
