"""The functions behind `converge router classify|evaluate|train`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from converge.routing.classifier import CATEGORIES, Classifier
from converge.routing.cli import classify_stream, evaluate_csv


def run(lines: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = classify_stream(io.StringIO(lines), out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_classify_stream_good_lines(classifier: Classifier) -> None:
    code, results = run(
        '{"text": "I need a refill on my metformin"}\n'
        '{"text": "yes", "is_reply_to_reminder": true}\n'
        '{"text": "tengo dolor de pecho", "is_reply_to_reminder": false}\n'
    )
    assert code == 0
    assert [r["category"] for r in results] == ["refill", "scheduling", "urgent"]
    for result in results:
        assert set(result) == {"category", "urgent", "confidence", "reasons", "families"}
        assert isinstance(result["reasons"], list)


def test_classify_stream_bad_lines_report_and_continue(classifier: Classifier) -> None:
    code, results = run(
        "not json\n"
        '{"text": "what are your hours"}\n'
        '{"message": "no text key"}\n'
        '["a", "list"]\n'
        '{"text": 42}\n'
        '{"text": "hi", "is_reply_to_reminder": "yes"}\n'
        "\n"
        '{"text": "ok thanks"}\n'
    )
    assert code == 1
    assert results[0]["error"].startswith("line 1: not valid JSON")
    assert results[1]["category"] == "administrative"
    assert results[2] == {"error": 'line 3: missing "text" string'}
    assert results[3] == {"error": "line 4: expected a JSON object"}
    assert results[4] == {"error": 'line 5: missing "text" string'}
    assert results[5] == {"error": 'line 6: "is_reply_to_reminder" must be true or false'}
    assert results[6]["category"] in CATEGORIES  # the blank line 7 is skipped
    assert len(results) == 7


def test_errors_never_echo_the_message_text(classifier: Classifier) -> None:
    _, results = run('{"text": "Maria Lopez DOB 1/2/80", "is_reply_to_reminder": 1}\n')
    assert "Maria" not in json.dumps(results)


def test_evaluate_csv_figures(tmp_path: Path, classifier: Classifier) -> None:
    path = tmp_path / "eval.csv"
    path.write_text(
        "text,label\n"
        "I need a refill on my lisinopril,refill\n"
        "I have chest pain,urgent\n"
        "What are your hours on Friday?,administrative\n"
        '"I got a bill, and my cough is worse with a fever",clinical\n'
        "can i come earlier,scheduling\n",
        encoding="utf-8",
    )
    figures = evaluate_csv(path)
    assert figures["n"] == 5
    assert figures["urgent_recall"] == 1.0
    assert figures["clinical_to_nonclinical_rate"] == 0.0
    assert figures["accuracy"] == 1.0
    assert figures["macro_f1"] == 1.0
    assert figures["ms_per_message"] > 0
    assert figures["per_class"]["refill"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 1,
    }
    assert figures["confusion"]["urgent"]["urgent"] == 1


def test_evaluate_csv_rate_counts_clinical_sent_to_front_desk(tmp_path: Path, classifier: Classifier) -> None:
    path = tmp_path / "eval.csv"
    path.write_text(
        "text,label\nWhat are your hours on Friday?,clinical\nI have chest pain,urgent\n",
        encoding="utf-8",
    )
    assert evaluate_csv(path)["clinical_to_nonclinical_rate"] == 0.5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("message,label\nhi,administrative\n", "missing column 'text'"),
        ("text\nhi\n", "missing column 'label'"),
        ("text,label\nhi,administrative\nhello,spam\n", r"row 2 \(line 3\): unknown label 'spam'"),
        ("text,label\n", "no rows"),
        ("", "missing column"),
    ],
)
def test_evaluate_csv_rejects_bad_csv(tmp_path: Path, classifier: Classifier, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        evaluate_csv(path)


def test_train_command_with_extra_corrections(tmp_path: Path) -> None:
    from converge.routing.cli import train_command
    from converge.routing.model import load

    extra = tmp_path / "corrections.csv"
    extra.write_text("text,label\nwhen is the food truck here,administrative\n", encoding="utf-8")
    out = tmp_path / "router.joblib"
    summary = train_command([extra], out)
    assert summary["saved_to"] == str(out)
    assert summary["corpus_files"][-1] == str(extra)
    assert summary["n_train"] == sum(summary["per_class"].values())
    assert summary["held_out"]["n"] > 600
    assert load(out).corpus_hash == summary["corpus_hash"]


def test_train_command_rejects_bad_extra_before_training(tmp_path: Path) -> None:
    from converge.routing.cli import train_command

    extra = tmp_path / "corrections.csv"
    extra.write_text("text,label\nhello,bogus\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 1"):
        train_command([extra], None)
