"""Red flags found missing or over-firing on held-out v9 (issue 14, round two), reworded here so the
tests check the pattern, not the v9 sentence: children and household products, double doses given
to a child, bleeding that pressure does not stop, preparatory acts and third-party reports; and the
bereavement, long-past attempts and denials that are not a risk now."""

from __future__ import annotations

import pytest

from converge.routing.redflags import POISONING_OVERDOSE, SUICIDE_SELF_HARM, find_red_flags


def families(text: str) -> set[str]:
    return {flag.family for flag in find_red_flags(text)}


@pytest.mark.parametrize(
    "text",
    [
        "my 2 year old bit a detergent pod, there's foam in his mouth",
        "she was chewing on a tide pod",
        "my son drank some windshield washer fluid",
        "my daughter got into the medicine cabinet",
        "the baby swallowed some lamp oil",
        "I gave my toddler a double dose of his fever medicine",
        "my dad took his insulin twice and he's slurring his words",
        "mi hija mordió una cápsula de jabón",
        "creo que mi nieto se tragó unos imanes",
        "le di doble dosis de ibuprofeno a mi hija",
    ],
)
def test_poisoning_in_children_and_double_doses(text: str) -> None:
    assert POISONING_OVERDOSE in families(text)


@pytest.mark.parametrize(
    "text",
    [
        "I cut my thumb on the grater and it's spurting",
        "15 minutes on the cut now and the pressure isn't stopping it",
        "pressing on it is not slowing the blood down",
        "me corté y la sangre sale a chorros",
    ],
)
def test_bleeding_that_pressure_does_not_stop(text: str) -> None:
    assert "bleeding" in families(text)


@pytest.mark.parametrize(
    "text",
    [
        "my husband is giving his fishing gear away and says he's tired of hanging around",
        "she gave away her books and her jewelry last week",
        "please cancel my visits, I won't be here after tonight",
        "my son keeps saying he wants to disappear",
        "my daughter has been cutting her thighs",
        "mi hijo se está cortando los brazos",
        "mi mamá dice que está cansada de estar aquí",
        "si no me ayudan me suicido",
        "I almost killed myself last night",
    ],
)
def test_preparatory_acts_and_third_party_reports(text: str) -> None:
    assert SUICIDE_SELF_HARM in families(text)


@pytest.mark.parametrize(
    "text",
    [
        "my uncle killed himself in the fall and I keep thinking about him, can I see someone",
        "mi tío se suicidó hace un año, necesito hablar con alguien",
        "my sister died by suicide last month and I can't sleep",
        "ten years ago I tried to kill myself, I'm doing well now and want the new doctor to know",
        "hace 20 años intenté quitarme la vida, ahora estoy bien",
        "no soy suicida, solo estoy muy cansada",
        "I don't want to die, I just feel numb",
        "I'm giving my old clothes away to goodwill, can I drop off the forms",
        "I cut my arm on a nail in the garage",
        "I drank some cough syrup for my cold, is that ok with my blood pressure pills",
    ],
)
def test_bereavement_long_past_attempts_and_denials_are_no_red_flag(text: str) -> None:
    assert SUICIDE_SELF_HARM not in families(text) and POISONING_OVERDOSE not in families(text)


@pytest.mark.parametrize(
    "text",
    [
        "years ago I tried to kill myself and tonight I want to try again",
        "when I was 19 I overdosed, and now I'm saving my pills again",
    ],
)
def test_a_long_past_attempt_brought_back_to_now_still_fires(text: str) -> None:
    assert SUICIDE_SELF_HARM in families(text) or POISONING_OVERDOSE in families(text)
