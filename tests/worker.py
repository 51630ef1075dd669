"""The worker's inbound step, run in the test's own thread: a webhook only queues its messages
(conversations.inbound.queue), and a test that wants them in the inbox runs what the worker's
inbound lane runs (core.worker), instead of a worker thread it would have to wait for."""

from __future__ import annotations

from converge.conversations.inbound.queue import inbound_process_due

WORKER_ID = "tests:inbound"


def run_inbound() -> int:
    """Process the inbound queue until nothing is due, as the inbound lane does; returns how many
    rows were claimed. A row that fails is kept for a retry later, so it ends the loop."""
    claimed = 0
    while done := inbound_process_due(worker_id=WORKER_ID):
        claimed += done
    return claimed
