"""Property tests: classify never crashes on arbitrary text and always answers in range."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge.routing.classifier import CATEGORIES, Classifier
from converge.routing.redflags import find_red_flags

_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

medical_words = st.sampled_from(
    [
        "chest",
        "pain",
        "no",
        "not",
        "breathe",
        "fever",
        "baby",
        "refill",
        "bill",
        "dolor",
        "pecho",
        "sin",
        "cant",
        "bleeding",
        "stop",
        "won't",
        ",",
        ".",
        "?",
        "seizure",
        "appointment",
        "yes",
    ]
)


@_settings
@given(text=st.text(max_size=2000), reply=st.booleans())
def test_classify_any_unicode(classifier: Classifier, text: str, reply: bool) -> None:
    result = classifier.classify(text, is_reply_to_reminder=reply)
    assert result.category in CATEGORIES
    assert 0.0 <= result.confidence <= 1.0
    assert result.urgent == (result.category == "urgent")
    assert result.reasons and all(isinstance(r, str) for r in result.reasons)
    assert set(result.as_dict()) == {"category", "urgent", "confidence", "reasons", "families"}


@_settings
@given(words=st.lists(medical_words, max_size=40), reply=st.booleans())
def test_classify_medical_word_soup(classifier: Classifier, words: list[str], reply: bool) -> None:
    result = classifier.classify(" ".join(words), is_reply_to_reminder=reply)
    assert result.category in CATEGORIES
    assert 0.0 <= result.confidence <= 1.0


@_settings
@given(text=st.text(max_size=500))
def test_red_flag_reasons_come_from_the_text(text: str) -> None:
    for flag in find_red_flags(text):
        assert flag.phrase
        assert flag.concept
