"""The /team/ pages: what a member, a non-member and another practice's staff may see, the
"Ask the team" flow from a conversation, and bad input answered with a 4xx."""

from __future__ import annotations

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.practices.models import Role
from converge.privacy.models import PrivacySettings
from converge.teamchat import selectors, services
from converge.teamchat.models import DirectMember, TeamMessage, TeamNotification, Topic, TopicState
from tests.conftest import clear_cache
from tests.helpers import make_staff, receive

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def test_the_page_lists_channels_topics_and_unread(staff, nurse, channels):
    topic, message = services.topic_start(
        actor=staff, channel=channels["nursing"], title="Printer broken", body="Jammed"
    )
    page = signed_in(nurse).get("/team/").content.decode()
    assert "# </span> Nursing" in page or "Nursing" in page
    assert "Printer broken" in page and 'aria-label="1 unread"' in page
    client = signed_in(nurse)
    opened = client.get(f"/team/t/{topic.pk}/").content.decode()
    assert "Jammed" in opened and 'id="team-composer"' in opened
    assert client.get("/team/badge").content.decode().strip() != ""  # shown is not yet read
    assert client.post(f"/team/t/{topic.pk}/read", {"up_to": str(message.pk)}).status_code == 204  # team.js
    assert client.get("/team/badge").content.decode().strip() == ""


def test_reading_marks_nothing_read_the_pages_post_does(staff, nurse, channels):
    """Issue 16: a GET does not write. The page posts what it showed (team.js); an id past the
    newest message counts as the newest, so a later message still arrives unread."""
    topic, first = services.topic_start(actor=staff, channel=channels["nursing"], title="Rota", body="Friday?")
    thread = services.direct_open(actor=staff, member_ids=[nurse.pk])
    direct = services.message_post(actor=staff, thread=thread, body="Call me")
    client = signed_in(nurse)
    for url in (f"/team/t/{topic.pk}/", f"/team/t/{topic.pk}/messages?after=0", f"/team/d/{thread.pk}/"):
        assert client.get(url).status_code == 200
    assert not TopicState.objects.filter(staff=nurse).exists()
    assert DirectMember.objects.get(thread=thread, staff=nurse).last_read_id == 0
    assert TeamNotification.objects.filter(staff=nurse, read_at__isnull=True).count() == 1  # the direct one

    assert client.post(f"/team/t/{topic.pk}/read", {"up_to": "999999999"}).status_code == 204
    assert TopicState.objects.get(topic=topic, staff=nurse).last_read_id == first.pk
    assert client.post(f"/team/d/{thread.pk}/read", {"up_to": str(direct.pk)}).status_code == 204
    assert DirectMember.objects.get(thread=thread, staff=nurse).last_read_id == direct.pk
    assert not TeamNotification.objects.filter(staff=nurse, read_at__isnull=True).exists()
    later = services.message_post(actor=staff, topic=topic, body="Still need someone")
    assert later.pk > first.pk and selectors.unread_total(staff=nurse) == 1

    assert client.post(f"/team/t/{topic.pk}/read", {"up_to": "x"}).status_code == 400
    assert client.get(f"/team/t/{topic.pk}/read").status_code == 405
    outsider = make_staff(staff.practice, "Ann Other", Role.FRONT_DESK)
    assert signed_in(outsider).post(f"/team/d/{thread.pk}/read", {"up_to": str(direct.pk)}).status_code == 404


def test_an_empty_topic_says_so(staff, channels):
    topic = Topic.objects.create(
        practice=staff.practice,
        channel=channels["front-desk"],
        title="Quiet",
        created_at=staff.created_at,
        last_message_at=staff.created_at,
    )
    assert "No messages in this topic yet" in signed_in(staff).get(f"/team/t/{topic.pk}/").content.decode()


def test_posting_escapes_the_text_and_refuses_blank(staff, nurse, channels):
    topic, _ = services.topic_start(actor=staff, channel=channels["nursing"], title="T", body="first")
    client = signed_in(nurse)
    assert client.post(f"/team/t/{topic.pk}/post", {"body": "<script>x()</script>"}, headers=HTMX).status_code == 204
    page = client.get(f"/team/t/{topic.pk}/messages?after=0", headers=HTMX).content.decode()
    assert "<script>x()" not in page and "&lt;script&gt;" in page
    refused = client.post(f"/team/t/{topic.pk}/post", {"body": "  "}, headers=HTMX)
    assert refused.status_code == 400 and "Write a message" in refused.content.decode()


