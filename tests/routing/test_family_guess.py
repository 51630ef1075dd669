"""Issue 14: an urgent message only the model caught gets the safety reply of the family it
resembles (988 for suicide/self-harm, Poison Control for poisoning), not always the generic 911."""

from __future__ import annotations

import pytest

from converge.conversations.models import Message
from converge.routing.classifier import Classifier, Policy, Scores, verdict
from converge.routing.model import Analysis, parts
from converge.routing.redflags import OTHER_EMERGENCY, POISONING_OVERDOSE, SUICIDE_SELF_HARM, find_red_flags
from tests.helpers import receive

# Worded so that no red-flag rule fires: only the model can call these urgent.
MODEL_ONLY = [
    ("there's no way out for me anymore", SUICIDE_SELF_HARM),
    ("I'm so tired of everything, I just want it over", SUICIDE_SELF_HARM),
    ("I took the whole thing of my dad's heart pills", POISONING_OVERDOSE),
    ("my husband collapsed and is not waking up", OTHER_EMERGENCY),
]


def _model_only(classifier: Classifier, text: str) -> tuple[str, tuple[str, ...]]:
    whole = classifier.model.analyse(text)
    sentences = parts(text)
    pieces = tuple(classifier.model.analyse(s, folded=True) for s in sentences) if len(sentences) > 1 else ()
    scores = Scores((), whole, pieces)
    decided = verdict(scores, classifier.policy, is_reply_to_reminder=False)
    return decided.category, classifier.families(scores, decided.category, decided.because)


@pytest.mark.parametrize(("text", "family"), MODEL_ONLY)
def test_model_only_urgent_catch_guesses_the_reply_family(classifier: Classifier, text: str, family: str) -> None:
    category, families = _model_only(classifier, text)
    assert category == "urgent"
    assert families[0] == family


@pytest.mark.parametrize(("text", "family"), MODEL_ONLY[:2])
def test_classify_names_the_guessed_family_when_no_rule_fires(classifier: Classifier, text: str, family: str) -> None:
    assert not find_red_flags(text)
    result = classifier.classify(text)
    assert result.category == "urgent"
    assert family in result.families


def test_rule_families_win_over_the_guess(classifier: Classifier) -> None:
    result = classifier.classify("crushing chest pain, can't catch my breath")
    assert result.families and not {SUICIDE_SELF_HARM, POISONING_OVERDOSE, OTHER_EMERGENCY} & set(result.families)


def test_no_family_guess_below_the_threshold(classifier: Classifier) -> None:
    flat = Analysis({label: 0.2 for label in ("administrative", "scheduling", "refill", "clinical", "urgent")}, "", ())
    strict = Classifier(classifier.model, Policy(family_guess=1.01))
    assert strict.families(Scores((), flat, ()), "urgent", flat) == (OTHER_EMERGENCY,)
    assert strict.families(Scores((), flat, ()), "clinical", flat) == ()


@pytest.mark.django_db
def test_model_only_suicide_risk_gets_the_988_reply(sms_channel) -> None:
    text = MODEL_ONLY[0][0]
    message = receive(sms_channel, "+15552017799", text).message
    message.refresh_from_db()
    assert message.metadata["classification"]["category"] == "urgent"
    assert SUICIDE_SELF_HARM in message.metadata["classification"]["families"]
    automatic = Message.objects.filter(conversation=message.conversation, direction="out", pk__gt=message.pk)
    bodies = [m.body for m in automatic]
    assert any("988" in b and "911" in b for b in bodies), bodies


@pytest.mark.django_db
def test_the_crisis_reply_reaches_the_patient_on_their_own_channel(sms_channel) -> None:
    """The lifeline's name ("Suicide & Crisis") reads as mental-health content to the PHI guard,
    which sent the whole reply through the secure portal: the patient's phone got only a link.
    The safety reply is our own wording with nothing about the patient in it: it goes by SMS."""
    message = receive(sms_channel, "+15552017798", "I bought a rope today. I just wanted someone to know").message
    automatic = Message.objects.filter(conversation=message.conversation, direction="out", pk__gt=message.pk)
    on_sms = [m.body for m in automatic if m.channel_id == sms_channel.pk]
    assert any("988" in body and "911" in body for body in on_sms), on_sms
