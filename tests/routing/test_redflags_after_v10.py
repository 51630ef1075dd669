"""Red flags found missing or over-firing on held-out v10 (issue 14, round three), reworded here so the
tests check the pattern, not the v10 sentence: a passive wish to be dead said as an aside, a last
message, means kept ready or pills saved from old bottles, self-harm getting worse, a veiled ending in
a scheduling request; and the travel, bereavement, childhood history, Spanish denials and idioms that
are not a risk now."""

from __future__ import annotations

import pytest

from converge.routing.redflags import SUICIDE_SELF_HARM, find_red_flags, scan


def families(text: str) -> set[str]:
    return {flag.family for flag in find_red_flags(text)}


@pytest.mark.parametrize(
    "text",
    [
        # wish to be dead, passive
        "tbh I wouldn't care if I never woke up after the endoscopy",
        "part of me hopes I don't make it through the operation",
        "I keep hoping something happens to me so I don't have to wake up to this",
        "if I didn't wake up tomorrow I'd be fine with it",
        "no me importaría no despertar después de la cirugía",
        # goodbyes
        "after this you won't hear from me again, thanks for everything",
        "my brother said this is the last time anyone will hear from him",
        "thank you for putting up with me all these years",
        "ya no van a saber nada de mí, gracias por todo",
        # preparatory acts
        "no refill needed, I kept enough saved from the old prescriptions",
        "I've been holding on to a lot of my sleeping pills from the last few bottles",
        "the rope is ready in the shed",
        "tengo escondida la pistola en el carro",
        "ya junté suficientes pastillas",
        # self-harm getting worse
        "I picked at my skin till it bled and now I'm getting the blade out",
        "me rasqué las piernas hasta sangrar",
        # a veiled ending
        "cancel everything, I won't be needing any appointments after Friday",
        "you can stop the reminders, I won't be around after Saturday",
        "no point scheduling anything after this week",
        "cancelen mis citas, después del lunes ya no las voy a necesitar",
    ],
)
def test_csscrs_steps_worded_as_asides(text: str) -> None:
    assert SUICIDE_SELF_HARM in families(text)


@pytest.mark.parametrize(
    "text",
    [
        "I won't be around next week, I'm visiting my sister, can we move my physical",
        "won't be here next Monday, work trip, please reschedule",
        "my grandfather took his own life in 1998, does that matter for my family history form",
        "no pienso hacerme daño, solo quiero hablar de la ansiedad",
        "nada de pensamientos de hacerme daño, todo bien",
        "I had a seizure once as a baby with a fever, fine since then",
        "when I was little I had febrile seizures, is the vaccine ok",
        "I'm scared I won't wake up from the anesthesia on Monday",
        "me estoy muriendo de la risa con el nuevo portal",
        "I saved up enough pills for the trip, no refill needed until May",
        "I won't need the follow-ups after Friday, I'm switching to a new doctor",
        "thank you for putting up with me all these years, we're moving to Denver in June",
        "you won't hear from me again, I'm switching to a new clinic closer to work",
    ],
)
def test_travel_bereavement_childhood_history_denials_and_idioms_are_no_red_flag(text: str) -> None:
    assert not find_red_flags(text), [flag.reason() for flag in find_red_flags(text)]


def test_a_long_past_attempt_told_in_spanish_is_denied_so_the_model_cannot_reassert_it() -> None:
    found = scan("de joven tomé pastillas para morirme, ahora estoy bien")
    assert not found.flags and "suicidal thoughts or self-harm" in found.negated


@pytest.mark.parametrize(
    "text",
    [
        "he almost took his own life last night",
        "anoche tomé pastillas para morirme",
        "I won't be here next week, don't bother calling",
    ],
)
def test_the_same_words_now_still_fire(text: str) -> None:
    assert SUICIDE_SELF_HARM in families(text)
