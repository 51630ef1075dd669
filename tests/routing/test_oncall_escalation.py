"""The escalation cannot be lost (issue 14 item 4): an urgent alert nobody acknowledges pages the
on-call list in order through the outbox (retries, rate limit, a sent/failed record); a page that
fails for good or is not acknowledged in N minutes pages the next person; after the last it starts
again, and after three rounds it stops with a "nobody acknowledged" line. Acknowledging stops it.
Every step is a line on the conversation's timeline and an audit row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client

from converge.audit.models import AuditEvent
from converge.connectors.simulate import simulator_outbox
from converge.conversations.models import STAFF_PAGE_KIND, ConversationEvent, Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.selectors import message_list, thread_page
from converge.core import clock
from converge.patients.models import Patient
from converge.practices.models import Role
from converge.providers.simulator.connector import SimulatorConnector
from converge.providers.types import DeliveryStatus, RetryableSendError
from converge.routing.models import UrgentAlert
from converge.routing.oncall import ON_CALL_ROUNDS, on_call_list_parse, on_call_list_text
from converge.routing.services import routing_settings, urgent_acknowledge, urgent_escalate_due
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

URGENT_TEXT = "crushing chest pain and my left arm is numb"
PATEL, KIM = "+15559870001", "+15559870002"
UNREACHABLE = "+15550001111"  # the simulator fails +1555000… numbers permanently


def drain() -> None:
    while outbox_dispatch_batch():
        pass


@pytest.fixture
def on_call(practice, sms_channel):
    patel = make_staff(practice, "Dr Patel", Role.PROVIDER, phone=PATEL)
    kim = make_staff(practice, "Grace Kim", Role.NURSE, team_slugs=("nursing",), phone=KIM)
    settings = routing_settings(practice.pk)
    settings.on_call_list = [{"staff": patel.pk}, {"staff": kim.pk}]
    settings.on_call_channel = sms_channel
    settings.urgent_ack_minutes = 5
    settings.save()
    return patel, kim


def urgent(sms_channel, sender: str = "+15552017788"):
    message = receive(sms_channel, sender, URGENT_TEXT).message
    Patient.objects.filter(pk=message.patient_id).update(first_name="Ana", last_name="Reyes", is_verified=True)
    drain()  # the safety reply to the patient
    return message.conversation, UrgentAlert.objects.get(conversation=message.conversation)


def pages() -> list[Message]:
    return list(Message.objects.filter(kind=STAFF_PAGE_KIND).order_by("id"))


def lines(conversation) -> list[str]:
    return list(
        ConversationEvent.objects.filter(conversation=conversation)
        .exclude(kind="urgent")
        .order_by("id")
        .values_list("text", flat=True)
    )


def actions(conversation) -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="urgent.", patient_id=conversation.patient_id)
        .order_by("id")
        .values_list("action", flat=True)
    )


def at(alert, minutes: float):
    return clock.frozen(alert.created_at + timedelta(minutes=minutes))


def test_page_is_queued_through_the_outbox_with_the_address_and_no_phi(practice, sms_channel, on_call):
    conversation, alert = urgent(sms_channel)
    with at(alert, 4):
        assert urgent_escalate_due() == 0  # staff on screen get the first N minutes
    with at(alert, 6):
        assert urgent_escalate_due() == 1
        [page] = pages()
        assert page.status == DeliveryStatus.QUEUED and page.metadata["to_address"] == PATEL
        assert page.conversation_id == conversation.pk and page.contact_point_id is None
        link = f"{django_settings.PUBLIC_BASE_URL.rstrip('/')}/c/{conversation.pk}/"
        assert page.body == f"Urgent message waiting at Sunrise Family Clinic: {link}"
        for phi in ("Ana", "Reyes", "chest", "arm", "+15552017788"):
            assert phi not in page.body
        drain()
    page.refresh_from_db()
    assert page.status == DeliveryStatus.SENT
    sent = [line for line in simulator_outbox(sms_channel.key) if line["to"] == PATEL]
    assert [line["body"] for line in sent] == [page.body]
    # The page is not a message to the patient: not in the thread, the API list or the preview.
    assert page.pk not in {m.pk for m in message_list(conversation=conversation)}
    assert page.pk not in {getattr(i, "pk", None) for i in thread_page(conversation=conversation).items}
    assert lines(conversation)[0] == "Not acknowledged in 5 min: paging Dr Patel (on call)"
    assert lines(conversation)[1].startswith("On-call page to Dr Patel sent ")
    assert actions(conversation) == ["urgent.page", "urgent.page_sent"]
    for row in AuditEvent.objects.filter(action__startswith="urgent.page"):
        assert PATEL not in str(row.detail) and "Patel" not in str(row.detail)


def test_unreachable_page_fails_and_the_next_person_is_paged(practice, sms_channel, on_call):
    patel, kim = on_call
    patel.phone = UNREACHABLE
    patel.save(update_fields=["phone"])
    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        assert urgent_escalate_due() == 1
        drain()
        first = pages()[0]
        first.refresh_from_db()
        assert first.status == DeliveryStatus.FAILED
        # A failed page does not wait for the N minutes: the next check pages the next person.
        assert urgent_escalate_due() == 1
        drain()
    assert [p.metadata["to_address"] for p in pages()] == [UNREACHABLE, KIM]
    assert [line["to"] for line in simulator_outbox(sms_channel.key) if line["to"] == KIM] == [KIM]
    text = lines(conversation)
    assert text[1] == "On-call page to Dr Patel failed: simulated: number is not reachable"
    assert text[2] == "Paging Grace Kim, next on call"
    assert text[3].startswith("On-call page to Grace Kim sent ")
    assert actions(conversation) == ["urgent.page", "urgent.page_failed", "urgent.page", "urgent.page_sent"]


def test_no_acknowledgement_in_n_minutes_pages_the_next_person(practice, sms_channel, on_call):
    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        urgent_escalate_due()
        drain()
    with at(alert, 10):
        assert urgent_escalate_due() == 0  # Dr Patel still has until minute 11
    with at(alert, 11.5):
        assert urgent_escalate_due() == 1
        drain()
    assert [p.metadata["to_address"] for p in pages()] == [PATEL, KIM]
    assert "No acknowledgement in 5 min: paging Grace Kim" in lines(conversation)
    assert actions(conversation) == ["urgent.page", "urgent.page_sent", "urgent.page", "urgent.page_sent"]


def test_after_the_last_person_it_starts_again_then_stops_with_a_clear_line(practice, sms_channel, on_call):
    conversation, alert = urgent(sms_channel)
    minute = 6.0
    for _ in range(2 * ON_CALL_ROUNDS):
        with at(alert, minute):
            assert urgent_escalate_due() == 1
            drain()
        minute += 5.5
    assert [p.metadata["to_address"] for p in pages()] == [PATEL, KIM] * ON_CALL_ROUNDS
    with at(alert, minute):
        assert urgent_escalate_due() == 0
    with at(alert, minute + 60):
        assert urgent_escalate_due() == 0
    assert lines(conversation)[-1] == (
        f"Nobody acknowledged: everyone on call was paged {ON_CALL_ROUNDS} times. Paging stopped; "
        "the alert stays in Urgent until someone acknowledges it"
    )
    assert actions(conversation)[-1] == "urgent.escalation_stopped"
    alert.refresh_from_db()
    assert alert.acknowledged_at is None and alert.next_escalation_at is None


def test_acknowledging_stops_further_pages(practice, sms_channel, on_call):
    patel, kim = on_call
    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        urgent_escalate_due()
        drain()
    with at(alert, 7):
        assert urgent_acknowledge(conversation=conversation, staff=kim) == 1
    for minute in (12, 30, 120):
        with at(alert, minute):
            assert urgent_escalate_due() == 0
    assert len(pages()) == 1
    assert lines(conversation)[-1] == "Urgent alert acknowledged by Grace Kim: on-call paging stopped"
    assert actions(conversation) == ["urgent.page", "urgent.page_sent", "urgent.acknowledge"]


def test_acknowledged_before_any_page_nobody_is_paged(practice, sms_channel, on_call):
    patel, kim = on_call
    conversation, alert = urgent(sms_channel)
    urgent_acknowledge(conversation=conversation, staff=kim)
    with at(alert, 30):
        assert urgent_escalate_due() == 0
    assert pages() == []
    assert lines(conversation) == ["Urgent alert acknowledged by Grace Kim"]


def test_a_transient_failure_is_retried_by_the_outbox_without_paging_twice(practice, sms_channel, on_call, monkeypatch):
    real_send = SimulatorConnector.send
    failures = []

    def flaky(self, channel, message):
        if message.to_address == PATEL and not failures:
            failures.append(message.idempotency_key)
            raise RetryableSendError("provider timeout")
        return real_send(self, channel, message)

    monkeypatch.setattr(SimulatorConnector, "send", flaky)
    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        urgent_escalate_due()
        drain()
        [page] = pages()
        page.refresh_from_db()
        assert page.status == DeliveryStatus.QUEUED and page.attempts == 1  # waits its backoff
        assert urgent_escalate_due() == 0  # a retry is not a failure: nobody else is paged
    with at(alert, 6.5):
        drain()
        assert urgent_escalate_due() == 0
    page.refresh_from_db()
    assert page.status == DeliveryStatus.SENT and page.attempts == 2
    assert failures == [str(page.idempotency_key)]
    assert [line["to"] for line in simulator_outbox(sms_channel.key) if line["to"] in (PATEL, KIM)] == [PATEL]
    assert len(pages()) == 1
    assert not any("failed" in text for text in lines(conversation))
    assert actions(conversation) == ["urgent.page", "urgent.page_sent"]


def test_several_urgent_messages_in_one_conversation_page_once(practice, sms_channel, on_call):
    conversation, alert = urgent(sms_channel)
    receive(sms_channel, "+15552017788", "I can't breathe now too")
    assert UrgentAlert.objects.filter(conversation=conversation).count() == 2
    with at(alert, 6):
        assert urgent_escalate_due() == 1
    assert len(pages()) == 1


def test_without_an_on_call_list_the_timeline_says_so_once_and_it_keeps_checking(practice, sms_channel):
    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        assert urgent_escalate_due() == 0
    with at(alert, 12):
        assert urgent_escalate_due() == 0
    assert pages() == []
    assert lines(conversation) == ["On-call page not sent: no on-call list (Settings → Policies)"]
    alert.refresh_from_db()
    assert alert.escalation_error == "no on-call list" and alert.next_escalation_at is not None
    assert actions(conversation) == ["urgent.page_not_sent"]


def test_other_practice_is_untouched(practice, other_practice, sms_channel, on_call):
    from converge.connectors.services import simulator_channel_create

    other_channel = simulator_channel_create(practice=other_practice, kind="sms")
    other_nurse = make_staff(other_practice, "Lee Park", Role.NURSE, phone="+15559870009")
    other_settings = routing_settings(other_practice.pk)
    other_settings.on_call_list = [{"staff": other_nurse.pk}]
    other_settings.urgent_ack_minutes = 30
    other_settings.save()
    other_conversation, other_alert = urgent(other_channel)
    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        assert urgent_escalate_due() == 1
        drain()
        urgent_acknowledge(conversation=conversation, staff=on_call[1])
    assert {p.practice_id for p in pages()} == {practice.pk}
    other_alert.refresh_from_db()
    assert other_alert.acknowledged_at is None and other_alert.page_step == 0
    assert lines(other_conversation) == []
    assert not AuditEvent.objects.filter(practice_id=other_practice.pk, action__startswith="urgent.").exists()
    with at(other_alert, 31):
        assert urgent_escalate_due() == 1  # its own list, its own N minutes, on its own channel
    [other_page] = [p for p in pages() if p.practice_id == other_practice.pk]
    assert other_page.metadata["to_address"] == "+15559870009" and other_page.channel_id == other_channel.pk
    assert "Harbor Pediatrics" in other_page.body


def test_on_call_list_parses_staff_and_e164_numbers(practice, on_call):
    patel, kim = on_call
    assert on_call_list_parse(practice.pk, "Dr Patel\n+1 555 987 0003, grace kim") == [
        {"staff": patel.pk},
        {"phone": "+15559870003"},
        {"staff": kim.pk},
    ]
    assert on_call_list_parse(practice.pk, " \n") == []
    for bad, why in (
        ("555-1234", "E.164"),
        ("+12", "E.164"),
        ("Nobody Here", "no active staff member"),
    ):
        with pytest.raises(ValueError, match=why):
            on_call_list_parse(practice.pk, bad)
    make_staff(practice, "Sam Nophone", Role.NURSE)
    with pytest.raises(ValueError, match="no mobile number"):
        on_call_list_parse(practice.pk, "Sam Nophone")


def test_policies_page_edits_the_on_call_list(practice, on_call):
    patel, kim = on_call
    manager = make_staff(practice, "Sarah Manager", Role.MANAGER)
    client = Client()
    client.force_login(manager.user)
    form = {"form": "routing", "urgent_ack_minutes": "7", "on_call_list": "Grace Kim\n+15559870003"}
    for category in ("administrative", "scheduling", "refill", "clinical", "urgent"):
        form |= {f"{category}-team": "", f"{category}-priority": "1", f"{category}-minutes": "240"}
    assert client.post("/settings/policies/", form).status_code == 302
    settings = routing_settings(practice.pk)
    assert settings.on_call_list == [{"staff": kim.pk}, {"phone": "+15559870003"}]
    assert settings.urgent_ack_minutes == 7
    assert on_call_list_text(settings) == "Grace Kim\n+15559870003"
    assert "Grace Kim\n+15559870003" in client.get("/settings/policies/").content.decode()
    assert AuditEvent.objects.filter(action="routing.on_call").exists()
    response = client.post("/settings/policies/", form | {"on_call_list": "555-1234"}, follow=True)
    assert "Not saved" in response.content.decode()
    assert routing_settings(practice.pk).on_call_list == [{"staff": kim.pk}, {"phone": "+15559870003"}]


def test_a_carrier_report_that_a_sent_page_failed_pages_the_next_person(practice, sms_channel, on_call):
    from converge.conversations.inbound.pipeline import message_status_apply
    from converge.providers.types import StatusUpdate

    conversation, alert = urgent(sms_channel)
    with at(alert, 6):
        urgent_escalate_due()
        drain()
        [page] = pages()
        page.refresh_from_db()
        update = StatusUpdate(
            provider_message_id=page.provider_message_id,
            status=DeliveryStatus.FAILED,
            error_code="30003",
            error_reason="unreachable",
        )
        message_status_apply(channel=sms_channel, update=update)
        assert urgent_escalate_due() == 1
    assert [p.metadata["to_address"] for p in pages()] == [PATEL, KIM]
    assert "On-call page to Dr Patel failed: unreachable" in lines(conversation)
    assert "Paging Grace Kim, next on call" in lines(conversation)
