"""The three-pane inbox: views with counts, the list, the thread, the patient panel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from converge.audit.models import AuditEvent
from converge.connectors.services import simulator_channel_create
from converge.conversations import services
from converge.conversations.models import Conversation, ConversationEvent, ConversationRead, Message, Note
from converge.conversations.selectors import (
    THREAD_EARLIER_PAGE,
    THREAD_PAGE,
    ConversationFilter,
    inbox_counts,
    inbox_page,
    thread_page,
)
from converge.core import clock
from converge.core.principal import staff_principal
from converge.patients.models import Patient
from converge.patients.services import contact_point_add
from converge.providers.types import DeliveryStatus
from converge.scheduling.models import Appointment, Provider
from tests.dashboard.conftest import HTMX
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def test_inbox_page_has_three_panes_with_counts_and_rows(client, conversation):
    page = client.get("/").content.decode()
    assert 'id="views-pane"' in page and 'id="list-pane"' in page and 'id="conversation-pane"' in page
    assert re.search(r'id="count-all">1<', page)
    assert re.search(r'id="count-unassigned">1<', page)
    assert re.search(r'id="count-mine">0<', page)
    assert "Unknown +1 555-201-7788" in page
    assert "Can I get a refill?" in page  # the preview
    assert "Unread" in page  # never opened by this member
    assert 'class="visually-hidden">SMS<' in page  # the channel icon's accessible name
    assert "No conversation open" in page


def test_opening_a_conversation_renders_thread_composer_and_patient_panel(client, conversation, staff):
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert 'id="thread-items"' in page and 'id="reply-form"' in page and 'id="patient-panel"' in page
    assert "Can I get a refill?" in page
    assert "Link to a patient" in page  # an unknown sender
    assert "Unverified sender" in page
    pane = client.get(f"/c/{conversation.pk}/", headers=HTMX).content.decode()
    assert pane.lstrip().startswith('<div class="conversation"')
    assert "<html" not in pane
    assert AuditEvent.objects.filter(action="conversation.read", object_id=str(conversation.pk)).count() == 2
    assert AuditEvent.objects.filter(action="patient.read", patient_id=conversation.patient_id).exists()
    assert not ConversationRead.objects.filter(conversation=conversation, staff=staff).exists()  # GETs write nothing
    assert client.post(f"/c/{conversation.pk}/read").status_code == 204
    assert ConversationRead.objects.filter(conversation=conversation, staff=staff).exists()


def test_unread_marker_is_per_staff_member(client, conversation, staff, practice, sms_channel):
    colleague = make_staff(practice, "Grace Kim")
    other = Client()
    other.force_login(colleague.user)
    client.post(f"/c/{conversation.pk}/read")
    principal = staff_principal(staff)
    [row] = inbox_page(principal=principal, filters=ConversationFilter())
    assert row.is_unread is False
    [row] = inbox_page(principal=staff_principal(colleague), filters=ConversationFilter())
    assert row.is_unread is True
    # A new patient message makes it unread again for the reader.
    clock.advance(timedelta(seconds=5))
    receive(sms_channel, "+15552017788", "Hello?")
    [row] = inbox_page(principal=principal, filters=ConversationFilter())
    assert row.is_unread is True


def test_patient_text_is_escaped_everywhere(client, sms_channel, staff):
    received = receive(sms_channel, "+15552017700", XSS, sender_name=XSS)
    conversation = received.message.conversation
    services.note_post(conversation=conversation, author=staff, body=f"note {XSS} @nobody")
    Patient.objects.filter(pk=conversation.patient_id).update(first_name=XSS)
    for url, headers in (
        ("/", {}),
        (f"/c/{conversation.pk}/", {}),
        (f"/c/{conversation.pk}/thread", HTMX),
        (f"/c/{conversation.pk}/header", HTMX),
        (f"/c/{conversation.pk}/patient", HTMX),
        ("/inbox/list?view=all", HTMX),
        ("/search?q=onerror", {}),
        ("/search?q=onerror", HTMX),
        ("/patients/", {}),
        (f"/patients/{conversation.patient_id}/", {}),
    ):
        body = client.get(url, headers=headers).content.decode()
        assert "<img src=x" not in body, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get(f"/c/{conversation.pk}/").content.decode()


def test_list_preview_is_truncated_and_whitespace_collapsed(client, sms_channel):
    receive(sms_channel, "+15552017701", "word\n\n" * 200)
    page = client.get("/inbox/list?view=all", headers=HTMX).content.decode()
    preview = re.search(r'<span class="preview">(.*?)</span>', page, re.S).group(1)
    assert "\n" not in preview and len(preview) < 200 and preview.endswith("…")


def test_views_filter_the_list(client, staff, practice, sms_channel, nurse):
    mine = receive(sms_channel, "+15552017702", "mine").message.conversation
    urgent = receive(sms_channel, "+15552017703", "urgent").message.conversation
    snoozed = receive(sms_channel, "+15552017704", "snoozed").message.conversation
    resolved = receive(sms_channel, "+15552017705", "resolved").message.conversation
    services.conversation_assign(conversation=mine, actor=staff, assignee=staff)
    services.conversation_set_triage(conversation=urgent, actor=staff, priority=3)
    services.conversation_set_status(
        conversation=snoozed, actor=staff, status="snoozed", snoozed_until=clock.now() + timedelta(hours=1)
    )
    services.conversation_set_status(conversation=resolved, actor=staff, status="resolved")
    nursing = nurse.teams.first()
    services.conversation_assign(conversation=urgent, actor=staff, team=nursing)

    def ids(view: str, extra: str = "") -> set[int]:
        page = client.get(f"/inbox/list?view={view}{extra}", headers=HTMX).content.decode()
        return {int(i) for i in re.findall(r'data-conversation-id="(\d+)"', page)}

    assert ids("mine") == {mine.pk}
    assert ids("unassigned") == {urgent.pk}
    assert ids("urgent") == {urgent.pk}
    assert ids("snoozed") == {snoozed.pk}
    assert ids("resolved") == {resolved.pk}
    assert ids("all") == {mine.pk, urgent.pk}
    assert ids("all", f"&team={nursing.pk}") == {urgent.pk}
    counts = inbox_counts(principal=staff_principal(staff), team_ids=[nursing.pk])
    assert counts.views == {"mine": 1, "unassigned": 1, "urgent": 1, "all": 2, "snoozed": 1, "resolved": 1}
    assert counts.teams == {nursing.pk: 1}


def test_counts_are_one_query(staff, practice, sms_channel):
    for n in range(5):
        receive(sms_channel, f"+1555201780{n}", "hi")
    teams = list(practice_team_ids(practice))
    with CaptureQueriesContext(connection) as captured:
        inbox_counts(principal=staff_principal(staff), team_ids=teams)
    assert len(captured.captured_queries) == 1


def test_counts_with_only_resolved_conversations(staff, sms_channel):
    conversation = receive(sms_channel, "+15552017806", "hi").message.conversation
    services.conversation_set_status(conversation=conversation, actor=staff, status="resolved")
    counts = inbox_counts(principal=staff_principal(staff), team_ids=[])
    assert counts.views["resolved"] == 1 and counts.views["all"] == 0


def test_resolved_count_stops_at_its_cap(client, staff, sms_channel, monkeypatch):
    """Resolved conversations are the practice's whole history: counted up to a cap, shown as
    "999+" beyond it; the other views are exact."""
    from converge.conversations import selectors

    for n in range(4):
        conversation = receive(sms_channel, f"+155520178{n:02d}", "hi").message.conversation
        if n:
            services.conversation_set_status(conversation=conversation, actor=staff, status="resolved")
    exact = inbox_counts(principal=staff_principal(staff), team_ids=[])
    assert exact.views["resolved"] == 3 and exact.views["all"] == 1 and not exact.capped
    monkeypatch.setattr(selectors, "RESOLVED_COUNT_CAP", 3)
    assert inbox_counts(principal=staff_principal(staff), team_ids=[]).capped == frozenset()
    monkeypatch.setattr(selectors, "RESOLVED_COUNT_CAP", 2)
    capped = inbox_counts(principal=staff_principal(staff), team_ids=[])
    assert capped.views["resolved"] == 2 and capped.capped == {"resolved"} and capped.views["all"] == 1
    page = client.get("/inbox/counts?view=all", headers=HTMX).content.decode()
    assert re.search(r'id="count-resolved" title="More than 2">2\+<', page)
    assert re.search(r'id="count-all">1<', page)


def practice_team_ids(practice):
    from converge.practices.models import Team

    return Team.objects.filter(practice=practice).values_list("id", flat=True)


def test_list_query_count_does_not_grow_with_page_size(staff, practice, sms_channel, whatsapp_channel):
    for n in range(30):
        channel = sms_channel if n % 2 else whatsapp_channel
        received = receive(channel, f"+155520190{n:02d}", f"message {n}")
        services.conversation_assign(conversation=received.message.conversation, actor=staff, assignee=staff)
    principal = staff_principal(staff)

    def queries(limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            rows = inbox_page(principal=principal, filters=ConversationFilter(view="all"), limit=limit)
            for row in rows:  # everything a row shows
                (row.patient.display_name, row.assignee and row.assignee.display_name, row.team, row.channel_kinds)
        return len(captured.captured_queries)

    assert queries(3) == queries(30) <= 3


def test_list_pagination_with_load_more(client, sms_channel):
    for n in range(55):
        receive(sms_channel, f"+155520191{n:02d}", f"m{n}")
    first = client.get("/inbox/list?view=all", headers=HTMX).content.decode()
    assert first.count('data-conversation-id="') == 50
    cursor = re.search(r"before=([A-Za-z0-9_=-]+)", first).group(1)
    more = client.get(f"/inbox/list?view=all&before={cursor}", headers=HTMX).content.decode()
    assert more.count('data-conversation-id="') == 5 and 'class="list-root"' not in more
    grown = client.get("/inbox/list?view=all&limit=80", headers=HTMX).content.decode()
    assert grown.count('data-conversation-id="') == 55


def test_thread_interleaves_channels_notes_events_and_ticks(client, staff, sms_channel, whatsapp_channel):
    conversation = receive(sms_channel, "+15552017711", "first by SMS").message.conversation
    clock.advance(timedelta(seconds=1))
    receive(whatsapp_channel, "+15552017711", "then WhatsApp")
    clock.advance(timedelta(seconds=1))
    services.note_post(conversation=conversation, author=staff, body="Checked the chart")
    services.conversation_assign(conversation=conversation, actor=staff, assignee=staff)
    statuses = ["sent", "delivered", "read", "failed", "queued"]
    for status in statuses:
        clock.advance(timedelta(seconds=1))
        message = services.message_queue(
            conversation=conversation, channel=sms_channel, body=f"reply {status}", sender=staff
        )
        Message.objects.filter(pk=message.pk).update(
            status=status, failure_reason="carrier rejected" if status == "failed" else ""
        )
    page = client.get(f"/c/{conversation.pk}/thread", headers=HTMX).content.decode()
    order = [page.index(text) for text in ("first by SMS", "then WhatsApp", "Checked the chart", "Assigned to")]
    assert order == sorted(order)
    assert 'class="note"' in page and "Internal note · Maria Lopez" in page
    assert 'class="event"' in page
    assert 'class="channel-label">SMS<' in page and 'class="channel-label">WhatsApp<' in page
    assert 'data-status="sent"' in page and ">✓<" in page
    assert 'class="ticks delivered"' in page and 'class="ticks read"' in page
    assert "Not delivered: carrier rejected" in page and "/retry" in page
    assert 'data-status="queued"' in page


def test_long_thread_shows_the_newest_page_then_loads_earlier(client, conversation, sms_channel):
    now = clock.now()
    Message.objects.bulk_create(
        [
            Message(
                practice_id=conversation.practice_id,
                conversation=conversation,
                patient_id=conversation.patient_id,
                channel=sms_channel,
                direction="in",
                body=f"msg-{n:04d}",
                status=DeliveryStatus.RECEIVED,
                created_at=now + timedelta(seconds=n),
            )
            for n in range(450)
        ]
    )
    assert (THREAD_PAGE, THREAD_EARLIER_PAGE) == (50, 100)
    page = thread_page(conversation=conversation)
    shown = [i for i in page.items if isinstance(i, Message)]
    assert len(shown) == 50 and page.has_earlier and shown[-1].body == "msg-0449"
    # Opening the conversation (full page and the pane alone) shows the newest 50.
    for html in (
        client.get(f"/c/{conversation.pk}/").content.decode(),
        client.get(f"/c/{conversation.pk}/", headers=HTMX).content.decode(),
        client.get(f"/c/{conversation.pk}/thread", headers=HTMX).content.decode(),
    ):
        assert "Load earlier messages" in html and "msg-0400" in html and "msg-0449" in html
        assert "msg-0399" not in html
        assert f"/c/{conversation.pk}/thread?before={page.oldest_message_id}" in html
    earlier = client.get(f"/c/{conversation.pk}/thread?before={page.oldest_message_id}", headers=HTMX)
    text = earlier.content.decode()
    assert "msg-0399" in text and "msg-0300" in text and "msg-0299" not in text and "msg-0400" not in text
    oldest_loaded = Message.objects.get(body="msg-0300").pk
    assert "Load earlier messages" in text and f"before={oldest_loaded}" in text
    # A live refresh keeps what was loaded: everything from the oldest shown message on.
    refreshed = client.get(f"/c/{conversation.pk}/thread?from={oldest_loaded}", headers=HTMX).content.decode()
    assert "msg-0300" in refreshed and "msg-0449" in refreshed and "msg-0299" not in refreshed
    assert "Load earlier messages" in refreshed
    # Paging back to the start: the last page has no "Load earlier".
    before = oldest_loaded
    seen = 150
    while True:
        text = client.get(f"/c/{conversation.pk}/thread?before={before}", headers=HTMX).content.decode()
        seen += text.count('class="msg in')
        match = re.search(r"thread\?before=(\d+)", text)
        if match is None:
            break
        before = int(match.group(1))
    # The 450 and the patient's first message, which opened the conversation.
    assert seen == 451 and "Can I get a refill?" in text and "Load earlier messages" not in text


def test_thread_query_count_does_not_grow_with_messages(conversation, sms_channel, staff):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page = thread_page(conversation=conversation)
            for item in page.items:
                if isinstance(item, Message):
                    (item.channel.kind, item.sender, list(item.attachments.all()))
                elif isinstance(item, Note):
                    item.author.display_name
        return len(captured.captured_queries)

    few = queries()
    for n in range(20):
        services.message_queue(conversation=conversation, channel=sms_channel, body=f"r{n}", sender=staff)
        services.note_post(conversation=conversation, author=staff, body=f"n{n}")
    assert queries() == few


def _grow_thread(conversation, channels, senders, n):
    """n more messages after the conversation's newest: both directions, two channels, several
    senders, attachments, triage labels, failed sends, and a note and a system line every ten."""
    from converge.conversations.models import Attachment

    last = Message.objects.filter(conversation=conversation).order_by("-created_at").first()
    start = last.created_at if last else clock.now()
    messages = []
    for k in range(n):
        inbound = k % 3 != 0
        messages.append(
            Message(
                practice_id=conversation.practice_id,
                conversation=conversation,
                patient_id=conversation.patient_id,
                channel=channels[k % len(channels)],
                direction="in" if inbound else "out",
                body=f"grown {k}",
                status=DeliveryStatus.RECEIVED if inbound else ("failed" if k % 11 == 0 else "delivered"),
                sender=None if inbound else senders[k % len(senders)],
                metadata={"classification": {"category": "refill", "reasons": ["refill"]}} if k % 7 == 1 else {},
                created_at=start + timedelta(minutes=k + 1),
            )
        )
    Message.objects.bulk_create(messages)
    Attachment.objects.bulk_create(
        [
            Attachment(
                practice_id=conversation.practice_id,
                message=m,
                filename=f"scan{m.pk}.pdf",
                content_type="application/pdf",
            )
            for m in messages[::5]
        ]
    )
    Note.objects.bulk_create(
        [
            Note(
                practice_id=conversation.practice_id,
                conversation=conversation,
                author=senders[k % len(senders)],
                body=f"note {k}",
                created_at=messages[k].created_at,
            )
            for k in range(0, n, 10)
        ]
    )
    ConversationEvent.objects.bulk_create(
        [
            ConversationEvent(
                practice_id=conversation.practice_id,
                conversation=conversation,
                kind="assigned",
                text=f"event {k}",
                created_at=messages[k].created_at,
            )
            for k in range(5, n, 10)
        ]
    )


def test_open_conversation_statements_do_not_grow_with_the_thread(
    client, conversation, sms_channel, whatsapp_channel, staff, practice
):
    """The full page, the conversation pane, and the thread's pages (first, earlier, live
    refresh) each take the same statements with 160 messages as with 1,660: nothing is read per
    message, sender, note or attachment."""
    senders = [staff, make_staff(practice, "Grace Kim"), make_staff(practice, "Ana Diaz")]
    channels = [sms_channel, whatsapp_channel]

    def statements() -> dict[str, int]:
        page = thread_page(conversation=conversation)
        earlier = thread_page(conversation=conversation, before_id=page.oldest_message_id, limit=THREAD_EARLIER_PAGE)
        assert page.has_earlier and earlier.has_earlier  # every page below is a full one
        urls = {
            "full page": (f"/c/{conversation.pk}/?view=all", {}),
            "pane": (f"/c/{conversation.pk}/", HTMX),
            "thread": (f"/c/{conversation.pk}/thread", HTMX),
            "earlier": (f"/c/{conversation.pk}/thread?before={page.oldest_message_id}", HTMX),
            "refresh": (f"/c/{conversation.pk}/thread?from={earlier.oldest_message_id}", HTMX),
        }
        counts = {}
        for name, (url, headers) in urls.items():
            client.get(url, headers=headers)  # sessions, caches
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url, headers=headers)
            assert response.status_code == 200
            counts[name] = len(captured.captured_queries)
        return counts

    _grow_thread(conversation, channels, senders, 160)
    few = statements()
    _grow_thread(conversation, channels, senders, 1500)
    assert statements() == few


def test_patient_panel_shows_contacts_consent_appointments_and_history(client, staff, practice, sms_channel):
    conversation = receive(sms_channel, "+15552017720", "hi").message.conversation
    patient = conversation.patient
    Patient.objects.filter(pk=patient.pk).update(first_name="Ana", last_name="Reyes", is_verified=True, language="es")
    contact = patient.contact_points.get()
    contact.opted_out_at = clock.now()
    contact.save(update_fields=["opted_out_at"])
    provider = Provider.objects.create(practice=practice, display_name="Dr. Patel")
    for days in (3, -10):
        start = clock.now() + timedelta(days=days)
        Appointment.objects.create(
            practice=practice,
            patient=patient,
            provider=provider,
            start=start,
            end=start + timedelta(minutes=20),
            blocked_until=start + timedelta(minutes=20),
            status="booked" if days > 0 else "completed",
        )
    old = Conversation.objects.create(
        practice=practice,
        patient=patient,
        status="resolved",
        last_message_at=clock.now() - timedelta(days=90),
        created_at=clock.now() - timedelta(days=90),
        updated_at=clock.now() - timedelta(days=90),
        resolved_at=clock.now() - timedelta(days=89),
    )
    panel = client.get(f"/c/{conversation.pk}/patient", headers=HTMX).content.decode()
    assert "Ana Reyes" in panel and "Verified record" in panel and "Spanish" in panel
    assert "Opted out" in panel and "+1 555-201-7720" in panel
    assert "Dr. Patel" in panel and "None booked" not in panel and "Completed" in panel
    assert f'href="/c/{old.pk}/"' in panel
    assert "Link to a patient" not in panel


def test_channel_picker_says_why_a_channel_is_unavailable(client, staff, practice, sms_channel, whatsapp_channel):
    email_channel = simulator_channel_create(practice=practice, kind="email")
    conversation = receive(whatsapp_channel, "+15552017730", "hola").message.conversation
    html = client.get(f"/c/{conversation.pk}/channels", headers=HTMX).content.decode()
    # The patient wrote on WhatsApp just now: the window is open, and it is the default.
    assert re.search(rf'<option value="{whatsapp_channel.pk}"[^>]* selected>', html)
    # A missing address is said once, calmly, as a disabled choice, not as a warning line too.
    assert re.search(
        rf'<option value="{email_channel.pk}" data-kind="email" disabled>Email — no address</option>', html
    )
    assert "SMS — no address" in html and "no SMS address" not in html
    contact_point_add(patient=conversation.patient, actor=staff, kind="sms", address="+15552017730")
    html = client.get(f"/c/{conversation.pk}/channels", headers=HTMX).content.decode()
    assert re.search(rf'<option value="{sms_channel.pk}" data-kind="sms">', html)
    # 25 hours later the WhatsApp window is closed.
    clock.advance(timedelta(hours=25))
    html = client.get(f"/c/{conversation.pk}/channels", headers=HTMX).content.decode()
    assert re.search(rf'<option value="{whatsapp_channel.pk}"[^>]* disabled', html)
    assert "24-hour window" in html
    assert re.search(rf'<option value="{sms_channel.pk}"[^>]* selected>', html)
    assert email_channel.pk  # listed, with its reason


def test_channel_picker_names_an_unreachable_kind_once(client, practice, sms_channel):
    """Two web chat widgets and a patient with no web chat address: one quiet "Web chat — no
    address", not one warning per widget (issue 13 item 10)."""
    simulator_channel_create(practice=practice, kind="webchat")
    simulator_channel_create(practice=practice, kind="webchat")
    conversation = receive(sms_channel, "+15552017732", "hello").message.conversation
    html = client.get(f"/c/{conversation.pk}/channels", headers=HTMX).content.decode()
    assert html.count("Web chat — no address") == 1
    assert "web chat address" not in html
    assert re.search(rf'<option value="{sms_channel.pk}"[^>]* selected>', html)