def test_older_messages_load_by_keyset(staff, channels):
    topic, _ = services.topic_start(actor=staff, channel=channels["nursing"], title="Long", body="m0")
    for n in range(1, 60):
        services.message_post(actor=staff, topic=topic, body=f"m{n}")
    client = signed_in(staff)
    page = client.get(f"/team/t/{topic.pk}/").content.decode()
    assert "m59" in page and ">m9<" not in page and "Load earlier messages" in page
    oldest = TeamMessage.objects.get(body="m10").pk
    earlier = client.get(f"/team/t/{topic.pk}/messages?before={oldest}", headers=HTMX).content.decode()
    assert ">m9<" in earlier and ">m0<" in earlier and ">m10<" not in earlier


def test_a_non_member_and_another_practice_get_404(staff, nurse, channels, other_practice, manager):
    private = services.channel_create(actor=manager, name="Managers", member_ids=[])
    topic, _ = services.topic_start(actor=manager, channel=private, title="Budget", body="Numbers")
    thread = services.direct_open(actor=staff, member_ids=[nurse.pk])
    outsider = make_staff(other_practice, "Olive Outsider", Role.ADMIN)
    scheduler = make_staff(staff.practice, "Sam Scheduler", Role.SCHEDULER)
    for who in (outsider, scheduler):
        client = signed_in(who)
        assert client.get(f"/team/t/{topic.pk}/").status_code == 404
        assert client.post(f"/team/t/{topic.pk}/post", {"body": "hi"}).status_code == 404
        assert client.get(f"/team/d/{thread.pk}/").status_code == 404
        assert client.get(f"/team/c/{private.pk}/").status_code == 404
        assert "Budget" not in client.get("/team/").content.decode()
    # A manager sees every channel, but not other people's direct messages.
    assert signed_in(manager).get(f"/team/d/{thread.pk}/").status_code == 404
    assert signed_in(manager).get(f"/team/t/{topic.pk}/").status_code == 200


def test_only_managers_create_channels(staff, manager):
    assert signed_in(staff).post("/team/channels", {"name": "Mine"}).status_code == 403
    response = signed_in(manager).post("/team/channels", {"name": "Huddle", "members": [str(staff.pk)]})
    assert response.status_code == 302
    assert "Huddle" in signed_in(staff).get("/team/").content.decode()


def test_ask_the_team_from_a_conversation(staff, nurse, channels, sms_channel):
    conversation = receive(sms_channel, "+15550001234", "Is my rash normal?").message.conversation
    client = signed_in(staff)
    header = client.get(f"/c/{conversation.pk}/header", headers=HTMX).content.decode()
    assert "Ask the team" in header and f'value="{channels["nursing"].pk}" selected' in header
    response = client.post(
        f"/team/ask/{conversation.pk}",
        {"channel": channels["nursing"].pk, "body": "Can a nurse call her?"},
        headers=HTMX,
    )
    assert response.status_code == 204
    topic = Topic.objects.get()
    assert topic.conversation == conversation
    header = client.get(f"/c/{conversation.pk}/header", headers=HTMX).content.decode()
    assert f'data-linked-topic="{topic.pk}"' in header
    opened = signed_in(nurse).get(f"/team/t/{topic.pk}/").content.decode()
    assert f'href="/c/{conversation.pk}/"' in opened
    assert AuditEvent.objects.filter(action="teamchat.topic_read", patient_id=conversation.patient_id).count() == 1
    assert client.post(f"/team/ask/{conversation.pk}", {"channel": "abc"}, headers=HTMX).status_code == 400


def test_a_restricted_reader_sees_the_link_as_restricted(staff, nurse, channels, sms_channel):
    conversation = receive(sms_channel, "+15550004321", "my refill").message.conversation
    conversation.category = "clinical"
    conversation.save(update_fields=["category"])
    topic, _ = services.topic_ask_team(
        actor=nurse, conversation=conversation, channel=channels["front-desk"], body="Please book her in"
    )
    PrivacySettings.objects.update_or_create(practice=staff.practice, defaults={"clinical_confidentiality": True})
    clear_cache()
    page = signed_in(staff).get(f"/team/t/{topic.pk}/").content.decode()
    assert "a patient conversation (restricted)" in page
    assert conversation.patient.display_name not in page and f'href="/c/{conversation.pk}/"' not in page
    # and a clinical conversation cannot be asked about by a role that may not open it
    response = signed_in(staff).post(
        f"/team/ask/{conversation.pk}", {"channel": channels["nursing"].pk, "body": "x"}, headers=HTMX
    )
    assert response.status_code == 403


