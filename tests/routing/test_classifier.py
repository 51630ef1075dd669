"""The combined classifier: API shape, red flags first, and the safety rules."""

from __future__ import annotations

import dataclasses

import pytest

from converge.routing.classifier import (
    CATEGORIES,
    CLINICAL_CATEGORIES,
    Classification,
    Classifier,
    classify,
    get_classifier,
)


def test_public_api_shape(classifier: Classifier) -> None:
    result = classify("Do you take Aetna insurance?")
    assert isinstance(result, Classification)
    assert result.as_dict() == {
        "category": result.category,
        "urgent": result.urgent,
        "confidence": round(result.confidence, 4),
        "reasons": list(result.reasons),
        "families": [],
    }
    assert get_classifier() is classifier
    assert frozenset({"refill", "clinical", "urgent"}) == CLINICAL_CATEGORIES
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.category = "urgent"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Do you accept Blue Cross insurance?", "administrative"),
        ("What are your office hours on Friday?", "administrative"),
        ("I need a copy of my medical records", "administrative"),
        ("Can I reschedule my appointment to Thursday?", "scheduling"),
        ("can i come earlier", "scheduling"),
        ("I need a refill on my lisinopril", "refill"),
        ("Can you send my metformin to CVS? I'm out", "refill"),
        ("Is dizziness a side effect of atorvastatin?", "clinical"),
        ("My incision is a little red after the biopsy, is that normal?", "clinical"),
        ("¿Aceptan el seguro Medicaid?", "administrative"),
        ("Necesito cambiar mi cita del martes", "scheduling"),
        ("Necesito un resurtido de metformina", "refill"),
        ("¿Es normal sentirme mareado con la nueva pastilla?", "clinical"),
    ],
)
def test_everyday_categories(classifier: Classifier, text: str, category: str) -> None:
    assert classifier.classify(text).category == category


def test_red_flag_is_urgent_with_the_phrase_as_reason(classifier: Classifier) -> None:
    result = classifier.classify("I have a question about my bill, but right now I have chest pain")
    assert result.category == "urgent"
    assert result.urgent is True
    assert result.confidence >= 0.9
    assert result.reasons == ('"chest pain"',)


def test_spanish_red_flag_reason_names_the_concept(classifier: Classifier) -> None:
    result = classifier.classify("Me quiero morir")
    assert result.urgent
    assert result.reasons == ('"me quiero morir" (suicidal thoughts or self-harm)',)


@pytest.mark.parametrize(
    "text",
    [
        "I got a bill for $120 that I don't understand. Also my cough has been getting worse "
        "for two weeks and I have a fever.",
        "Can you check my insurance covers the visit? My son's ear has been hurting since Monday.",
        "Hola, tengo una pregunta sobre mi factura. También tengo fiebre y tos desde hace una semana.",
        "how much do i owe on my account my rash is spreading and itchy",
    ],
)
def test_clinical_content_beats_billing(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.category in {"clinical", "urgent"}
    assert result.category in CLINICAL_CATEGORIES


def test_reasons_are_human_readable_ngrams(classifier: Classifier) -> None:
    result = classifier.classify("I need a refill on my lisinopril please")
    assert result.category == "refill"
    assert '"refill"' in result.reasons
    assert all(r.startswith('"') and r.endswith('"') for r in result.reasons)


@pytest.mark.parametrize("text", ["yes", "C", "1", "ok thanks", "Sí", "can i come at 3 instead"])
def test_reply_to_reminder_is_scheduling(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text, is_reply_to_reminder=True)
    assert result.category == "scheduling"
    assert result.reasons[0] == "reply to an appointment reminder"
    assert 0.0 <= result.confidence <= 1.0


def test_reply_to_reminder_with_red_flag_is_urgent(classifier: Classifier) -> None:
    result = classifier.classify("yes but I can't breathe right now", is_reply_to_reminder=True)
    assert result.category == "urgent"


def test_reply_to_reminder_with_clinical_content_is_clinical(classifier: Classifier) -> None:
    result = classifier.classify(
        "Yes I'll be there. Also the rash from the new cream is spreading and itchy, should I stop using it?",
        is_reply_to_reminder=True,
    )
    assert result.category == "clinical"


def test_reply_to_reminder_with_refill_request_reaches_nurses(classifier: Classifier) -> None:
    result = classifier.classify(
        "Confirmed. Also I need a refill on my metformin, I'm almost out",
        is_reply_to_reminder=True,
    )
    assert result.category == "refill"


def test_same_text_without_reminder_context_is_not_forced_to_scheduling(
    classifier: Classifier,
) -> None:
    assert classifier.classify("ok thanks").category == "administrative"
    assert classifier.classify("ok thanks", is_reply_to_reminder=True).category == "scheduling"


@pytest.mark.parametrize("text", ["", "   ", "👍", "?!", "\n\n"])
def test_text_without_words(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.category in CATEGORIES
    assert not result.urgent
    assert result.reasons  # always explains itself


def test_very_long_message_is_fast_enough_and_still_flags(classifier: Classifier) -> None:
    text = "I have a question about my statement. " * 2000 + "Also I have chest pain."
    assert classifier.classify(text).category == "urgent"


def test_urgent_flag_matches_category(classifier: Classifier) -> None:
    for text in ["chest pain", "refill please", "what are your hours", "I feel dizzy on metformin"]:
        result = classifier.classify(text)
        assert result.urgent == (result.category == "urgent")
