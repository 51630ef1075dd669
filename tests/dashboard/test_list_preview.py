"""The inbox list's one-line preview is what the patient last wrote (issue 13 #5): an automatic
reply ("Thanks for your message…") or a staff reply after it does not replace it; the row says
"Replied" or "Automatic reply" instead. A conversation the patient has not written in yet shows
the practice's last message as "You: …". Same query count; clinical confidentiality as before."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from converge.conversations import services
from converge.conversations.models import Conversation
from converge.conversations.selectors import ConversationFilter, inbox_page
from converge.core import clock
from converge.core.principal import staff_principal
from converge.practices.models import Role
from converge.privacy.guard import privacy_settings
from converge.providers.types import DeliveryStatus
from tests.dashboard.conftest import HTMX
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

PATIENT_TEXT = "Can I move my Tuesday appointment to Friday?"
AUTO_TEXT = "Thanks for your message, we will reply within one business day."


def _row(client, conversation: Conversation) -> str:
    page = client.get("/inbox/list?view=all", headers=HTMX).content.decode()
    rows = re.findall(r'<li class="row[^"]*"[^>]*data-conversation-id="(\d+)">(.*?)</li>', page, re.S)
    return next(html for pk, html in rows if int(pk) == conversation.pk)


def _preview(row_html: str) -> str:
    return re.search(r'<span class="preview">(.*?)</span>\s*<span class="row-meta">', row_html, re.S).group(1)


@pytest.fixture
def asked(sms_channel):
    return receive(sms_channel, "+15552017730", PATIENT_TEXT).message.conversation


def test_automatic_reply_does_not_replace_the_patients_text(client, asked, sms_channel):
    services.message_queue(conversation=asked, channel=sms_channel, body=AUTO_TEXT, sender=None, is_automatic=True)
    preview = _preview(_row(client, asked))
    assert PATIENT_TEXT in preview
    assert "Thanks for your message" not in preview and "You:" not in preview
    assert "Automatic reply" in preview and "Replied" not in preview


def test_staff_reply_keeps_the_patients_text_and_says_replied(client, asked, sms_channel, staff):
    services.message_queue(conversation=asked, channel=sms_channel, body=AUTO_TEXT, sender=None, is_automatic=True)
    services.message_queue(conversation=asked, channel=sms_channel, body="Yes, Friday 10am works.", sender=staff)
    preview = _preview(_row(client, asked))
    assert PATIENT_TEXT in preview and "Friday 10am" not in preview
    assert "Replied" in preview and "Automatic reply" not in preview


def test_a_new_patient_message_shows_without_a_marker(client, asked, sms_channel, staff):
    services.message_queue(conversation=asked, channel=sms_channel, body="Yes, Friday 10am works.", sender=staff)
    receive(sms_channel, "+15552017730", "Great, thank you!")
    preview = _preview(_row(client, asked))
    assert "Great, thank you!" in preview and PATIENT_TEXT not in preview
    assert "Replied" not in preview and "Automatic reply" not in preview


def test_without_a_patient_message_the_practices_last_message_shows(client, practice, sms_channel, staff):
    asked = receive(sms_channel, "+15552017731", "hello").message.conversation
    services.conversation_set_status(conversation=asked, actor=staff, status="resolved")
    # A conversation the practice started: only outbound messages.
    started = Conversation.objects.create(
        practice=practice,
        patient=asked.patient,
        last_message_at=clock.now(),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    services.message_queue(conversation=started, channel=sms_channel, body="Your results are ready", sender=staff)
    preview = _preview(_row(client, started))
    assert "You:" in preview and "Your results are ready" in preview


def test_preview_is_escaped(client, sms_channel):
    conversation = receive(sms_channel, "+15552017732", "<b>bold</b>").message.conversation
    services.message_queue(
        conversation=conversation, channel=sms_channel, body=AUTO_TEXT, sender=None, is_automatic=True
    )
    preview = _preview(_row(client, conversation))
    assert "&lt;b&gt;bold&lt;/b&gt;" in preview


def test_query_count_is_unchanged_with_replies(staff, sms_channel):
    for n in range(12):
        conversation = receive(sms_channel, f"+155520191{n:02d}", f"question {n}").message.conversation
        if n % 3 == 0:
            services.message_queue(
                conversation=conversation, channel=sms_channel, body=AUTO_TEXT, sender=None, is_automatic=True
            )
        elif n % 3 == 1:
            services.message_queue(conversation=conversation, channel=sms_channel, body=f"answer {n}", sender=staff)
    principal = staff_principal(staff)

    def queries(limit: int) -> tuple[int, list[Conversation]]:
        with CaptureQueriesContext(connection) as captured:
            rows = inbox_page(principal=principal, filters=ConversationFilter(view="all"), limit=limit)
            for row in rows:
                (row.last_preview, row.preview_marker, row.preview_from_practice)  # type: ignore[attr-defined]
        return len(captured.captured_queries), rows

    few, _ = queries(2)
    many, rows = queries(12)
    assert few == many <= 3
    assert all(row.last_preview.startswith("question") for row in rows)  # type: ignore[attr-defined]
    markers = {row.last_preview: row.preview_marker for row in rows}  # type: ignore[attr-defined]
    assert markers["question 0"] == "automatic" and markers["question 1"] == "replied" and markers["question 2"] == ""


def test_front_desk_list_still_leaves_out_clinical_conversations(practice, sms_channel):
    settings = privacy_settings(practice.pk)
    settings.clinical_confidentiality = True
    settings.invite_to_portal_on_clinical = False
    settings.save()
    clinical = receive(sms_channel, "+15552017733", "my blood test results show the incision is oozing")
    clinical.message.conversation.refresh_from_db()
    assert clinical.message.conversation.category in ("clinical", "urgent", "refill")
    front = make_staff(practice, "Fran Desk", Role.FRONT_DESK)
    rows = inbox_page(principal=staff_principal(front), filters=ConversationFilter(view="all"))
    assert clinical.message.conversation.pk not in {r.pk for r in rows}


def test_a_failed_staff_reply_is_not_replied(client, asked, sms_channel, staff):
    reply = services.message_queue(conversation=asked, channel=sms_channel, body="Yes, Friday works.", sender=staff)
    reply.status = DeliveryStatus.FAILED
    reply.save(update_fields=["status"])
    preview = _preview(_row(client, asked))
    assert PATIENT_TEXT in preview and "Replied" not in preview