def test_direct_messages_and_search(staff, nurse):
    client = signed_in(staff)
    response = client.post("/team/direct", {"members": [str(nurse.pk)]})
    assert response.status_code == 302
    thread_url = response["Location"]
    assert client.post(thread_url + "post", {"body": "Lunch at noon?"}).status_code == 302
    assert "Lunch at noon?" in signed_in(nurse).get(thread_url).content.decode()
    assert "Lunch at noon?" in signed_in(nurse).get("/team/search?q=lunch").content.decode()
    outsider = make_staff(staff.practice, "Third Person")
    assert "Lunch at noon?" not in signed_in(outsider).get("/team/search?q=lunch").content.decode()
    assert client.post("/team/direct", {"members": ["x"]}).status_code == 302  # refused with a message


def test_edit_within_the_window_via_the_page(staff, channels):
    _topic, message = services.topic_start(actor=staff, channel=channels["nursing"], title="T", body="teh typo")
    client = signed_in(staff)
    assert client.post(f"/team/m/{message.pk}/edit", {"body": "the typo"}, headers=HTMX).status_code == 204
    message.refresh_from_db()
    assert message.body == "the typo" and message.edited_at is not None
    nurse_client = signed_in(make_staff(staff.practice, "Nora Nurse", Role.NURSE, team_slugs=("nursing",)))
    assert nurse_client.post(f"/team/m/{message.pk}/delete", headers=HTMX).status_code == 400


def test_a_topic_page_shows_no_stray_flash_lines(staff, channels):
    topic, message = services.topic_start(actor=staff, channel=channels["nursing"], title="T", body="hello")
    page = signed_in(staff).get(f"/team/t/{topic.pk}/").content.decode()
    assert "TeamMessage object" not in page and 'class="flash"' not in page


def test_an_urgent_team_message_shows_a_banner_on_every_page_until_read(staff, nurse, channels):
    topic, _ = services.topic_start(
        actor=staff, channel=channels["nursing"], title="Now", body="Patient fainted in the lobby", urgent=True
    )
    client = signed_in(nurse)
    for url in ("/", "/patients/"):
        page = client.get(url).content.decode()
        assert "Urgent team message from Maria Lopez" in page and "fainted" not in page
    client.get(f"/team/t/{topic.pk}/")
    assert "Urgent team message from" in client.get("/patients/").content.decode()  # shown, not yet read
    client.post(f"/team/t/{topic.pk}/read", {"up_to": str(topic.messages.get().pk)})
    assert "Urgent team message from" not in client.get("/patients/").content.decode()


def test_a_pasted_conversation_link_names_the_patient_only_to_those_allowed(staff, nurse, sms_channel):
    conversation = receive(sms_channel, "+15550007777", "refill please").message.conversation
    conversation.category = "clinical"
    conversation.save(update_fields=["category"])
    thread = services.direct_open(actor=nurse, member_ids=[staff.pk])
    message = services.message_post(
        actor=nurse, thread=thread, body=f"Can you book her? http://testserver/c/{conversation.pk}/"
    )
    assert message.conversation == conversation and message.patient_id == conversation.patient_id
    name = conversation.patient.display_name
    assert f'href="/c/{conversation.pk}/"' in signed_in(nurse).get(f"/team/d/{thread.pk}/").content.decode()
    # Reading a thread with a patient link is a read about that patient.
    assert AuditEvent.objects.filter(action="teamchat.thread_read", patient_id=conversation.patient_id).count() == 1
    PrivacySettings.objects.update_or_create(practice=staff.practice, defaults={"clinical_confidentiality": True})
    clear_cache()
    page = signed_in(staff).get(f"/team/d/{thread.pk}/").content.decode()
    assert "a patient conversation (restricted)" in page and 'class="patient-chip"' in page
    assert name not in page.split('class="patient-chip"')[1][:300]


def test_a_link_to_another_practices_conversation_links_nothing(staff, nurse, other_practice):
    from converge.connectors.services import simulator_channel_create

    theirs = receive(simulator_channel_create(practice=other_practice, kind="sms"), "+15550008888", "hi")
    thread = services.direct_open(actor=nurse, member_ids=[staff.pk])
    message = services.message_post(actor=nurse, thread=thread, body=f"see /c/{theirs.message.conversation_id}/")
    assert message.conversation is None and message.patient is None


def test_a_channel_page_lists_its_topics(staff, nurse, channels):
    services.topic_start(actor=nurse, channel=channels["nursing"], title="Flu clinic rota", body="Who is in?")
    mine, _ = services.topic_start(actor=staff, channel=channels["nursing"], title="Asked by the desk", body="?")
    member_page = signed_in(nurse).get(f"/team/c/{channels['nursing'].pk}/").content.decode()
    assert "Flu clinic rota" in member_page and "Asked by the desk" in member_page
    outsider_page = signed_in(staff).get(f"/team/c/{channels['nursing'].pk}/").content.decode()
    assert "Asked by the desk" in outsider_page and "Flu clinic rota" not in outsider_page


