from __future__ import annotations

import pytest

from converge.routing.classifier import Classifier, get_classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    # Trains from the committed corpus once per test session (a few seconds).
    return get_classifier()
