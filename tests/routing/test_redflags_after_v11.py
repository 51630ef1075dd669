"""Red flags found missing or over-firing on held-out v11 (issue 14, round four), reworded here so the
tests check the pattern, not the v11 sentence: a plan with a date, "when I'm gone, which will be soon",
fever during chemotherapy, a rash that does not fade when pressed, fever with a stiff neck or confusion,
pregnancy warning signs (preeclampsia, waters breaking, fewer movements, one-sided pain), urine retention,
a dangerous sugar reading; and the idioms, history and ordinary causes that are not a risk now."""

from __future__ import annotations

import pytest

from converge.routing.redflags import SUICIDE_SELF_HARM, find_red_flags, scan


def families(text: str) -> set[str]:
    return {flag.family for flag in find_red_flags(text)}


@pytest.mark.parametrize(
    "text",
    [
        # a plan with a date, a veiled ending
        "I've got the day chosen now. the dog goes to my brother first",
        "it's set, the date is decided. please make sure my son gets my file",
        "when I'm gone, and it won't be long, give my sister access to my chart",
        "mi hermano va a cuidar a mis gatos cuando ya no esté, muy pronto",
        # relapse after past self-harm
        "I used to cut in high school and I started cutting again this month",
    ],
)
def test_plans_and_relapse(text: str) -> None:
    assert SUICIDE_SELF_HARM in families(text)


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("my husband is on chemo and he's running a fever tonight", "fever"),
        ("tiene quimioterapia cada semana y hoy amaneció con calentura", "fever"),
        ("little red-purple dots on her legs that don't go away when I push on them, and she's hot", "fever"),
        ("hizo la prueba del vaso y las ronchas que no se borran al presionarlas", "fever"),
        ("my son has a temp of 102 and says the light hurts his eyes", "fever"),
        ("high fever since last night and grandpa is confused, not making sense", "fever"),
        ("35 weeks, my face and hands got puffy today and there are spots in my vision", "pregnancy"),
        ("I'm 29 weeks and a gush of water just came out", "pregnancy"),
        ("tengo 31 semanas y se me salió mucho líquido", "pregnancy"),
        ("im 27 weeks and barely any kicks today", "pregnancy"),
        ("six weeks pregnant and severe stabbing pain low in my belly", "pregnancy"),
        ("had my baby 4 days ago and now a splitting headache that won't go away", "pregnancy"),
        ("haven't urinated since yesterday morning and my lower belly is hard", "general_emergency"),
        ("no ha podido orinar nada en todo el día", "general_emergency"),
        ("blood sugar says HI on the meter and he's breathing fast", "general_emergency"),
    ],
)
def test_fever_pregnancy_and_other_families(text: str, family: str) -> None:
    assert family in families(text)


@pytest.mark.parametrize(
    "text",
    [
        # idioms
        "my second attempt to log in failed again, can you reset it",
        "I overdosed on holiday cookies lol, anyway can I get my flu shot Friday",
        "this copay is going to give me a heart attack, is there a payment plan",
        "me va a dar un infarto cuando vea la cuenta jaja",
        # history
        "I passed out once in college, nothing since, the form asks about it",
        "I used to self harm as a teen, it's been years, just updating my history",
        "my glucose was 450 when I was diagnosed years ago, it's 110 now",
        # an ordinary cause, an ordinary date
        "my chest is sore from coughing so much, can I get something for the cough",
        "me duele el pecho de tanta tos, qué jarabe me recomiendan",
        "we have the date set for the wedding, can I move my physical",
        "I've got the day picked for my colonoscopy, what do I eat before",
        "my mom wants her records to go to me when she's gone, what form is that",
        # normal pregnancy questions
        "I'm 24 weeks, is it normal that my feet swell a bit at night",
        "18 weeks pregnant, when is my anatomy scan",
    ],
)
def test_not_a_red_flag(text: str) -> None:
    assert not scan(text).flags, scan(text).flags


@pytest.mark.parametrize(
    ("text", "family"),
    [
        # missed out of fold by grouped cross-validation on training (round four), reworded
        ("lately I have thoughts about not existing and they won't stop", SUICIDE_SELF_HARM),
        ("sometimes I just want to sleep forever", SUICIDE_SELF_HARM),
        ("there's no reason to go on, I'm so tired", SUICIDE_SELF_HARM),
        ("gracias por todo, esta es mi última carta", SUICIDE_SELF_HARM),
        ("please tell the nurses sorry for everything. I won't be back", SUICIDE_SELF_HARM),
        ("tengo cloro guardado para tomármelo esta noche", SUICIDE_SELF_HARM),
        ("my brother left a note and is not answering his phone", SUICIDE_SELF_HARM),
        ("my mom has been stashing her sleeping pills in a sock", SUICIDE_SELF_HARM),
        ("me corté el brazo con un vidrio a propósito", SUICIDE_SELF_HARM),
        ("my toddler ate a few of grandma's pills off the counter", "poisoning_overdose"),
    ],
)
def test_out_of_fold_misses(text: str, family: str) -> None:
    assert family in families(text)


@pytest.mark.parametrize(
    "text",
    [
        "my daughter ate her lunch and took her vitamins, can you fill out the camp form",
        "sorry, I won't be back until June, please hold my refill",
        "I keep my pills hidden from the kids up high, is that ok",
    ],
)
def test_out_of_fold_negatives(text: str) -> None:
    assert not scan(text).flags, scan(text).flags


@pytest.mark.parametrize(
    "text",
    [
        # over-triaged out of fold by the rules (round four), reworded
        "ase años que intenté suicidarme, ya estoy bien, es para mi historial",
        "mi tío murió por suicidio, soy el albacea, necesito su expediente",
        "an old suicide attempt from high school shows up in my chart, can it be removed",
        "could the new sertraline cause suicidal thoughts? asking before I start, I have none",
        "no es q quiera hacerme daño, solo quiero hablar con alguien del estrés",
        "does the antibiotic raise my seizure risk? none in years",
    ],
)
def test_history_and_questions_are_not_red_flags(text: str) -> None:
    assert not scan(text).flags, scan(text).flags


@pytest.mark.parametrize(
    "text",
    [
        "my last attempt was 3 months ago and it's getting bad again",
        "the sertraline is causing suicidal thoughts since I started it",
        "hace un año intenté matarme y ahora lo estoy pensando otra vez",
    ],
)
def test_history_that_is_back_is_still_a_red_flag(text: str) -> None:
    assert SUICIDE_SELF_HARM in families(text)
