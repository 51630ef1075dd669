"""Issue 14: the labelled suicide/self-harm corpus, the held-out split kept out of training, both
layers raising urgency, and `converge router eval` reporting urgent recall per red-flag family."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from converge.routing import cli as router_cli
from converge.routing import model as triage_model
from converge.routing.classifier import Classifier, Policy, Scores, verdict
from converge.routing.corpus import generate
from converge.routing.model import HELDOUT_CSV, TEST_CSV, TRAIN_CSV, Analysis, parts
from converge.routing.redflags import FAMILIES, OTHER_EMERGENCY, SUICIDE_SELF_HARM

from .test_suicide_redflags import ISSUE_14

# Not risk: idioms, denials and past clinical history, each in the queue it belongs to.
HARD_NEGATIVES = [
    ("this paperwork is killing me, which form do I sign?", "administrative"),
    ("I'm dying to know if my claim was approved", "administrative"),
    ("my mother died last year, can I update her file", "administrative"),
    ("I'd kill for an earlier slot next week", "scheduling"),
    ("please cancel all my visits, I'm moving to Ohio", "scheduling"),
    ("I'm not suicidal, just really stressed about work, can I see someone", "clinical"),
    ("no thoughts of hurting myself, but my depression is worse on the sertraline", "clinical"),
    ("estos papeles me están matando, dónde los mando?", "administrative"),
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("text", ISSUE_14)
def test_issue_messages_are_urgent_suicide_family(classifier: Classifier, text: str) -> None:
    # The acceptance check of issue 14: never used as training data (see the next test).
    result = classifier.classify(text)
    assert result.category == "urgent"
    assert result.families == (SUICIDE_SELF_HARM,) or SUICIDE_SELF_HARM in result.families


def test_issue_messages_are_not_in_any_corpus_split() -> None:
    keys = {generate.dedupe_key(t) for t in ISSUE_14}
    for path in (TRAIN_CSV, TEST_CSV, HELDOUT_CSV):
        assert not keys & {generate.dedupe_key(r["text"]) for r in _rows(path)}, path.name


@pytest.mark.parametrize("text", ISSUE_14)
def test_model_alone_also_calls_issue_messages_urgent(classifier: Classifier, text: str) -> None:
    """Either layer raises urgency: with the rules left out, the model still catches these."""
    whole = classifier.model.analyse(text)
    sentences = parts(text)
    pieces = tuple(classifier.model.analyse(s, folded=True) for s in sentences) if len(sentences) > 1 else ()
    decided = verdict(Scores((), whole, pieces), classifier.policy, is_reply_to_reminder=False)
    assert decided.category == "urgent"


@pytest.mark.parametrize(("text", "label"), HARD_NEGATIVES)
def test_hard_negatives_stay_non_urgent(classifier: Classifier, text: str, label: str) -> None:
    result = classifier.classify(text)
    assert result.category != "urgent", result.reasons


def _analysis(urgent: float) -> Analysis:
    rest = (1.0 - urgent) / 4
    probabilities = {"administrative": rest, "scheduling": rest, "refill": rest, "clinical": rest, "urgent": urgent}
    return Analysis(probabilities, "", ())


def test_one_urgent_sentence_makes_the_message_urgent() -> None:
    # A risk sentence diluted in a scheduling request: the whole is not urgent, one sentence is.
    scores = Scores((), _analysis(0.2), (_analysis(0.05), _analysis(0.9)))
    assert verdict(scores, Policy(), is_reply_to_reminder=False).category == "urgent"
    assert verdict(scores, Policy(), is_reply_to_reminder=True).category == "urgent"
    # ... unless the rules read the risk as denied ("not suicidal, but ...").
    denied = Scores((), _analysis(0.2), (_analysis(0.05), _analysis(0.9)), ("suicidal thoughts or self-harm",))
    assert verdict(denied, Policy(), is_reply_to_reminder=False).category != "urgent"


def test_training_corpus_has_the_suicide_family() -> None:
    rows = _rows(TRAIN_CSV)
    suicide = [r for r in rows if r["family"] == SUICIDE_SELF_HARM]
    assert len(suicide) >= 300
    assert all(r["label"] == "urgent" for r in suicide)
    spanish = [r for r in suicide if any(w in r["text"].lower() for w in (" que ", "quiero", "mis ", "ya no"))]
    assert len(spanish) >= 60


@pytest.mark.parametrize("path", [TRAIN_CSV, TEST_CSV, HELDOUT_CSV], ids=lambda p: p.name)
def test_every_urgent_row_has_a_family(path: Path) -> None:
    known = {*FAMILIES.values(), OTHER_EMERGENCY}
    for row in _rows(path):
        if row["label"] == "urgent":
            assert row["family"] in known
        else:
            assert row["family"] == ""


def test_committed_corpus_is_what_generate_writes() -> None:
    splits = generate.generate()
    for name, path in (("train", TRAIN_CSV), ("test", TEST_CSV), ("heldout", HELDOUT_CSV)):
        committed = [(r["text"], r["label"], r["family"]) for r in _rows(path)]
        assert committed == [(r.text, r.label, r.family) for r in splits[name]], name


def test_heldout_is_disjoint_and_never_a_training_source() -> None:
    splits = generate.generate()
    train_keys = {generate.dedupe_key(r.text) for r in splits["train"]}
    assert not train_keys & {generate.dedupe_key(r.text) for r in splits["heldout"]}
    assert not train_keys & {generate.dedupe_key(r.text) for r in splits["test"]}
    # Neither the training split's template files nor its pools include the held-out templates.
    assert "heldout" not in generate.SPLIT_FILES["train"] + generate.POOLS["train"]
    assert all(not r.template.startswith("heldout") for r in splits["train"])
    assert HELDOUT_CSV not in triage_model.default_corpus()


def test_train_command_never_reads_the_heldout_file(
    monkeypatch: pytest.MonkeyPatch, classifier: Classifier, tmp_path: Path
) -> None:
    read: list[Path] = []
    trained_on: list[Path] = []
    real_read = triage_model.read_labelled_csv

    def recording_read(path: Path) -> list[tuple[str, str]]:
        read.append(Path(path))
        return real_read(path)

    def recording_train(paths: list[Path], out: Path | None = None) -> triage_model.TriageModel:
        trained_on.extend(Path(p) for p in paths)
        for path in paths:
            recording_read(path)
        return classifier.model

    monkeypatch.setattr(router_cli, "read_labelled_csv", recording_read)
    monkeypatch.setattr(router_cli, "train", recording_train)
    extra = tmp_path / "corrections.csv"
    extra.write_text("text,label\nwhen is the food truck here,administrative\n", encoding="utf-8")
    router_cli.train_command([extra], None)
    assert trained_on == [TRAIN_CSV, extra]
    assert HELDOUT_CSV.resolve() not in {p.resolve() for p in read}


def test_eval_reports_urgent_recall_per_family(tmp_path: Path, classifier: Classifier) -> None:
    path = tmp_path / "eval.csv"
    path.write_text(
        "text,label,family\n"
        "I bought a rope today and wrote my note,urgent,suicide_self_harm\n"
        "my kid swallowed bleach,urgent,\n"  # no family given: the rules name it
        "what are your hours,administrative,\n"
        "I need a refill of my metformin,refill,\n",
        encoding="utf-8",
    )
    figures = router_cli.evaluate_csv(path)
    by_family = figures["urgent_recall_by_family"]
    assert by_family[SUICIDE_SELF_HARM] == {"recall": 1.0, "support": 1, "missed_to": {}}
    assert by_family["poisoning_overdose"]["support"] == 1
    assert figures["urgent_recall"] == 1.0


def test_eval_command_prints_per_family_lines(
    tmp_path: Path, classifier: Classifier, capsys: pytest.CaptureFixture[str]
) -> None:
    from converge.cli import main

    path = tmp_path / "eval.csv"
    path.write_text(
        "text,label,family\n"
        "I have been stockpiling my pills for weeks,urgent,suicide_self_harm\n"
        "I can't breathe and my lips are blue,urgent,\n"
        "this paperwork is killing me,administrative,\n",
        encoding="utf-8",
    )
    assert main(["router", "eval", str(path)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert "urgent recall [suicide_self_harm]: 1.000 (n=1)" in lines
    assert any(line.startswith("urgent recall [breathing]: ") for line in lines)
    assert any(line.startswith("macro-F1: ") for line in lines)
    assert any(line.startswith("clinical or urgent to a non-clinical queue: ") for line in lines)
    figures: dict[str, Any] = json.loads(captured.out)  # stdout stays JSON for tools
    assert set(figures["urgent_recall_by_family"]) == {SUICIDE_SELF_HARM, "breathing"}


def test_heldout_figures_do_not_regress() -> None:
    """A floor at the v12 figures recorded in PROVENANCE.md (its one evaluation, 2026-12-06, after
    round four), which are under the issue-14 targets (0.98 / 0.98 / 0.5 %). Evaluation only:
    nothing is tuned on this set. When it is spent (moved to a devN pool), heldout.csv is a header
    until the next blind set is dropped in as templates/heldout.*.txt, and this check skips, saying
    so; its floors are then set again from that set's one evaluation."""
    if not generate.has_templates("heldout"):
        assert HELDOUT_CSV.read_text(encoding="utf-8") == "text,label,family\n"
        pytest.skip("no blind held-out set: templates/heldout.*.txt are absent (the last one was spent)")
    figures = router_cli.evaluate_csv(HELDOUT_CSV)
    assert figures["urgent_recall"] >= 0.929
    assert figures["urgent_recall_by_family"][SUICIDE_SELF_HARM]["recall"] >= 0.872
    assert figures["clinical_to_nonclinical_rate"] <= 0.008
    assert figures["macro_f1"] >= 0.877


def test_heldout_is_generated_last_so_it_cannot_change_training(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = generate.generate_split

    def recording(split: str, seen: set[str], pool: str | None = None) -> list[generate.Row]:
        calls.append(pool or split)
        return [] if split == "heldout" else real(split, seen, pool)

    monkeypatch.setattr(generate, "generate_split", recording)
    monkeypatch.setattr(generate, "has_templates", lambda split: True)
    generate.generate()
    assert calls[0] == "test" and calls[-1] == "heldout"
