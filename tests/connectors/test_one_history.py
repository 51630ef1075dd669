"""One patient, one history, through the real WhatsApp and Twilio webhooks: the same number on
both channels is one person in one conversation, and a new number is never attached to someone
else."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.conversations.models import Conversation, Message
from converge.conversations.outbox import outbox_dispatch_batch
from converge.conversations.services import message_queue, reply_channel_default
from converge.patients.models import ContactPoint, Patient
from tests.connectors.channels import (
    sms_channel,
    twilio_fixture,
    twilio_post,
    wa_channel,
    wa_post,
    wa_text_notification,
)
from tests.worker import run_inbound

pytestmark = pytest.mark.django_db


def test_whatsapp_then_sms_from_the_same_number_is_one_history(practice, fake_graph, fake_twilio, staff):
    client = Client()
    whatsapp = wa_channel(practice, fake_graph)
    sms = sms_channel(practice, fake_twilio)
    assert wa_post(client, whatsapp, wa_text_notification("wamid.one", "Hi on WhatsApp")).status_code == 200
    run_inbound()
    params = twilio_fixture("inbound_sms", From="+16505551234", Body="And now by text: are you open on Saturday?")
    assert twilio_post(client, sms, params, token=fake_twilio.auth_token).status_code == 200
    run_inbound()

    assert Patient.objects.count() == 1
    patient = Patient.objects.get()
    assert sorted(ContactPoint.objects.filter(patient=patient).values_list("kind", "address")) == [
        ("sms", "+16505551234"),
        ("whatsapp", "+16505551234"),
    ]
    conversation = Conversation.objects.get()
    assert [(m.channel.kind, m.body) for m in conversation.messages.order_by("id")] == [
        ("whatsapp", "Hi on WhatsApp"),
        ("sms", "And now by text: are you open on Saturday?"),
    ]
    # A reply defaults to where the patient last wrote, and goes out on that provider.
    assert reply_channel_default(conversation) == sms
    message_queue(conversation=conversation, channel=sms, body="Got both, thanks!", sender=staff)
    message_queue(conversation=conversation, channel=whatsapp, body="Also here.", sender=staff)
    assert outbox_dispatch_batch() == 2
    assert fake_twilio.requests_on("send")[0].form()["To"] == ["+16505551234"]
    assert fake_graph.requests_on("send")[0].json()["to"] == "+16505551234"


def test_an_unknown_number_is_never_attached_to_another_patient(practice, fake_twilio):
    client = Client()
    sms = sms_channel(practice, fake_twilio)
    twilio_post(client, sms, twilio_fixture("inbound_sms", From="+16505551234"), token=fake_twilio.auth_token)
    run_inbound()
    other = twilio_fixture("inbound_sms", From="+16505551235", MessageSid="SMother", SmsSid="SMother")
    twilio_post(client, sms, other, token=fake_twilio.auth_token)
    run_inbound()
    first, second = (m.patient for m in Message.objects.order_by("id"))
    assert first.pk != second.pk
    assert not first.is_verified and not second.is_verified
    assert Conversation.objects.count() == 2
