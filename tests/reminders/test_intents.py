"""Reply understanding: codes, buttons, free text in English and Spanish, offers, and refusals."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converge.reminders.intents import (
    CARRIER_KEYWORDS,
    SMS_OPTIONS,
    Intent,
    ReplyUnderstanding,
    normalize_language,
    reminder_reply_instructions,
    understand_reply,
)

C, X, R, U = Intent.CONFIRM, Intent.CANCEL, Intent.RESCHEDULE, Intent.UNKNOWN

# (text, expected intent) on SMS, no slot offer pending.
PHRASES: list[tuple[str, Intent]] = [
    # SMS codes
    ("1", C),
    ("2", R),
    ("3", X),
    ("1.", C),
    ("1!", C),
    (" 1 ", C),
    ("(3)", X),
    ("c", C),
    ("C", C),
    ("R", R),
    ("x", X),
    ("X.", X),
    ("1 thanks", C),
    ("3 please", X),
    ("4", U),
    ("1 or 3", U),
    # English confirm
    ("yes", C),
    ("Yes!", C),
    ("YES", C),
    ("yess", C),
    ("yeah", C),
    ("yep", C),
    ("yes see you then", C),
    ("Yes, see you tomorrow", C),
    ("confirmed", C),
    ("Confirm", C),
    ("I confirm", C),
    ("ok", C),
    ("OK", C),
    ("okay thanks", C),
    ("k", C),
    ("👍", C),
    ("👍🏽", C),
    ("✅", C),
    ("sure", C),
    ("sounds good", C),
    ("I'll be there", C),
    ("will be there, thank you!", C),
    ("I’ll be there", C),
    ("coming", C),
    ("perfect, see you then", C),
    ("no problem", C),
    ("no problem, thank you", C),
    ("absolutely", C),
    ("see you Tuesday", C),
    # English cancel
    ("I can't make it", X),
    ("I cant make it", X),
    ("cannot come", X),
    ("need to cancel", X),
    ("please cancel my appointment", X),
    ("Cancel appointment", X),
    ("not coming", X),
    ("I'm not coming", X),
    ("I won't be able to", X),
    ("I will not be able to attend", X),
    ("won't make it, sorry", X),
    ("sorry but I can't make it", X),
    ("no, I can't come", X),
    ("unable to attend", X),
    ("I'm not able to come", X),
    ("I have to cancel my appointment, my son is sick", X),
    ("no, cancel it", X),
    ("ok cancel", X),
    ("I can't make it because my car broke down", X),
    # English reschedule
    ("can we do next week?", R),
    ("can I come later", R),
    ("I need to reschedule", R),
    ("reschedule", R),
    ("Can we move it?", R),
    ("could we do Thursday instead?", R),
    ("is there another time?", R),
    ("different day please", R),
    ("I can't make it, can we do next week?", R),
    ("can't make it tuesday, could I come another day?", R),
    ("postpone please", R),
    # Spanish confirm
    ("sí", C),
    ("Sí", C),
    ("si", C),
    ("Si!", C),
    ("sí, confirmo", C),
    ("si confirmo", C),
    ("confirmo", C),
    ("confirmado", C),
    ("ahí estaré", C),
    ("alli estare", C),
    ("allí estaremos, gracias", C),
    ("de acuerdo", C),
    ("claro que sí", C),
    ("perfecto, nos vemos", C),
    ("si voy", C),
    ("vale", C),
    ("sin problema", C),
    ("sip", C),
    ("siii", C),
    ("Hola, sí ahí estaré, gracias", C),
    ("Cuenten conmigo", C),
    ("Buenos días, confirmo la cita", C),
    # Spanish cancel
    ("no puedo ir", X),
    ("No puedo asistir", X),
    ("cancelar mi cita", X),
    ("quiero cancelar la cita", X),
    ("cancelar", X),
    ("no voy a poder ir", X),
    ("no podré ir, lo siento", X),
    ("Disculpe, no podré asistir", X),
    ("Cancelen por favor", X),
    ("no iré", X),
    ("no voy", X),
    ("lo siento pero no puedo ir", X),
    # Spanish reschedule
    ("puedo cambiar la cita?", R),
    ("¿Puedo cambiar la cita?", R),
    ("otro día", R),
    ("otro dia por favor", R),
    ("quiero reprogramar", R),
    ("¿se puede más tarde?", R),
    ("la próxima semana", R),
    ("no puedo ir, ¿puede ser otro día?", R),
    ("necesito cambiar la hora", R),
    # ambiguous, mixed, hedged, unrelated -> a person
    ("yes but can we move it", U),
    ("ok but I'll be 10 minutes late", U),
    ("no", U),
    ("No.", U),
    ("nope", U),
    ("is it fasting?", U),
    ("do I need to fast?", U),
    ("what time is it again?", U),
    ("where are you located", U),
    ("who is this", U),
    ("thanks", U),
    ("gracias", U),
    ("thank you for the reminder", U),
    ("Good morning", U),
    ("maybe", U),
    ("I think so", U),
    ("probably", U),
    ("I'll try to make it", U),
    ("if my ride shows up", U),
    ("yes if I get off work", U),
    ("confirmed?", U),
    ("can I cancel?", U),
    ("should I cancel?", U),
    ("don't cancel", U),
    ("do not cancel, I'm coming", U),
    ("no need to reschedule", U),
    ("not sure yet", U),
    ("running late", U),
    ("I'll be late", U),
    ("yes, I need to cancel", U),
    ("ok see you then, can you also send me my lab results", U),
    ("tal vez", U),
    ("quizás", U),
    ("no sé", U),
    ("si puedo voy", U),
    ("si puedo cambiar", U),
    ("sí pero más tarde", U),
    ("no cancelar", U),
    ("voy a llegar tarde", U),
    ("llego tarde", U),
    ("no thanks", U),
    ("not good", U),
    ("", U),
    ("   ", U),
    ("😊", U),
    ("???", U),
    ("hello?", U),
    ("Can I bring my daughter?", U),
    ("Yes, is parking available?", U),
    ("Why was my appointment cancelled?", U),
    ("sí, también quería preguntar por mis análisis", U),
    ("Yes yes yes but also my son needs an appointment for his shots next week", U),
]


def test_table_is_large():
    assert len(PHRASES) >= 80
    assert len({p for p, _ in PHRASES}) == len(PHRASES)


@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_phrase_table(text, expected):
    result = understand_reply(text, channel="sms")
    assert result.intent is expected, (text, result)
    assert result.option is None
    if expected is U:
        assert result.confidence == 0.0
    else:
        assert 0.5 <= result.confidence <= 1.0


# --- carrier keywords ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    [
        *sorted(CARRIER_KEYWORDS),
        "stop",
        "Stop.",
        "STOP!",
        "Unsubscribe",
        "opt out",
        "stop all",
        "START",
        "unstop",
        "HELP",
        "info",
        "stop texting me",
        "please stop sending these",
        "yes stop",
    ],
)
def test_carrier_and_opt_out_words_are_left_to_opt_out_handling(word):
    for channel in ("sms", "whatsapp", "email"):
        result = understand_reply(word, channel=channel)
        if word.strip(".!").lower() == "cancel" and channel != "sms":
            continue
        assert result.intent is U, (word, channel)


def test_bare_cancel_is_a_cancel_only_off_sms():
    assert understand_reply("CANCEL", channel="sms").intent is U
    assert understand_reply("cancel", channel="email").intent is X
    assert understand_reply("Cancel.", channel="webchat").intent is X


# --- channels ------------------------------------------------------------------------------


@pytest.mark.parametrize(("button", "intent"), [("confirm", C), ("reschedule", R), ("cancel", X), ("CONFIRM", C)])
def test_whatsapp_button_ids(button, intent):
    result = understand_reply(button, channel="whatsapp")
    assert result == ReplyUnderstanding(intent, 1.0, f"button:{button.lower()}", None)


def test_sms_codes_are_not_read_on_other_channels():
    for channel in ("whatsapp", "email", "webchat"):
        assert understand_reply("1", channel=channel).intent is U
        assert understand_reply("X", channel=channel).intent is U
        assert understand_reply("yes", channel=channel).intent is C


def test_sms_options_table():
    assert SMS_OPTIONS["1"] is C and SMS_OPTIONS["2"] is R and SMS_OPTIONS["3"] is X
    assert SMS_OPTIONS["C"] is C and SMS_OPTIONS["R"] is R and SMS_OPTIONS["X"] is X


def test_channel_name_is_case_insensitive():
    assert understand_reply("1", channel=" SMS ").intent is C


# --- slot offers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("1", 1),
        ("2", 2),
        ("3.", 3),
        (" 2 ", 2),
        ("#2", 2),
        ("option 2", 2),
        ("Option 3 please", 3),
        ("number 1", 1),
        ("the second one", 2),
        ("second", 2),
        ("the 2nd", 2),
        ("first one please", 1),
        ("option one", 1),
        ("la 2", 2),
        ("el 3", 3),
        ("la segunda", 2),
        ("la primera, gracias", 1),
        ("opción 3", 3),
        ("el tercero", 3),
        ("2da", 2),
        ("I'll take 2", 2),
        ("quiero la 1", 1),
    ],
)
def test_picking_an_offered_slot(text, option):
    result = understand_reply(text, channel="sms", offered_options=3)
    assert result.intent is R, (text, result)
    assert result.option == option


@pytest.mark.parametrize("text", ["4", "option 5", "the fifth one", "0", "2 or 3", "x", "c"])
def test_bad_or_ambiguous_picks_are_unknown(text):
    result = understand_reply(text, channel="sms", offered_options=3)
    assert result.intent is U, (text, result)
    assert result.option is None


def test_yes_picks_the_only_offered_slot_but_not_one_of_several():
    single = understand_reply("yes please", channel="sms", offered_options=1)
    assert single.intent is R and single.option == 1
    assert understand_reply("sí", channel="whatsapp", offered_options=1).option == 1
    assert understand_reply("yes", channel="sms", offered_options=3).intent is U


def test_picks_work_on_any_channel_and_other_intents_still_read():
    assert understand_reply("2", channel="whatsapp", offered_options=2).option == 2
    assert understand_reply("none of these work, another day?", channel="sms", offered_options=3).intent is R
    declined = understand_reply("I can't make any of those", channel="sms", offered_options=3)
    assert declined.intent is X and declined.option is None


# --- instructions --------------------------------------------------------------------------

KEYWORD_RE = "|".join(sorted(CARRIER_KEYWORDS))


@pytest.mark.parametrize("language", ["en", "es", "es-MX", "fr", ""])
def test_sms_instructions_never_ask_for_a_carrier_keyword(language):
    text = reminder_reply_instructions(language, "sms")
    assert not re.search(rf"\b({KEYWORD_RE})\b", text), text  # never in capitals
    assert not re.search(
        rf"\b(reply|text|send|responda|env[ií]e|escriba)\s+[\"'“]?({KEYWORD_RE})\b",
        text,
        flags=re.IGNORECASE,
    ), text
    for code in ("1", "2", "3"):
        assert code in text


def test_instructions_round_trip_through_understanding():
    for language in ("en", "es"):
        text = reminder_reply_instructions(language, "sms")
        codes = re.findall(r"\b([123])\b", text)
        intents = [understand_reply(code, channel="sms").intent for code in codes]
        assert intents == [C, R, X]


def test_instructions_per_channel_and_language():
    assert reminder_reply_instructions("en", "sms") == ("Reply 1 to confirm, 2 to reschedule, 3 to cancel.")
    assert "Responda 1 para confirmar" in reminder_reply_instructions("es", "sms")
    assert "buttons below" in reminder_reply_instructions("en", "whatsapp")
    assert "botones" in reminder_reply_instructions("es", "whatsapp")
    assert "links below" in reminder_reply_instructions("en", "email")
    assert "enlaces" in reminder_reply_instructions("es", "email")
    assert "Reply to this message" in reminder_reply_instructions("en", "webchat")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("es", "es"), ("ES", "es"), ("es-MX", "es"), ("es_US", "es"), ("en", "en"), ("fr", "en"), ("", "en")],
)
def test_normalize_language(tag, expected):
    assert normalize_language(tag) == expected


# --- robustness ----------------------------------------------------------------------------


def test_very_long_text_is_unknown():
    assert understand_reply("yes " * 400, channel="sms").intent is U
    assert understand_reply("yes " * 60, channel="sms").intent is U


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(max_size=300),
    channel=st.sampled_from(["sms", "whatsapp", "email", "webchat", "", "SMS"]),
    offered=st.integers(min_value=0, max_value=9),
)
def test_property_never_crashes_and_answers_are_well_formed(text, channel, offered):
    result = understand_reply(text, channel=channel, offered_options=offered)
    assert isinstance(result.intent, Intent)
    assert 0.0 <= result.confidence <= 1.0
    assert isinstance(result.matched, str)
    if result.option is not None:
        assert result.intent is R
        assert 1 <= result.option <= offered
    if result.intent is U:
        assert result.confidence == 0.0


phrase_words = st.sampled_from(
    [p for p, _ in PHRASES if p.strip()] + ["but", "pero", "?", "stop", "no", "si", "2", ","]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(phrase_words, min_size=1, max_size=6), st.integers(0, 3))
def test_property_combinations_of_known_phrases_never_crash(parts, offered):
    result = understand_reply(" ".join(parts), channel="sms", offered_options=offered)
    assert isinstance(result.intent, Intent)
    if "stop" in parts:
        assert result.intent is U
