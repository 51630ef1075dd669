"""Issue 14: short, neutral messages are not urgent (no 911 reply to "And now by text"), and the
rules read the denials and figures of speech around risk as what they are. The texts here are
worded differently from the training templates (templates/everyday.*.txt)."""

from __future__ import annotations

import pytest

from converge.routing.classifier import Classifier
from converge.routing.redflags import SUICIDE_SELF_HARM, find_red_flags

NEUTRAL = [
    "And now by text",
    "texting you now instead",
    "this is her son, she asked me to text you",
    "is this still the clinic number",
    "moving this to text",
    "no",
    "nope",
    "no thanks",
    "ya",
    "👌",
    "ok see u",
    "thursday is good",
    "got your message",
    "i'm outside in the car",
    "dying to see the new office lol",
    "my late husband's bills are still coming, please stop them",
    "mi esposo falleció, cómo cierro su cuenta",
    "ya recibí el mensaje",
    "ok, nos vemos",
]


@pytest.mark.parametrize("text", NEUTRAL)
def test_short_neutral_messages_are_not_urgent(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.category != "urgent", result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "my daughter is low but she's not thinking about suicide, can she be seen",
        "I have no plans to harm myself, I just feel flat all the time",
        "he isn't talking about hurting himself, just very withdrawn",
        "please disregard my last message",
        "I'm done fighting with my insurance, just bill me",
        "this is goodbye to paper statements, please email me",
        "I nearly had a heart attack when I saw the bill",
        "I collect my meds every Friday at the pharmacy",
        "I can't do this anymore, the website keeps logging me out",
    ],
)
def test_denials_and_figures_of_speech_raise_no_red_flag(text: str) -> None:
    assert not find_red_flags(text)


@pytest.mark.parametrize(
    "text",
    [
        "honestly being dead would be easier",
        "I keep praying for all of this to be over",
        "I'm scared I'll do something stupid to myself tonight",
        "been counting my sertraline to see if there are enough",
        "I sat looking at the pill bottles for hours last night",
        "I was reading up on how to hang",
        "I picked which bridge",
        "I hid notes in my closet for my children",
        "I found a home for my cat because I won't be here much longer",
        "I stashed a bottle of my mom's oxycodone",
        "I bought a box of razor blades",
        "I cut too deep this time",
        "my brother keeps talking about shooting himself",
        "my friend wrote that she can't go on",
        "some nights I pray my heart just stops",
        "nothing left for me here",
        "please tell my kids I'm sorry",
        "ojalá no despierte",
        "ya lo decidí, hoy lo hago",
        "mi hijo dice que se quiere matar",
        "I can't do this anymore, the pain in my head is nothing compared to this",
    ],
)
def test_cssrs_wordings_found_missing_are_suicide_family(text: str) -> None:
    assert SUICIDE_SELF_HARM in {flag.family for flag in find_red_flags(text)}
