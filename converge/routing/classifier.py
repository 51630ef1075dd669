"""Triage of one inbound patient message: red flags first, then the model, then safety rules.

1. Any red flag makes the message urgent; the flagged phrases are the reasons.
2. The model may also call a message urgent, as a whole or in any one sentence (a risk sentence
   inside a scheduling or billing request is diluted in the whole). Its thresholds are set so that
   it catches most urgent messages worded in ways the rules do not know, but it may not re-assert a
   red flag the rules read as denied ("no chest pain, but ..."). Below them its urgent probability
   counts toward clinical: both queues are staffed by nurses. Either layer alone makes a message
   urgent.
3. Safety: a message whose clinical probability is non-trivial, as a whole or in any one sentence,
   is clinical even if billing or scheduling words dominate ("I got a bill. Also my cough is
   worse" must reach a nurse).
4. A reply to a reminder is scheduling unless it carries red flags or strong clinical content (or
   a clear refill request, which also needs a nurse).

Thresholds come from grouped cross-validation on the training split only: see corpus/tune.py.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from converge.routing import model as triage_model
from converge.routing.model import REPLY_FAMILIES, Analysis, StaleModelError, TriageModel
from converge.routing.redflags import OTHER_EMERGENCY, RedFlag, scan

CATEGORIES: tuple[str, ...] = ("administrative", "scheduling", "refill", "clinical", "urgent")
CLINICAL_CATEGORIES = frozenset({"refill", "clinical", "urgent"})  # queues staffed by nurses
FRONT_DESK_CATEGORIES = frozenset({"administrative", "scheduling"})
# Rules are tuned for recall, so a fired rule is strong evidence but not certainty.
RED_FLAG_CONFIDENCE = 0.95
MODEL_PATH_ENV = "CONVERGE_ROUTER_MODEL"


@dataclass(frozen=True)
class Policy:
    model_urgent: float = 0.55  # the model alone may call a message urgent at this probability
    urgent_part: float = 0.6  # ... or when any one sentence of it is urgent at this probability
    clinical_whole: float = 0.45  # clinical + urgent probability of the whole message
    clinical_part: float = 0.7  # ... of any single sentence of it
    # A message of this many words or fewer ("And now by text", "no", "ya") gives the model little
    # to go on: its urgent probability is mostly the prior, so the model alone needs more to call it
    # urgent (the rules still catch "can't breathe", "help me").
    # Off (0.0): grouped cross-validation found no gain once the corpus had short neutral messages.
    short_words: int = 3
    short_urgent: float = 0.0
    reminder_clinical: float = 0.5  # a reminder reply leaves scheduling above this
    reminder_refill: float = 0.6
    # A model-only urgent catch gets a family's safety reply at this family probability. Low on
    # purpose: the 988 and Poison Control replies also give 911, so a wrong guess costs little.
    family_guess: float = 0.35


@dataclass(frozen=True)
class Classification:
    category: str  # administrative | scheduling | refill | clinical | urgent
    urgent: bool
    confidence: float  # 0.0-1.0
    reasons: tuple[str, ...]
    families: tuple[str, ...] = ()  # red-flag families of an urgent message (redflags.FAMILIES)

    def as_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "urgent": self.urgent,
            "confidence": round(self.confidence, 4),
            "reasons": list(self.reasons),
            "families": list(self.families),
        }


@dataclass(frozen=True)
class Scores:
    """Everything the policy looks at for one message."""

    red_flags: tuple[RedFlag, ...]
    whole: Analysis | None  # None when red flags already decide
    parts: tuple[Analysis, ...]  # one per sentence, only when there are several
    denied: tuple[str, ...] = ()  # red-flag concepts the message mentions only to negate


@dataclass(frozen=True)
class Verdict:
    category: str
    confidence: float
    because: Analysis | None  # whose n-grams explain the category (None: red flags)
    note: str | None = None


def _clinical(analysis: Analysis) -> float:
    p = analysis.probabilities
    return p["clinical"] + p["urgent"]


def verdict(scores: Scores, policy: Policy, *, is_reply_to_reminder: bool) -> Verdict:
    whole = scores.whole
    if scores.red_flags or whole is None:
        return Verdict("urgent", RED_FLAG_CONFIDENCE, None)
    p = whole.probabilities
    short = len(whole.folded.split()) <= policy.short_words
    model_urgent = max(policy.model_urgent, policy.short_urgent) if short else policy.model_urgent
    # The model may not re-assert what the rules read as denied ("no chest pain, but ...").
    if p["urgent"] >= model_urgent and not scores.denied:
        return Verdict("urgent", p["urgent"], whole)
    urgent_part = max(scores.parts, key=lambda a: a.probabilities["urgent"], default=None)
    if urgent_part is not None and not scores.denied:
        part_urgent = urgent_part.probabilities["urgent"]
        if part_urgent >= policy.urgent_part:
            return Verdict("urgent", part_urgent, urgent_part)
    merged = {
        "administrative": p["administrative"],
        "scheduling": p["scheduling"],
        "refill": p["refill"],
        "clinical": _clinical(whole),
    }
    best = max(merged, key=merged.__getitem__)
    clinical_part = max(scores.parts, key=_clinical, default=None)
    part_clinical = _clinical(clinical_part) if clinical_part is not None else 0.0

    if is_reply_to_reminder:
        if merged["clinical"] >= policy.reminder_clinical:
            return Verdict("clinical", merged["clinical"], whole)
        if clinical_part is not None and part_clinical >= policy.reminder_clinical:
            return Verdict("clinical", part_clinical, clinical_part)
        refill = max([whole, *scores.parts], key=lambda a: a.probabilities["refill"])
        if refill.probabilities["refill"] >= policy.reminder_refill:
            return Verdict("refill", refill.probabilities["refill"], refill)
        certainty = 1.0 - merged["clinical"] - merged["refill"]
        return Verdict("scheduling", certainty, whole, "reply to an appointment reminder")

    if best != "clinical" and clinical_part is not None and part_clinical >= policy.clinical_part:
        return Verdict("clinical", part_clinical, clinical_part)
    if best in FRONT_DESK_CATEGORIES and merged["clinical"] >= policy.clinical_whole:
        return Verdict("clinical", merged["clinical"], whole)
    return Verdict(best, merged[best], whole)


class Classifier:
    def __init__(self, model: TriageModel, policy: Policy | None = None) -> None:
        self.model = model
        self.policy = policy or Policy()

    def scores(self, text: str) -> Scores:
        found = scan(text)
        if found.flags:
            return Scores(found.flags, None, ())
        whole = self.model.analyse(text)
        sentences = triage_model.parts(text)
        parts = tuple(self.model.analyse(s, folded=True) for s in sentences) if len(sentences) > 1 else ()
        return Scores((), whole, parts, found.negated)

    def classify(self, text: str, *, is_reply_to_reminder: bool = False) -> Classification:
        scores = self.scores(text)
        decided = verdict(scores, self.policy, is_reply_to_reminder=is_reply_to_reminder)
        category = decided.category
        confidence = min(1.0, max(0.0, decided.confidence))
        if decided.because is None:
            reasons = tuple(flag.reason() for flag in scores.red_flags)
        else:
            evidence_label = "urgent" if category == "urgent" else category
            reasons = self.model.evidence(decided.because, evidence_label)
            if not reasons:
                reasons = (f"no distinctive words; nearest {category} messages",)
        if decided.note:
            reasons = (decided.note, *reasons)
        families = self.families(scores, category, decided.because)
        return Classification(category, category == "urgent", confidence, reasons, families)

    def families(self, scores: Scores, category: str, because: Analysis | None) -> tuple[str, ...]:
        """The red-flag families of an urgent message: those the rules found, else (the model alone
        called it urgent) the reply families its urgent sentence resembles, so a risk worded in a way
        the rules do not know still gets the 988 or Poison Control reply and not only 911."""
        if category != "urgent":
            return ()
        found = tuple(dict.fromkeys(flag.family for flag in scores.red_flags))
        if found:
            return found
        guessed = self.model.family_probabilities(because) if because is not None else {}
        likely = tuple(f for f in REPLY_FAMILIES if guessed.get(f, 0.0) >= self.policy.family_guess)
        return likely or (OTHER_EMERGENCY,)


def classify(text: str, *, is_reply_to_reminder: bool = False) -> Classification:
    return get_classifier().classify(text, is_reply_to_reminder=is_reply_to_reminder)


_lock = threading.Lock()
_classifier: Classifier | None = None


def get_classifier() -> Classifier:
    """The process-wide classifier, trained (or loaded) on first use."""
    global _classifier
    with _lock:
        if _classifier is None:
            _classifier = Classifier(_default_model())
        return _classifier


def _default_model() -> TriageModel:
    # An operator may point at a model saved by `converge router train --out` (e.g. one that
    # includes staff corrections); it is used only while its corpus and sklearn still match.
    saved = os.environ.get(MODEL_PATH_ENV)
    if saved and Path(saved).is_file():
        path = Path(saved)
        try:
            return triage_model.load(path)
        except (StaleModelError, OSError):
            corpus = [p for p in triage_model.saved_corpus_paths(path) if p.is_file()]
            return triage_model.train(corpus or triage_model.default_corpus())
    return triage_model.train(triage_model.default_corpus())
