"""Model persistence, determinism, and agreement with sklearn."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import hstack

from converge.routing import model as triage_model
from converge.routing.classifier import Classifier
from converge.routing.model import (
    TEST_CSV,
    TRAIN_CSV,
    CorpusError,
    StaleModelError,
    TriageModel,
    fold,
    load,
    load_or_train,
    read_labelled_csv,
    train,
)

SAMPLE = [text for text, _ in read_labelled_csv(TEST_CSV)[:60]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "train.csv"
    shutil.copy(TRAIN_CSV, path)
    return path


@pytest.fixture(scope="module")
def trained(corpus: Path) -> TriageModel:
    return train([corpus])


def test_fast_scoring_matches_sklearn(trained: TriageModel) -> None:
    folded = [fold(text) for text in SAMPLE]
    matrix = hstack([trained.word.transform(folded), trained.char.transform(folded)]).tocsr()
    expected = trained.classifier.predict_proba(matrix)
    got = np.array([[trained.probabilities(t)[label] for label in trained.labels] for t in SAMPLE])
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_training_is_deterministic(corpus: Path, trained: TriageModel) -> None:
    again = train([corpus])
    for text in SAMPLE:
        assert again.probabilities(text) == trained.probabilities(text)


def test_classification_is_deterministic(trained: TriageModel) -> None:
    first, second = Classifier(trained), Classifier(trained)
    for text in SAMPLE:
        assert first.classify(text) == second.classify(text)


def test_save_and_load_round_trip(tmp_path: Path, corpus: Path, trained: TriageModel) -> None:
    saved = tmp_path / "router.joblib"
    trained.save(saved, [corpus])
    loaded = load(saved, [corpus])
    for text in SAMPLE[:10]:
        assert loaded.probabilities(text) == trained.probabilities(text)
    assert load(saved).corpus_hash == trained.corpus_hash  # paths recorded in the file


def test_stale_model_is_refused_and_retrained(tmp_path: Path, corpus: Path) -> None:
    own = tmp_path / "train.csv"
    shutil.copy(corpus, own)
    saved = tmp_path / "router.joblib"
    first = train([own], saved)
    with own.open("a", encoding="utf-8") as handle:
        handle.write("can you fax my records to my new doctor,administrative\n")
    with pytest.raises(StaleModelError, match="corpus changed"):
        load(saved, [own])
    retrained = load_or_train(saved, [own])
    assert retrained.corpus_hash != first.corpus_hash
    assert retrained.n_train == first.n_train + 1
    assert load(saved, [own]).corpus_hash == retrained.corpus_hash  # and it was saved again


def test_other_sklearn_version_is_refused(
    tmp_path: Path, corpus: Path, trained: TriageModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "router.joblib"
    trained.save(saved, [corpus])
    monkeypatch.setattr(triage_model.sklearn, "__version__", "0.0.1")
    with pytest.raises(StaleModelError, match="scikit-learn"):
        load(saved, [corpus])


def test_extra_corpus_changes_the_model(tmp_path: Path, corpus: Path) -> None:
    extra = tmp_path / "corrections.csv"
    extra.write_text(
        "text,label\n" + "".join(f"zorblax widget {i},administrative\n" for i in range(30)),
        encoding="utf-8",
    )
    model = train([corpus, extra])
    p = model.probabilities("zorblax widget")
    assert max(p, key=p.__getitem__) == "administrative"


def test_bad_corpus_rows_name_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,administrative\nhi there,billing\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"row 2 .*unknown label 'billing'"):
        read_labelled_csv(bad)
    missing = tmp_path / "missing.csv"
    missing.write_text("message,label\nhello,administrative\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column 'text'"):
        read_labelled_csv(missing)


def test_default_model_uses_a_saved_model_when_it_matches(
    tmp_path: Path, corpus: Path, trained: TriageModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from converge.routing import classifier as triage_classifier

    saved = tmp_path / "router.joblib"
    trained.save(saved, [corpus])
    monkeypatch.setenv(triage_classifier.MODEL_PATH_ENV, str(saved))
    assert triage_classifier._default_model().corpus_hash == trained.corpus_hash


def test_default_model_retrains_when_the_saved_file_is_unusable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from converge.routing import classifier as triage_classifier

    saved = tmp_path / "router.joblib"
    saved.write_bytes(b"not a model")
    monkeypatch.setenv(triage_classifier.MODEL_PATH_ENV, str(saved))
    model = triage_classifier._default_model()
    assert model.corpus_hash == triage_model.corpus_hash([TRAIN_CSV])
