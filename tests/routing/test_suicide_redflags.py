"""Suicide and self-harm risk as its own red-flag family, from the C-SSRS screening steps, and
the idioms and negations that are not risk."""

from __future__ import annotations

import pytest

from converge.routing import redflags
from converge.routing.classifier import Classifier
from converge.routing.redflags import SUICIDE_SELF_HARM, find_red_flags

ISSUE_14 = [
    "I wrote letters to everyone I love tonight. I won't need the appointment on Friday",
    "I don't see the point of going on anymore, can you cancel all my visits",
    "Please tell Dr Patel thank you for everything. I'm done fighting, this is goodbye",
    "I have been saving up my sleeping pills and I think tonight is the night",
    "I bought a rope today. I just wanted someone to know",
    "I'm hanging myself tomorrow",
]


def families(text: str) -> set[str]:
    return {flag.family for flag in find_red_flags(text)}


@pytest.mark.parametrize(
    "text",
    [
        *ISSUE_14,
        "i wish i could go to sleep and never wake up",  # wish to be dead
        "everyone would be better off without me",
        "kms",
        "honestly i want to unalive myself",  # slang
        "I keep thinking about ending my life",  # active thoughts
        "I'm thinking about jumping off the bridge",  # method
        "I know how I'm going to do it",  # intent
        "I've been giving away my things to my friends",  # preparatory acts
        "I bought a gun last week",
        "I tried to kill myself and the thoughts are back",  # past attempt
        "my son said he wants to kill himself",  # third party
        "ya no quiero seguir viviendo",
        "escribí cartas para mi familia, esto es un adiós",
        "estoy guardando mis pastillas",
        "compré una soga",
        "mi hija dice que quiere morir",
    ],
)
def test_risk_is_suicide_family(text: str) -> None:
    assert SUICIDE_SELF_HARM in families(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm not suicidal, just stressed about work",
        "this paperwork is killing me",
        "dying to know my lab results",
        "I'm dead tired after the night shift",
        "anything to kill time in the waiting room?",
        "my feet are killing me after the walk",
        "I'd kill for an earlier appointment",
        "no thoughts of hurting myself, just feeling low",
    ],
)
def test_idioms_and_negations_are_not_risk(text: str) -> None:
    assert SUICIDE_SELF_HARM not in families(text)


def test_every_concept_has_a_family() -> None:
    concepts = [c for c, _ in redflags.CONCEPTS] + [c for c, *_ in redflags.TOGETHER]
    assert all(c in redflags.FAMILIES for c in concepts)


@pytest.mark.parametrize("text", ISSUE_14)
def test_issue_messages_are_urgent_even_as_reminder_replies(classifier: Classifier, text: str) -> None:
    for reply in (False, True):
        result = classifier.classify(text, is_reply_to_reminder=reply)
        assert result.category == "urgent"
        assert SUICIDE_SELF_HARM in result.families