def test_channel_picker_reports_opt_out(client, sms_channel):
    conversation = receive(sms_channel, "+15552017731", "STOP maybe").message.conversation
    conversation.patient.contact_points.update(opted_out_at=clock.now())
    html = client.get(f"/c/{conversation.pk}/channels", headers=HTMX).content.decode()
    assert "opted out of SMS" in html and "No channel can reach this patient" in html


def test_another_practice_sees_nothing(conversation, other_practice, sms_channel):
    intruder = make_staff(other_practice, "Eve Intruder")
    client = Client()
    client.force_login(intruder.user)
    for url in (
        f"/c/{conversation.pk}/",
        f"/c/{conversation.pk}/thread",
        f"/c/{conversation.pk}/header",
        f"/c/{conversation.pk}/channels",
        f"/c/{conversation.pk}/patient",
        f"/c/{conversation.pk}/replies/render?shortcut=x",
        f"/patients/{conversation.patient_id}/",
        f"/patients/{conversation.patient_id}/link?q=a",
    ):
        assert client.get(url, headers=HTMX).status_code == 404, url
    for url in ("/", "/inbox/list?view=all", "/inbox/counts", "/search?q=refill", "/patients/?q=555"):
        body = client.get(url, headers=HTMX).content.decode()
        assert "201-7788" not in body and "Can I get a refill?" not in body, url
    assert client.post("/inbox/bulk", {"ids": [conversation.pk], "action": "resolve"}, headers=HTMX).status_code in (
        204,
        400,
    )
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_partials_ask_for_sign_in_with_401(conversation):
    anonymous = Client()
    assert anonymous.get("/inbox/list", headers=HTMX).status_code == 401
    assert anonymous.get("/inbox/list").status_code == 302


def test_events_and_system_lines_are_listed(client, conversation, staff):
    services.conversation_set_status(conversation=conversation, actor=staff, status="resolved")
    assert ConversationEvent.objects.filter(conversation=conversation).exists()
    html = client.get(f"/c/{conversation.pk}/thread", headers=HTMX).content.decode()
    assert "Resolved by Maria Lopez" in html