def test_status_control_shows_next_to_names_in_the_dm_list_and_author_lines(staff, nurse):
    thread = services.direct_open(actor=staff, member_ids=[nurse.pk])
    services.message_post(actor=nurse, thread=thread, body="Back in 20")
    nurse_client = signed_in(nurse)
    assert nurse_client.post("/team/status", {"status": "in_visit"}).status_code == 302
    page = signed_in(staff).get(f"/team/d/{thread.pk}/").content.decode()
    assert 'class="presence-text muted small">In a visit' in page
    assert f'class="presence-dot in_visit" data-presence-staff="{nurse.pk}"' in page
    assert 'id="team-presence-map"' in page
    mine = nurse_client.get("/team/sidebar").content.decode()
    assert '<option value="in_visit" selected>' in mine
    refused = nurse_client.post("/team/status", {"status": "gone"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400 and "Choose online" in refused.content.decode()


def _appointment(practice, patient_id, provider_name="Dr. Ruiz"):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from converge.scheduling.models import Appointment, Provider

    provider = Provider.objects.create(practice=practice, display_name=provider_name)
    start = datetime(2026, 12, 8, 15, 30, tzinfo=ZoneInfo(practice.time_zone))
    return Appointment.objects.create(
        practice=practice,
        patient_id=patient_id,
        provider=provider,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_until=start + timedelta(minutes=20),
    )


def test_a_pasted_appointment_link_shows_when_and_with_whom(staff, nurse, sms_channel, channels):
    """The calendar's address for one appointment links it (this practice's only, checked when
    posting): the chip gives the date, time and provider, names the patient and opens the
    calendar's panel; reading it is audited as a read about that patient. Asked from a clinical
    conversation a reader may not open, the patient stays unnamed."""
    conversation = receive(sms_channel, "+15550004444", "Can I come Tuesday?").message.conversation
    appointment = _appointment(staff.practice, conversation.patient_id)
    thread = services.direct_open(actor=nurse, member_ids=[staff.pk])
    url = f"http://testserver/calendar/?date=2026-12-08&provider={appointment.provider_id}&appointment={appointment.pk}"
    message = services.message_post(actor=nurse, thread=thread, body=f"Is this one still on? {url}")
    assert message.appointment == appointment and message.patient_id == conversation.patient_id
    page = signed_in(staff).get(f"/team/d/{thread.pk}/").content.decode()
    chip = page.split('class="appointment-chip"')[1][:400]
    assert "Tue 8 Dec, 3:30 PM" in chip and "Dr. Ruiz" in chip
    assert conversation.patient.display_name in chip
    assert f'href="/calendar/?date=2026-12-08&amp;appointment={appointment.pk}"' in chip
    assert AuditEvent.objects.filter(action="teamchat.thread_read", patient_id=conversation.patient_id).exists()

    conversation.category = "clinical"
    conversation.save(update_fields=["category"])
    _topic, asked = services.topic_ask_team(
        actor=nurse, conversation=conversation, channel=channels["front-desk"], body=f"Keep this? {url}"
    )
    assert asked.appointment == appointment
    PrivacySettings.objects.update_or_create(practice=staff.practice, defaults={"clinical_confidentiality": True})
    clear_cache()
    page = signed_in(staff).get(f"/team/t/{asked.topic_id}/").content.decode()
    chip = page.split('class="appointment-chip"')[1][:400]
    assert "Dr. Ruiz" in chip and "a patient (restricted)" in chip
    assert conversation.patient.display_name not in chip and "/calendar/" not in chip


def test_a_link_to_another_practices_appointment_links_nothing(staff, nurse, other_practice):
    from converge.connectors.services import simulator_channel_create

    theirs = receive(simulator_channel_create(practice=other_practice, kind="sms"), "+15550008899", "hi").message
    appointment = _appointment(other_practice, theirs.patient_id, "Dr. Other")
    thread = services.direct_open(actor=nurse, member_ids=[staff.pk])
    message = services.message_post(
        actor=nurse, thread=thread, body=f"/calendar/?appointment={appointment.pk} and /calendar/?appointment=12x"
    )
    assert message.appointment is None and message.patient_id is None
    page = signed_in(staff).get(f"/team/d/{thread.pk}/").content.decode()
    assert "Dr. Other" not in page and 'class="appointment-chip"' not in page
