"""Functions behind `converge router ...`: classify a JSON-lines stream, evaluate on a labelled
CSV, retrain. The argparse wiring lives in converge/cli.py; these take and return plain values.

Errors name the line or row, never the message text: that may be PHI.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from sklearn.metrics import precision_recall_fscore_support

from converge.routing.classifier import CATEGORIES, Classifier, get_classifier
from converge.routing.model import TEST_CSV, TRAIN_CSV, read_labelled_csv, train

CLINICAL_LABELS = frozenset({"clinical", "urgent"})
FRONT_DESK = frozenset({"administrative", "scheduling"})


def _parse_line(line: str) -> tuple[str, bool]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError('missing "text" string')
    reply = record.get("is_reply_to_reminder", False)
    if reply is None:
        reply = False
    if not isinstance(reply, bool):
        raise ValueError('"is_reply_to_reminder" must be true or false')
    return text, reply


def classify_stream(stdin: TextIO, stdout: TextIO) -> int:
    """One JSON result line per input line; blank lines are skipped. 0 if every line was good."""
    classifier = get_classifier()
    all_good = True
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            text, reply = _parse_line(line)
        except ValueError as exc:
            all_good = False
            stdout.write(json.dumps({"error": f"line {number}: {exc}"}) + "\n")
            continue
        result = classifier.classify(text, is_reply_to_reminder=reply)
        stdout.write(json.dumps(result.as_dict(), ensure_ascii=False) + "\n")
    stdout.flush()
    return 0 if all_good else 1


def evaluate_rows(classifier: Classifier, rows: list[tuple[str, str]]) -> dict[str, Any]:
    started = time.perf_counter()
    predicted = [classifier.classify(text).category for text, _ in rows]
    elapsed = time.perf_counter() - started
    truth = [label for _, label in rows]
    present = [c for c in CATEGORIES if c in truth or c in predicted]
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=present, zero_division=0)
    per_class = {
        category: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, category in enumerate(present)
    }
    urgent = [p for t, p in zip(truth, predicted, strict=True) if t == "urgent"]
    clinical = [p for t, p in zip(truth, predicted, strict=True) if t in CLINICAL_LABELS]
    confusion = Counter(zip(truth, predicted, strict=True))
    return {
        "n": len(rows),
        "accuracy": sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(rows),
        "macro_f1": float(sum(f1) / len(present)),
        "urgent_recall": sum(p == "urgent" for p in urgent) / len(urgent) if urgent else None,
        # Labelled clinical or urgent, but sent to a front-desk (non-clinical) queue.
        "clinical_to_nonclinical_rate": (sum(p in FRONT_DESK for p in clinical) / len(clinical) if clinical else None),
        "ms_per_message": elapsed * 1000 / len(rows),
        "per_class": per_class,
        "confusion": {t: {p: confusion[t, p] for p in present} for t in present},
    }


def evaluate_csv(path: Path) -> dict[str, Any]:
    """Figures for a `text,label` CSV; ValueError naming the file and row if it is malformed."""
    return evaluate_rows(get_classifier(), read_labelled_csv(path))


def train_command(extra: list[Path], out: Path | None) -> dict[str, Any]:
    """Retrain on the committed corpus plus `extra` CSVs; save to `out`; report held-out figures."""
    paths = [TRAIN_CSV, *extra]
    for path in extra:
        read_labelled_csv(path)  # fail on a bad extra file before spending time training
    started = time.perf_counter()
    model = train(paths, out)
    seconds = time.perf_counter() - started
    labels = Counter(label for path in paths for _, label in read_labelled_csv(path))
    return {
        "n_train": model.n_train,
        "per_class": {c: labels[c] for c in CATEGORIES},
        "corpus_files": [str(p) for p in paths],
        "corpus_hash": model.corpus_hash,
        "sklearn_version": model.sklearn_version,
        "seconds": round(seconds, 3),
        "saved_to": str(out) if out is not None else None,
        "held_out": evaluate_rows(Classifier(model), read_labelled_csv(TEST_CSV)),
    }
