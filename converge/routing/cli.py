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
from converge.routing.model import TEST_CSV, TRAIN_CSV, read_family_column, read_labelled_csv, train
from converge.routing.redflags import OTHER_EMERGENCY, find_red_flags

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


def urgent_family(text: str, given: str = "") -> str:
    """The red-flag family an urgent row is counted under: its `family` column, else the family of
    the first red flag the rules find in it, else other_emergency."""
    if given:
        return given
    flags = find_red_flags(text)
    return flags[0].family if flags else OTHER_EMERGENCY


def evaluate_rows(
    classifier: Classifier, rows: list[tuple[str, str]], families: list[str] | None = None
) -> dict[str, Any]:
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
    given = families if families is not None else [""] * len(rows)
    by_family: dict[str, list[str]] = {}
    for (text, label), family, guess in zip(rows, given, predicted, strict=True):
        if label == "urgent":
            by_family.setdefault(urgent_family(text, family), []).append(guess)
    return {
        "n": len(rows),
        "accuracy": sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(rows),
        "macro_f1": float(sum(f1) / len(present)),
        "urgent_recall": sum(p == "urgent" for p in urgent) / len(urgent) if urgent else None,
        # Labelled clinical or urgent, but sent to a front-desk (non-clinical) queue.
        "clinical_to_nonclinical_rate": (sum(p in FRONT_DESK for p in clinical) / len(clinical) if clinical else None),
        "urgent_recall_by_family": {
            family: {
                "recall": sum(p == "urgent" for p in guesses) / len(guesses),
                "support": len(guesses),
                # Where the missed ones went.
                "missed_to": dict(Counter(p for p in guesses if p != "urgent")),
            }
            for family, guesses in sorted(by_family.items())
        },
        "ms_per_message": elapsed * 1000 / len(rows),
        "per_class": per_class,
        "confusion": {t: {p: confusion[t, p] for p in present} for t in present},
    }


def evaluate_csv(path: Path) -> dict[str, Any]:
    """Figures for a `text,label[,family]` CSV; ValueError naming the file and row if it is malformed.

    Urgent recall is also given per red-flag family: the row's `family` column where present, else
    the family of the first red flag the rules find in the text, else other_emergency."""
    rows = read_labelled_csv(path)
    return evaluate_rows(get_classifier(), rows, read_family_column(path))


def summary_lines(figures: dict[str, Any]) -> list[str]:
    """The headline figures as plain lines, one per red-flag family, for people reading a terminal."""

    def share(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"messages: {figures['n']}",
        f"macro-F1: {figures['macro_f1']:.3f}",
        f"urgent recall: {share(figures['urgent_recall'])}",
    ]
    for family, entry in figures["urgent_recall_by_family"].items():
        missed = ", ".join(f"{k} {v}" for k, v in sorted(entry["missed_to"].items()))
        lines.append(
            f"urgent recall [{family}]: {entry['recall']:.3f} (n={entry['support']}"
            + (f"; missed to {missed})" if missed else ")")
        )
    rate = figures["clinical_to_nonclinical_rate"]
    lines.append("clinical or urgent to a non-clinical queue: " + ("n/a" if rate is None else f"{rate:.2%}"))
    return lines


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
