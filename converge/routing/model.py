"""The statistical layer: TF-IDF word and character n-grams into a multinomial logistic regression.

sklearn fits it; scoring one message is done here straight from the fitted vocabularies, idf
weights and coefficients, which is several times faster than a sklearn pipeline call and gives
each n-gram's contribution, the raw material for the reasons shown to staff.

The model trains from the committed corpus in a few seconds on first use. `train` can add more
CSVs (exported staff corrections) and save the result with joblib; a saved model is only loaded
when its corpus hash, model version and sklearn version all match, else it is retrained.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from converge.routing.redflags import fold

LABELS: tuple[str, ...] = ("administrative", "scheduling", "refill", "clinical", "urgent")
CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
TRAIN_CSV = CORPUS_DIR / "train.csv"
TEST_CSV = CORPUS_DIR / "test.csv"
# The v6 held-out set (issue 14): read only by `converge router eval`, never by training or tuning.
HELDOUT_CSV = CORPUS_DIR / "heldout.csv"
# Bump when features or hyperparameters change, so saved models are retrained.
MODEL_VERSION = 2
MAX_MODEL_CHARS = 5_000  # the model reads this much; red flags read far more
MAX_PARTS = 12
# The red-flag families whose safety reply differs from 911 (issue 14): an urgent message the model
# alone caught gets the reply of the family it most resembles; every other family is "other".
REPLY_FAMILIES: tuple[str, ...] = ("suicide_self_harm", "poisoning_overdose")
OTHER_FAMILY = "other_emergency"

_PART_SPLIT = re.compile(
    r"[.!?\n;]+|\b(?:also|oh and|ps|one more thing|and another thing|tambien|también|otra cosa"
    r"|aparte)\b",
    re.IGNORECASE,
)
_RUN_ON = re.compile(r"(?<=[a-z]) (?=[A-Z][a-z])")
_WORD = re.compile(r"\w+")
# Words too common to be a useful reason on their own.
# fmt: off
_STOPWORDS = frozenset((
    "a", "an", "and", "the", "to", "of", "in", "on", "for", "at", "is", "it", "i", "my", "me", "you", "your", "we",
    "our", "be", "am", "are", "was", "do", "does", "did", "can", "could", "would", "will", "with", "this", "that",
    "have", "has", "had", "so", "if", "or", "as", "by", "from", "not", "no", "yes", "hi", "hello", "please", "thanks",
    "thank", "el", "la", "los", "las", "de", "del", "en", "y", "o", "que", "por", "para", "con", "un", "una", "mi",
    "me", "se", "lo", "le", "es", "su", "al", "hola", "gracias",
))
# fmt: on


class CorpusError(ValueError):
    """A training or evaluation CSV that cannot be used; the message names the file and row."""


class StaleModelError(RuntimeError):
    """A saved model whose corpus, model version or sklearn version no longer matches."""


def read_labelled_csv(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows of a `text,label` CSV; extra columns are ignored."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in ("text", "label") if c not in columns]
        if missing:
            raise CorpusError(
                f"{path}: missing column {', '.join(repr(c) for c in missing)} "
                f"(header has {', '.join(repr(c) for c in columns) or 'nothing'})"
            )
        rows: list[tuple[str, str]] = []
        for number, record in enumerate(reader, start=1):
            text, label = record.get("text"), record.get("label")
            where = f"{path}: row {number} (line {reader.line_num})"
            if text is None or label is None:
                raise CorpusError(f"{where}: too few fields")
            label = label.strip().lower()
            if label not in LABELS:
                raise CorpusError(f"{where}: unknown label {label!r}; expected one of {LABELS}")
            rows.append((text, label))
    if not rows:
        raise CorpusError(f"{path}: no rows")
    return rows


def read_family_column(path: Path) -> list[str]:
    """The optional `family` column of a labelled CSV, row by row ("" where absent or empty)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [(record.get("family") or "").strip().lower() for record in csv.DictReader(handle)]


