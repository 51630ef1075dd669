"""Held-out quality targets, measured on corpus/test.csv (never used for training or tuning)."""

from __future__ import annotations

import csv
import re
import unicodedata
from typing import Any

import pytest

from converge.routing.classifier import Classifier
from converge.routing.cli import evaluate_csv
from converge.routing.model import TEST_CSV, TRAIN_CSV


@pytest.fixture(scope="module")
def figures(classifier: Classifier) -> dict[str, Any]:
    return evaluate_csv(TEST_CSV)


def test_urgent_recall(figures: dict[str, Any]) -> None:
    assert figures["urgent_recall"] >= 0.98


def test_clinical_rarely_reaches_a_front_desk_queue(figures: dict[str, Any]) -> None:
    assert figures["clinical_to_nonclinical_rate"] <= 0.02


def test_macro_f1(figures: dict[str, Any]) -> None:
    assert figures["macro_f1"] >= 0.85


def _key(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


def _rows(path: object) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:  # type: ignore[call-overload]
        return list(csv.DictReader(handle))


def test_corpus_sizes_and_disjoint_splits() -> None:
    train, test = _rows(TRAIN_CSV), _rows(TEST_CSV)
    assert len(train) >= 2500
    assert len(test) >= 600
    assert not {_key(r["text"]) for r in train} & {_key(r["text"]) for r in test}


def test_corpus_is_about_a_quarter_spanish() -> None:
    spanish = re.compile(
        r"\b(necesito|tengo|cita|receta|gracias|hola|puedo|mi|el|la|de|que|por favor|"
        r"buenas|buenos|no puedo)\b",
        re.IGNORECASE,
    )
    rows = _rows(TRAIN_CSV)
    share = sum(bool(spanish.search(r["text"])) and " the " not in r["text"] for r in rows)
    assert 0.18 <= share / len(rows) <= 0.35
