"""Triage classifier speed: milliseconds per message over the held-out test split.

    .venv/bin/python bench/router.py [--passes 5]

Classifies one message at a time, as the inbound pipeline does, and prints the median pass,
per-message percentiles and the 2 ms/message bound. Training time (first use) is shown apart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from converge.routing.classifier import get_classifier
from converge.routing.model import TEST_CSV, read_labelled_csv

BOUND_MS = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    classifier = get_classifier()
    print(f"train on first use: {time.perf_counter() - started:.2f} s")

    texts = [text for text, _ in read_labelled_csv(TEST_CSV)]
    for text in texts[:50]:
        classifier.classify(text)  # warm caches

    pass_ms: list[float] = []
    latencies: list[float] = []
    for _ in range(args.passes):
        pass_started = time.perf_counter()
        for text in texts:
            one = time.perf_counter()
            classifier.classify(text)
            latencies.append((time.perf_counter() - one) * 1000)
        pass_ms.append((time.perf_counter() - pass_started) * 1000 / len(texts))

    ordered = sorted(latencies)
    median = statistics.median(pass_ms)
    print(f"messages: {len(texts)} x {args.passes} passes")
    print(f"ms/message: median pass {median:.3f}, best pass {min(pass_ms):.3f}")
    print(
        "per message: "
        f"p50 {ordered[len(ordered) // 2]:.3f} ms, "
        f"p95 {ordered[int(len(ordered) * 0.95)]:.3f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99)]:.3f} ms, max {ordered[-1]:.3f} ms"
    )
    verdict = "within" if median <= BOUND_MS else "OVER"
    print(f"bound: {BOUND_MS} ms/message -> {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
