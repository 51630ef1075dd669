"""SMS carrier keywords (PROTOCOLS.md): STOP, START and HELP on every SMS channel — the simulator
for the demo, Twilio in production — through the real inbound pipeline and outbox."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.connectors.policy import OPT_OUT_CONFIRMATION
from converge.connectors.simulate import simulator_outbox
from converge.conversations.models import Direction, Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import ServiceError, message_queue
from converge.patients.models import ContactPoint
from converge.providers.types import DeliveryStatus
from tests.connectors.channels import sms_channel as twilio_channel
from tests.connectors.channels import twilio_fixture, twilio_post
from tests.helpers import receive
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db

PATIENT = "+15552017788"


@pytest.fixture(autouse=True)
def practice_phone(practice):
    practice.phone = "(555) 201-0000"
    practice.save(update_fields=["phone"])


def contact() -> ContactPoint:
    return ContactPoint.objects.get(kind="sms", address=PATIENT)


def replies() -> list[Message]:
    """The keyword answers (other automatic messages, e.g. routing's safety replies, aside)."""
    outbound = Message.objects.filter(direction=Direction.OUTBOUND, is_automatic=True)
    return list(outbound.filter(metadata__has_key="keyword_reply").order_by("id"))


def test_stop_opts_out_with_one_confirmation_and_nothing_after(sms_channel, staff):
    conversation = receive(sms_channel, PATIENT, "Can you call me back?").message.conversation
    waiting = message_queue(conversation=conversation, channel=sms_channel, body="We will call at 2pm.", sender=staff)
    stop = receive(sms_channel, PATIENT, "STOP").message
    assert Message.objects.filter(pk=stop.pk, body="STOP").exists()  # the patient's message is kept and shown
    assert contact().opted_out
    [confirmation] = replies()
    assert confirmation.metadata[OPT_OUT_CONFIRMATION] is True
    assert "unsubscribed" in confirmation.body and "Sunrise Family Clinic" in confirmation.body
    assert AuditEvent.objects.filter(action="contact_point.update", object_id=str(contact().pk)).exists()

    outbox_dispatch_batch()
    confirmation.refresh_from_db()
    waiting.refresh_from_db()
    assert confirmation.status == DeliveryStatus.SENT  # the only message allowed after opt-out
    assert (waiting.status, waiting.failure_reason) == (DeliveryStatus.FAILED, "opted out")
    assert [line["body"] for line in simulator_outbox(sms_channel.key)] == [confirmation.body]

    with pytest.raises(ServiceError, match="opted out"):
        message_queue(conversation=conversation, channel=sms_channel, body="One more thing", sender=staff)
    receive(sms_channel, PATIENT, "stop")  # a second STOP gets no second confirmation
    receive(sms_channel, PATIENT, "help")  # nor does anything else
    assert len(replies()) == 1


@pytest.mark.parametrize("word", ["Stop.", "  unsubscribe ", "CANCEL", "quit!", "OptOut", "STOPALL", "end", "Revoke"])
def test_every_stop_word_counts(sms_channel, word):
    receive(sms_channel, PATIENT, word)
    assert contact().opted_out


@pytest.mark.parametrize("text", ["stop texting me please", "Please cancel my appointment", "STOP STOP", "help me"])
def test_keywords_count_only_as_the_whole_message(sms_channel, text):
    receive(sms_channel, PATIENT, text)
    assert not contact().opted_out
    assert replies() == []


def test_start_opts_back_in_with_a_confirmation(sms_channel, staff):
    conversation = receive(sms_channel, PATIENT, "STOP").message.conversation
    receive(sms_channel, PATIENT, "Start")
    assert not contact().opted_out
    confirmation = replies()[-1]
    assert "subscribed" in confirmation.body and "again" in confirmation.body
    assert OPT_OUT_CONFIRMATION not in confirmation.metadata
    assert message_queue(conversation=conversation, channel=sms_channel, body="Welcome back", sender=staff)
    outbox_dispatch_batch()
    assert len(simulator_outbox(sms_channel.key)) == 3


def test_yes_from_a_subscribed_patient_is_just_an_answer(sms_channel):
    receive(sms_channel, PATIENT, "Yes")
    assert not contact().opted_out
    assert replies() == []


def test_help_names_the_practice_and_its_phone(sms_channel, practice):
    receive(sms_channel, PATIENT, "HELP")
    [reply] = replies()
    assert reply.body == (
        "Sunrise Family Clinic: for help call (555) 201-0000 or reply to this message. "
        "Msg&data rates may apply. Reply STOP to opt out."
    )
    assert not contact().opted_out
    practice.phone = ""
    practice.save(update_fields=["phone"])
    receive(sms_channel, PATIENT, "info")
    assert "call" not in replies()[-1].body and "Msg&data rates may apply" in replies()[-1].body


def test_spanish_speakers_get_spanish_confirmations(sms_channel):
    message = receive(sms_channel, PATIENT, "hola").message
    message.patient.language = "es"
    message.patient.save(update_fields=["language"])
    receive(sms_channel, PATIENT, "STOP")
    assert "baja" in replies()[-1].body


def test_whatsapp_has_no_carrier_keywords(whatsapp_channel):
    receive(whatsapp_channel, PATIENT, "STOP")
    assert not ContactPoint.objects.get(kind="whatsapp").opted_out
    assert replies() == []


def test_opt_out_on_sms_leaves_whatsapp_alone(sms_channel, whatsapp_channel):
    receive(whatsapp_channel, PATIENT, "hi")
    receive(sms_channel, PATIENT, "STOP")
    assert contact().opted_out
    assert not ContactPoint.objects.get(kind="whatsapp").opted_out


# --- Twilio ------------------------------------------------------------------------------------


@pytest.fixture
def client() -> Client:
    return Client()


def test_twilio_stop_is_recorded_and_twilio_confirms_it(client, practice):
    channel = twilio_channel(practice)  # keyword_replies defaults to "provider"
    response = twilio_post(client, channel, twilio_fixture("inbound_stop"))
    run_inbound()
    assert response.status_code == 200
    assert ContactPoint.objects.get(kind="sms", address="+14155550123").opted_out
    assert replies() == []  # Twilio already sent the confirmation (and would refuse ours: 21610)
    assert Message.objects.get(direction=Direction.INBOUND).body == "Stop"


def test_twilio_help_is_answered_by_converge(client, practice, fake_twilio):
    channel = twilio_channel(practice, fake_twilio)
    twilio_post(client, channel, twilio_fixture("inbound_sms", Body="HELP"), token=fake_twilio.auth_token)
    run_inbound()
    [reply] = replies()
    assert "Sunrise Family Clinic" in reply.body and "(555) 201-0000" in reply.body
    outbox_dispatch_batch()
    assert fake_twilio.requests_on("send")[0].form()["Body"] == [reply.body]


def test_twilio_with_converge_keyword_replies_sends_the_one_confirmation(client, practice, fake_twilio):
    channel = twilio_channel(practice, fake_twilio, keyword_replies="converge")
    params = twilio_fixture("inbound_sms", Body="STOP")
    twilio_post(client, channel, params, token=fake_twilio.auth_token)
    run_inbound()
    assert ContactPoint.objects.get(kind="sms").opted_out
    outbox_dispatch_batch()
    [request] = fake_twilio.requests_on("send")
    assert "unsubscribed" in request.form()["Body"][0]


def test_advanced_opt_out_reply_is_not_doubled(client, practice, fake_twilio):
    channel = twilio_channel(practice, fake_twilio, keyword_replies="converge")
    params = twilio_fixture("inbound_sms", Body="HELP", OptOutType="HELP")
    twilio_post(client, channel, params, token=fake_twilio.auth_token)
    run_inbound()
    assert replies() == []
