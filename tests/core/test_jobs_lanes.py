"""The worker's jobs lane: one query per idle tick, each due job in its own thread, a long job
never holding up the others nor running twice at once, and one run per interval across workers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from converge.core import clock, heartbeat
from converge.core.jobs import JobsLane, PeriodicJob, claim, job_states, run_due_jobs, stopping
from converge.core.models import PeriodicJobState
from converge.worker_lanes import periodic_jobs
from tests.faults.processes import wait_for

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


def lane_with(jobs: list[PeriodicJob], worker_id: str = "host:1:a") -> JobsLane:
    return JobsLane(worker_id, threading.Event(), {job.name: job for job in jobs})


@pytest.mark.django_db
def test_an_idle_tick_is_one_query_whatever_the_number_of_jobs() -> None:
    lane = JobsLane("host:1:a", threading.Event(), periodic_jobs())
    assert len(lane.jobs) >= 10
    with clock.frozen(NOW):
        job_states(list(lane.jobs))
        PeriodicJobState.objects.update(next_run_at=NOW + timedelta(minutes=1))
        with CaptureQueriesContext(connection) as queries:
            wait = lane.tick()
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert wait == 1.0  # nothing due within the cap


@pytest.mark.django_db
def test_a_job_added_since_gets_its_row_due_now() -> None:
    with clock.frozen(NOW):
        states = job_states(["new.job"])
    assert states["new.job"].next_run_at == NOW
    assert PeriodicJobState.objects.filter(name="new.job").count() == 1


@pytest.mark.django_db
def test_only_one_of_two_workers_claims_a_due_job_and_not_while_it_runs() -> None:
    job = PeriodicJob("t.job", timedelta(seconds=5), lambda: None)
    with clock.frozen(NOW):
        [state_a] = job_states([job.name]).values()
        [state_b] = job_states([job.name]).values()  # both read the same due row
        assert claim(job, state_a, "host:1:a", NOW) is True
        assert claim(job, state_b, "host:2:b", NOW) is False
    state = PeriodicJobState.objects.get(name=job.name)
    assert (state.running_by, state.next_run_at) == ("host:1:a", NOW + timedelta(seconds=5))
    with clock.frozen(NOW + timedelta(seconds=10)):  # due again, but still running
        assert claim(job, state, "host:2:b", clock.now()) is False


@pytest.mark.django_db
def test_a_dead_workers_running_job_is_released_and_a_stopping_ones_is_due_at_once() -> None:
    with clock.frozen(NOW):
        heartbeat.beat("host:2:live")
        PeriodicJobState.objects.create(name="dead.job", next_run_at=NOW + timedelta(hours=1), running_by="host:1:dead")
        PeriodicJobState.objects.create(name="live.job", next_run_at=NOW + timedelta(hours=1), running_by="host:2:live")
        assert heartbeat.release_dead_claims([]) == {"jobs": 1}
        assert PeriodicJobState.objects.get(name="dead.job").running_by == ""
        assert PeriodicJobState.objects.get(name="live.job").running_by == "host:2:live"
        assert heartbeat.release_own_claims("host:2:live", []) == {"jobs": 1}
        live = PeriodicJobState.objects.get(name="live.job")
    assert (live.running_by, live.next_run_at) == ("", NOW)


@pytest.mark.django_db
def test_run_due_jobs_records_a_failure_and_lets_the_job_go() -> None:
    def broken() -> None:
        raise ValueError("no")

    jobs = {"t.broken": PeriodicJob("t.broken", timedelta(seconds=5), broken)}
    assert run_due_jobs(jobs) == 1
    assert run_due_jobs(jobs) == 0  # not due again for 5 s
    state = PeriodicJobState.objects.get(name="t.broken")
    assert (state.last_error, state.running_by) == ("ValueError", "")


@pytest.mark.django_db(transaction=True)
def test_a_stalled_job_does_not_hold_up_the_others_and_never_runs_twice_at_once() -> None:
    release = threading.Event()
    slow_runs: list[float] = []
    fast_runs: list[float] = []
    stopped_inside: list[bool] = []

    def slow() -> None:
        slow_runs.append(time.monotonic())
        release.wait(30)
        stopped_inside.append(stopping())

    lane = lane_with(
        [
            PeriodicJob("t.slow", timedelta(milliseconds=50), slow),
            PeriodicJob("t.fast", timedelta(milliseconds=50), lambda: fast_runs.append(time.monotonic())),
        ]
    )
    thread = threading.Thread(target=lane.run, daemon=True)
    thread.start()
    try:
        wait_for("the fast job ran 5 times while the slow one stalls", lambda: len(fast_runs) >= 5, timeout=30)
        assert len(slow_runs) == 1  # due again many times over, never started twice
        assert PeriodicJobState.objects.get(name="t.slow").running_by == "host:1:a"
    finally:
        lane.stop.set()
        release.set()
        thread.join(timeout=10)
    assert lane.wait_running(time.monotonic() + 10) == []
    assert stopped_inside == [True]  # a looping job can see the stop and end after its batch
    assert PeriodicJobState.objects.get(name="t.slow").running_by == ""


@pytest.mark.django_db(transaction=True)
def test_no_more_jobs_run_at_once_than_the_connection_pool_leaves_room_for() -> None:
    release = threading.Event()
    started: list[str] = []

    def stalls(name: str) -> PeriodicJob:
        return PeriodicJob(name, timedelta(seconds=60), lambda: (started.append(name), release.wait(30)))

    lane = lane_with([stalls("t.one"), stalls("t.two")])
    lane.max_running = 1
    try:
        lane.tick()
        wait_for("the first job started", lambda: started, timeout=10)
        assert lane.tick() == 0.25  # full: the second waits for a thread to end
        assert started == ["t.one"]
        assert PeriodicJobState.objects.get(name="t.two").running_by == ""  # not claimed either
        release.set()
        assert lane.wait_running(time.monotonic() + 10) == []
        lane.tick()
        wait_for("the second job started", lambda: len(started) == 2, timeout=10)
    finally:
        release.set()
        lane.wait_running(time.monotonic() + 10)


def test_running_jobs_leave_the_pool_room_for_the_other_lanes() -> None:
    from converge.core import jobs

    pooled = {"OPTIONS": {"pool": {"min_size": 1, "max_size": 8, "timeout": 30}}}
    assert jobs.max_running_jobs(pooled) == 8 - jobs.OTHER_CONNECTIONS
    assert jobs.max_running_jobs({"OPTIONS": {"timeout": 30}}) == jobs.MAX_RUNNING_JOBS  # SQLite: no pool
