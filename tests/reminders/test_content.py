"""Reminder and related message text: minimal content, English/Spanish dates, per-channel replies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from converge.reminders.content import (
    confirmation_text,
    followup_prompt_text,
    format_when,
    missed_you_text,
    reminder_text,
    slot_options_text,
    waitlist_offer_text,
)
from converge.reminders.intents import CARRIER_KEYWORDS, Intent, understand_reply

NY = ZoneInfo("America/New_York")
TUESDAY = datetime(2026, 3, 10, 9, 30, tzinfo=NY)
KEYWORD_RE = "|".join(sorted(CARRIER_KEYWORDS))


def reminder(**overrides) -> str:
    kwargs: dict[str, Any] = dict(
        language="en",
        practice_name="Sunrise Family Clinic",
        start_local=TUESDAY,
        location_name="Main Street Office",
        appointment_type=None,
        instructions=None,
        channel="sms",
        kind="24h",
    )
    kwargs.update(overrides)
    return reminder_text(**kwargs)


def assert_no_keyword_to_reply(text: str) -> None:
    assert not re.search(rf"\b({KEYWORD_RE})\b", text), text
    assert not re.search(
        rf"\b(reply|text|send|responda|env[ií]e|escriba)\s+[\"'“]?({KEYWORD_RE})\b",
        text,
        flags=re.IGNORECASE,
    ), text


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "en", "es"),
    [
        (datetime(2026, 3, 10, 9, 30), "Tuesday, March 10 at 9:30 AM", "martes 10 de marzo a las 9:30"),
        (datetime(2026, 3, 10, 0, 5), "Tuesday, March 10 at 12:05 AM", "martes 10 de marzo a las 0:05"),
        (datetime(2026, 3, 10, 12, 0), "Tuesday, March 10 at 12:00 PM", "martes 10 de marzo a las 12:00"),
        (datetime(2026, 3, 11, 13, 5), "Wednesday, March 11 at 1:05 PM", "miércoles 11 de marzo a las 13:05"),
        (datetime(2026, 8, 1, 1, 15), "Saturday, August 1 at 1:15 AM", "sábado 1 de agosto a la 1:15"),
        (datetime(2026, 12, 31, 23, 45), "Thursday, December 31 at 11:45 PM", "jueves 31 de diciembre a las 23:45"),
        (datetime(2027, 1, 3, 8, 0), "Sunday, January 3 at 8:00 AM", "domingo 3 de enero a las 8:00"),
    ],
)
def test_format_when(moment, en, es):
    assert format_when(moment, "en") == en
    assert format_when(moment, "es") == es
    assert format_when(moment.replace(tzinfo=NY), "es-MX") == es


def test_every_month_and_weekday_name():
    months_en = {format_when(datetime(2026, m, 1, 9), "en").split(", ")[1].split()[0] for m in range(1, 13)}
    months_es = {format_when(datetime(2026, m, 1, 9), "es").split(" de ")[1].split()[0] for m in range(1, 13)}
    days_en = {format_when(datetime(2026, 3, d, 9), "en").split(",")[0] for d in range(2, 9)}
    days_es = {format_when(datetime(2026, 3, d, 9), "es").split()[0] for d in range(2, 9)}
    assert len(months_en) == len(months_es) == 12
    assert len(days_en) == len(days_es) == 7
    assert "septiembre" in months_es and "miércoles" in days_es


# --- reminders -----------------------------------------------------------------------------


def test_minimal_reminder_in_english():
    text = reminder()
    assert text == (
        "Sunrise Family Clinic: a reminder of your appointment on Tuesday, March 10 at 9:30 AM"
        " at Main Street Office.\nReply 1 to confirm, 2 to reschedule, 3 to cancel."
    )


def test_minimal_reminder_in_spanish():
    text = reminder(language="es")
    assert text == (
        "Sunrise Family Clinic: le recordamos su cita el martes 10 de marzo a las 9:30"
        " en Main Street Office.\nResponda 1 para confirmar, 2 para cambiar la cita,"
        " 3 para cancelarla."
    )


def test_type_and_instructions_only_when_given():
    plain = reminder()
    assert "Colonoscopy" not in plain and "fast" not in plain
    detailed = reminder(appointment_type="Colonoscopy", instructions="Please do not eat after midnight.", kind="48h")
    assert "your appointment (Colonoscopy) on" in detailed
    assert "Please do not eat after midnight." in detailed.splitlines()
    spanish = reminder(language="es", appointment_type="Revisión anual", instructions="Traiga su tarjeta.")
    assert "su cita (Revisión anual) el" in spanish
    assert "Traiga su tarjeta." in spanish.splitlines()


def test_blank_type_instructions_and_location_are_left_out():
    text = reminder(appointment_type="  ", instructions="\n", location_name="")
    assert "()" not in text
    assert "9:30 AM." in text
    assert len(text.splitlines()) == 2


def test_staff_entered_names_are_one_line():
    text = reminder(practice_name="Sunrise\nClinic ", location_name=" Suite  4 ")
    assert text.startswith("Sunrise Clinic: ")
    assert "at Suite 4." in text


@pytest.mark.parametrize(
    ("channel", "en", "es"),
    [
        ("sms", "Reply 1 to confirm", "Responda 1 para confirmar"),
        ("whatsapp", "Use the buttons below", "Use los botones de abajo"),
        ("email", "Use the links below", "Use los enlaces de abajo"),
        ("webchat", "Reply to this message", "Responda a este mensaje"),
    ],
)
def test_reply_instructions_per_channel(channel, en, es):
    assert en in reminder(channel=channel)
    assert es in reminder(channel=channel, language="es")


def test_kind_does_not_introduce_relative_days():
    for kind in ("48h", "24h", "2h"):
        text = reminder(kind=kind)
        assert "tomorrow" not in text.lower() and "today" not in text.lower()


def test_unknown_language_falls_back_to_english():
    assert reminder(language="fr") == reminder(language="en")
    assert reminder(language="es-US") == reminder(language="es")


@pytest.mark.parametrize("language", ["en", "es"])
def test_sms_texts_never_ask_for_a_carrier_keyword(language):
    texts = [
        reminder(language=language),
        reminder(language=language, appointment_type="Cleaning", instructions="Arrive early."),
        waitlist_offer_text(
            language=language,
            practice_name="Clinic",
            start_local=TUESDAY,
            location_name="Main",
            channel="sms",
            hold_until_local=TUESDAY,
        ),
        slot_options_text(language, [TUESDAY, TUESDAY.replace(hour=11)]),
        slot_options_text(language, []),
        *(confirmation_text(i, language, practice_name="Clinic", start_local=TUESDAY) for i in Intent),
        missed_you_text(language, "Clinic"),
        followup_prompt_text(language, "Clinic"),
    ]
    for text in texts:
        assert_no_keyword_to_reply(text)


def test_sms_reminder_answers_round_trip():
    for language in ("en", "es"):
        text = reminder(language=language)
        codes = re.findall(r"\b([123])\b", text.splitlines()[-1])
        assert [understand_reply(c, channel="sms").intent for c in codes] == [
            Intent.CONFIRM,
            Intent.RESCHEDULE,
            Intent.CANCEL,
        ]


# --- offers and options --------------------------------------------------------------------


def test_slot_options_are_numbered_and_answerable():
    slots = [TUESDAY, datetime(2026, 3, 11, 14, 0, tzinfo=NY), datetime(2026, 3, 12, 8, 15, tzinfo=NY)]
    text = slot_options_text("en", slots)
    lines = text.splitlines()
    assert lines[0] == "These times are available:"
    assert lines[1:4] == [
        "1. Tuesday, March 10 at 9:30 AM",
        "2. Wednesday, March 11 at 2:00 PM",
        "3. Thursday, March 12 at 8:15 AM",
    ]
    assert lines[-1] == "Reply with the number of the time you want."
    choice = understand_reply("2", channel="sms", offered_options=len(slots))
    assert choice.intent is Intent.RESCHEDULE and choice.option == 2


def test_slot_options_in_spanish_and_empty():
    text = slot_options_text("es", [TUESDAY])
    assert "1. martes 10 de marzo a las 9:30" in text.splitlines()
    assert "número" in text
    assert "no open times" in slot_options_text("en", [])
    assert "no tenemos horarios" in slot_options_text("es", [])


@pytest.mark.parametrize(
    ("channel", "phrase"),
    [
        ("sms", "Reply 1 to take it."),
        ("whatsapp", "button below"),
        ("email", "link below"),
        ("portal", "Reply to this message"),
    ],
)
def test_waitlist_offer(channel, phrase):
    text = waitlist_offer_text(
        language="en",
        practice_name="Sunrise",
        start_local=TUESDAY,
        location_name="Main Street Office",
        channel=channel,
    )
    assert text.startswith("Sunrise: an appointment time has opened up on Tuesday, March 10 at 9:30 AM")
    assert "at Main Street Office." in text
    assert phrase in text
    assert "no need to reply" in text
    assert "hold" not in text


def test_waitlist_offer_spanish_with_hold_and_reply():
    text = waitlist_offer_text(
        language="es",
        practice_name="Sunrise",
        start_local=TUESDAY,
        location_name="",
        channel="sms",
        hold_until_local=datetime(2026, 3, 9, 18, 0),
    )
    assert "hay una cita libre el martes 10 de marzo a las 9:30." in text
    assert "Responda 1 para reservarla." in text
    assert "hasta el lunes 9 de marzo a las 18:00" in text
    answer = understand_reply("1", channel="sms", offered_options=1)
    assert answer.option == 1
    assert understand_reply("sí", channel="sms", offered_options=1).option == 1


# --- confirmations and other prompts -------------------------------------------------------


def test_confirmation_texts_english():
    kw: dict[str, Any] = dict(practice_name="Sunrise", start_local=TUESDAY)
    assert confirmation_text(Intent.CONFIRM, "en", **kw) == (
        "Thank you, your appointment on Tuesday, March 10 at 9:30 AM is confirmed."
    )
    cancel = confirmation_text(Intent.CANCEL, "en", **kw)
    assert cancel.startswith("Your appointment on Tuesday, March 10 at 9:30 AM has been cancelled.")
    assert "call Sunrise" in cancel
    assert "other times" in confirmation_text(Intent.RESCHEDULE, "en", **kw)
    moved = confirmation_text(
        "reschedule",
        "en",
        practice_name="Sunrise",
        new_start_local=datetime(2026, 3, 12, 15, 0),
        location_name="Main",
    )
    assert moved == "Done: your appointment is now on Thursday, March 12 at 3:00 PM at Main."
    assert "Someone from Sunrise" in confirmation_text(Intent.UNKNOWN, "en", practice_name="Sunrise")
    assert confirmation_text(Intent.CONFIRM, "en", practice_name="Sunrise") == (
        "Thank you, your appointment is confirmed."
    )


def test_confirmation_texts_spanish():
    kw: dict[str, Any] = dict(practice_name="Sunrise", start_local=TUESDAY)
    assert confirmation_text(Intent.CONFIRM, "es", **kw) == (
        "Gracias, su cita del martes 10 de marzo a las 9:30 está confirmada."
    )
    assert "ha sido cancelada" in confirmation_text(Intent.CANCEL, "es", **kw)
    assert "otros horarios" in confirmation_text(Intent.RESCHEDULE, "es", **kw)
    assert (
        confirmation_text(Intent.RESCHEDULE, "es", practice_name="S", new_start_local=datetime(2026, 3, 12, 15, 0))
        == "Listo: su cita ahora es el jueves 12 de marzo a las 15:00."
    )
    assert "Alguien de Sunrise" in confirmation_text(Intent.UNKNOWN, "es", practice_name="Sunrise")


def test_confirmation_rejects_unknown_intent_names():
    with pytest.raises(ValueError):
        confirmation_text("maybe", "en", practice_name="Sunrise")


def test_missed_you_text():
    assert missed_you_text("en", "Sunrise") == (
        "Sunrise: we missed you at your appointment. Reply to this message and we will find you a new time."
    )
    assert missed_you_text("en", "Sunrise", "Book online at sunrise.example/book.").endswith(
        "Book online at sunrise.example/book."
    )
    assert "no pudo venir" in missed_you_text("es", "Sunrise")


def test_followup_prompt_names_no_reason():
    text = followup_prompt_text("en", "Sunrise", when_hint="within two weeks")
    assert text.startswith("Sunrise: it is time to book your follow-up visit (within two weeks).")
    assert "Reply to this message" in text
    assert "visita de seguimiento" in followup_prompt_text("es", "Sunrise")