def corpus_hash(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256(f"model-v{MODEL_VERSION}".encode())
    for path in paths:
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def parts(text: str) -> list[str]:
    """The sentences of a message worth scoring on their own (three words or more)."""
    pieces: list[str] = []
    for piece in _PART_SPLIT.split(text[:MAX_MODEL_CHARS]):
        # Unpunctuated run-ons ("... pay online My urine is dark") split at a capitalised word.
        pieces.extend(_RUN_ON.split(piece) if len(piece.split()) >= 8 else [piece])
    folded = (fold(p).strip() for p in pieces)
    return [p for p in folded if len(p.split()) >= 3][:MAX_PARTS]


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _word_grams(folded: str) -> list[str]:
    tokens = _TOKEN.findall(folded)
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


def _char_grams(folded: str) -> list[str]:
    """Character 2- to 5-grams inside each space-padded word (sklearn's "char_wb")."""
    grams: list[str] = []
    for word in folded.split():
        padded = f" {word} "
        length = len(padded)
        for n in range(2, 6):
            if length < n:
                break
            grams.extend(padded[i : i + n] for i in range(length - n + 1))
    return grams


@dataclass(frozen=True)
class _Block:
    """One fitted TF-IDF vectorizer, reduced to what scoring needs."""

    grams: Callable[[str], list[str]]  # folded text -> n-grams, as the vectorizer's analyzer
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int  # first column of this block in the coefficient matrix
    is_char: bool

    def features(self, folded: str) -> tuple[list[int], np.ndarray, list[str]]:
        lookup = self.vocabulary.get
        columns: list[int] = []
        terms: list[str] = []
        counts: list[int] = []
        for term, count in Counter(self.grams(folded)).items():
            column = lookup(term)
            if column is not None:
                columns.append(column)
                terms.append(term)
                counts.append(count)
        if not columns:
            return [], np.zeros(0), []
        values = (1.0 + np.log(np.asarray(counts, dtype=np.float64))) * self.idf[columns]
        values /= np.sqrt(values @ values)
        return [self.offset + c for c in columns], values, terms


@dataclass(frozen=True)
class Analysis:
    """One message scored: probabilities per label, and the features to explain them."""

    probabilities: dict[str, float]
    folded: str
    features: tuple[tuple[bool, list[int], np.ndarray, list[str]], ...]

    def top(self) -> tuple[str, float]:
        label = max(self.probabilities, key=self.probabilities.__getitem__)
        return label, self.probabilities[label]


class TriageModel:
    """Category probabilities and the n-grams behind them, for one message."""

    def __init__(
        self,
        word: TfidfVectorizer,
        char: TfidfVectorizer,
        classifier: LogisticRegression,
        *,
        corpus_digest: str,
        n_train: int,
        family_classifier: LogisticRegression | None = None,
    ) -> None:
        self.word, self.char, self.classifier = word, char, classifier
        self.corpus_hash = corpus_digest
        self.n_train = n_train
        self.sklearn_version = sklearn.__version__
        self.labels: tuple[str, ...] = tuple(str(c) for c in classifier.classes_)
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        self._coef_t = np.ascontiguousarray(coef.T)  # one row of class weights per n-gram
        # Evidence for a class is measured against the average class, so common words cancel.
        self._relative_t = np.ascontiguousarray((coef - coef.mean(axis=0)).T)
        self._intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        self.family_labels: tuple[str, ...] = ()
        if family_classifier is not None:
            self.family_labels = tuple(str(c) for c in family_classifier.classes_)
            family_coef = np.asarray(family_classifier.coef_, dtype=np.float64)
            if len(self.family_labels) == 2:  # sklearn keeps one row for a binary problem
                family_coef = np.vstack([-family_coef[0], family_coef[0]]) / 2
                self._family_intercept = np.asarray([-1, 1], dtype=np.float64) * family_classifier.intercept_[0] / 2
            else:
                self._family_intercept = np.asarray(family_classifier.intercept_, dtype=np.float64)
            self._family_coef_t = np.ascontiguousarray(family_coef.T)
        self._blocks = self._make_blocks()

    def _make_blocks(self) -> tuple[_Block, _Block]:
        n_words = len(self.word.vocabulary_)
        return (
            _Block(_word_grams, self.word.vocabulary_, self.word.idf_, 0, False),
            _Block(_char_grams, self.char.vocabulary_, self.char.idf_, n_words, True),
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_blocks"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._blocks = self._make_blocks()

    def analyse(self, text: str, *, folded: bool = False) -> Analysis:
        clean = text[:MAX_MODEL_CHARS] if folded else fold(text[:MAX_MODEL_CHARS])
        logits = self._intercept.copy()
        features = []
        for block in self._blocks:
            columns, values, terms = block.features(clean)
            if columns:
                logits += values @ self._coef_t[columns]
            features.append((block.is_char, columns, values, terms))
        logits -= logits.max()
        exp = np.exp(logits)
        probabilities = dict(zip(self.labels, (exp / exp.sum()).tolist(), strict=True))
        return Analysis(probabilities, clean, tuple(features))

    def probabilities(self, text: str) -> dict[str, float]:
        return self.analyse(text).probabilities

    def family_probabilities(self, analysis: Analysis) -> dict[str, float]:
        """Which urgent family an analysed message resembles (trained on the urgent rows only)."""
        if not self.family_labels:
            return {}
        logits = self._family_intercept.copy()
        for _, columns, values, _ in analysis.features:
            if columns:
                logits += values @ self._family_coef_t[columns]
        logits -= logits.max()
        exp = np.exp(logits)
        return dict(zip(self.family_labels, (exp / exp.sum()).tolist(), strict=True))

    def evidence(self, analysis: Analysis, label: str, limit: int = 3) -> tuple[str, ...]:
        """The words and phrases that pushed this message toward `label`, strongest first."""
        k = self.labels.index(label)
        scores: dict[str, float] = {}
        words = [(f" {w} ", " ".join(_WORD.findall(w))) for w in analysis.folded.split()]
        for is_char, columns, values, terms in analysis.features:
            if not columns:
                continue
            contributions = values * self._relative_t[columns, k]
            # Only the strongest n-grams can end up among the reasons; skip mapping the rest.
            for i in np.argsort(-contributions)[:40].tolist():
                contribution = float(contributions[i])
                if contribution <= 0:
                    break
                term = terms[i]
                if not is_char:
                    scores[term] = scores.get(term, 0.0) + contribution
                    continue
                owners = {word for pad, word in words if word and term in pad}
                for owner in owners:
                    scores[owner] = scores.get(owner, 0.0) + contribution / len(owners)
        chosen: list[str] = []
        for phrase, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0])):
            if len(phrase) < 2 or all(w in _STOPWORDS or w.isdigit() for w in phrase.split()):
                continue
            if any(phrase in picked for picked in chosen):
                continue
            chosen.append(phrase)
            if len(chosen) == limit:
                break
        return tuple(f'"{phrase}"' for phrase in chosen)

    def save(self, path: Path, corpus_paths: Sequence[Path]) -> None:
        payload = {
            "model_version": MODEL_VERSION,
            "sklearn_version": self.sklearn_version,
            "corpus_hash": self.corpus_hash,
            "corpus_paths": [str(p.resolve()) for p in corpus_paths],
            "model": self,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(payload, path)


def fit(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    corpus_digest: str = "",
    families: Sequence[str] | None = None,
) -> TriageModel:
    """Fit on in-memory rows (what `train` and the threshold tuning both use). `families` (the
    corpus's family column) also fits the family guess for model-only urgent catches."""
    # The vectorizers see folded text, exactly as `TriageModel.analyse` does.
    folded = [fold(t[:MAX_MODEL_CHARS]) for t in texts]
    word = TfidfVectorizer(analyzer=_word_grams, min_df=2, sublinear_tf=True)
    char = TfidfVectorizer(analyzer=_char_grams, min_df=2, sublinear_tf=True)
    matrix = hstack([word.fit_transform(folded), char.fit_transform(folded)]).tocsr()
    classifier = LogisticRegression(
        C=10.0, solver="saga", max_iter=300, tol=1e-3, class_weight="balanced", random_state=0
    )
    classifier.fit(matrix, list(labels))
    family_classifier = _fit_families(matrix, labels, families)
    return TriageModel(
        word, char, classifier, corpus_digest=corpus_digest, n_train=len(texts), family_classifier=family_classifier
    )


def _fit_families(matrix: Any, labels: Sequence[str], families: Sequence[str] | None) -> LogisticRegression | None:
    if families is None:
        return None
    rows = [i for i, (label, family) in enumerate(zip(labels, families, strict=True)) if label == "urgent" and family]
    targets = [families[i] if families[i] in REPLY_FAMILIES else OTHER_FAMILY for i in rows]
    if len(set(targets)) < 2:
        return None
    classifier = LogisticRegression(C=10.0, solver="saga", max_iter=300, tol=1e-3, random_state=0)
    classifier.fit(matrix[rows], targets)
    return classifier


def train(corpus_paths: Sequence[Path], out_path: Path | None = None) -> TriageModel:
    """Train on the given CSVs (normally the committed train.csv plus any extras)."""
    paths = list(corpus_paths)
    rows = [row for path in paths for row in read_labelled_csv(path)]
    families = [family for path in paths for family in read_family_column(path)]
    model = fit([t for t, _ in rows], [label for _, label in rows], corpus_digest=corpus_hash(paths), families=families)
    if out_path is not None:
        model.save(out_path, paths)
    return model


def load(path: Path, corpus_paths: Sequence[Path] | None = None) -> TriageModel:
    """A saved model, if it was trained on exactly these CSVs with this sklearn; else raise."""
    try:
        payload = joblib.load(path)
    except OSError:
        raise
    except Exception as exc:  # a corrupt or foreign pickle can fail in any way
        raise StaleModelError(f"{path}: unreadable ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), TriageModel):
        raise StaleModelError(f"{path}: not a saved triage model")
    paths = [Path(p) for p in payload["corpus_paths"]] if corpus_paths is None else corpus_paths
    if payload.get("model_version") != MODEL_VERSION:
        raise StaleModelError(f"{path}: model version {payload.get('model_version')}")
    if payload.get("sklearn_version") != sklearn.__version__:
        raise StaleModelError(f"{path}: saved with scikit-learn {payload.get('sklearn_version')}")
    try:
        current = corpus_hash(list(paths))
    except OSError as exc:
        raise StaleModelError(f"{path}: corpus file unavailable ({exc})") from exc
    if payload.get("corpus_hash") != current:
        raise StaleModelError(f"{path}: corpus changed since it was saved")
    model: TriageModel = payload["model"]
    return model


def load_or_train(path: Path, corpus_paths: Sequence[Path]) -> TriageModel:
    try:
        return load(path, corpus_paths)
    except (StaleModelError, OSError):
        return train(corpus_paths, path)


def saved_corpus_paths(path: Path) -> list[Path]:
    """The CSVs a saved model says it was trained on (to retrain from when it is stale)."""
    try:
        payload = joblib.load(path)
    except Exception:  # a corrupt or foreign file: the caller falls back to the default corpus
        return []
    if not isinstance(payload, dict):
        return []
    return [Path(p) for p in payload.get("corpus_paths", [])]


def default_corpus() -> list[Path]:
    return [TRAIN_CSV]
