"""The background loop serve and the worker run: it ticks, lets a failing job be retried without ending,
and stops only after the run in hand finished."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from elearning_adapters.scheduler import SchedulerRunner, holder_id
from elearning_adapters.settings import Settings
from elearning_core.scheduling.model import Job, JobRun, Period, RunStatus, Schedule
from elearning_core.scheduling.service import Scheduler
from elearning_core.shared.clock import FixedClock
from elearning_workers.main import main as workers_main
from tests.scheduling_fakes import InMemoryJobRuns, until

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


async def test_stopping_finishes_the_run_in_hand_then_ticks_no_more() -> None:
    clock, runs = FixedClock(T0), InMemoryJobRuns()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(period: Period) -> str:
        started.set()
        await release.wait()
        return "finished"

    runner = SchedulerRunner(
        Scheduler([Job("test.slow", Schedule(timedelta(minutes=1)), slow)], runs, clock, "a"), 0.01
    )
    runner.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.ensure_future(runner.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the job in hand
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert [o.result for o in runner.outcomes] == ["finished"]
    assert runs.runs[("test.slow", T0)].status is RunStatus.DONE
    ticks = runner.ticks
    await asyncio.sleep(0.05)
    assert runner.ticks == ticks


async def test_a_failing_job_does_not_end_the_loop() -> None:
    clock, runs = FixedClock(T0), InMemoryJobRuns()
    calls = 0

    async def flaky(period: Period) -> str:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionError("database unreachable")
        return "recovered"

    job = Job("test.flaky", Schedule(timedelta(minutes=1)), flaky, retry_after=timedelta(0), max_attempts=5)
    runner = SchedulerRunner(Scheduler([job], runs, clock, "a"), 0.01)
    runner.start()
    try:
        await until(
            lambda: (
                runs.runs.get(("test.flaky", T0)) is not None and runs.runs[("test.flaky", T0)].status is RunStatus.DONE
            )
        )
    finally:
        await runner.stop()
    assert [o.ok for o in runner.outcomes] == [False, False, True]
    assert runs.runs[("test.flaky", T0)].attempts == 3


async def test_a_long_job_does_not_hold_back_another() -> None:
    clock, runs = FixedClock(T0), InMemoryJobRuns()
    release = asyncio.Event()
    quick_runs: list[Period] = []

    async def long(period: Period) -> str:
        await release.wait()
        return "long"

    async def quick(period: Period) -> str:
        quick_runs.append(period)
        return "quick"

    minute = Schedule(timedelta(minutes=1))
    runner = SchedulerRunner(
        Scheduler([Job("test.long", minute, long), Job("test.quick", minute, quick)], runs, clock, "a"), 0.01
    )
    runner.start()
    try:
        await until(lambda: len(quick_runs) == 1)
        clock.advance(timedelta(minutes=1))
        await until(lambda: len(quick_runs) == 2)  # the long job is still on its first period
    finally:
        release.set()
        await runner.stop()
    assert runs.runs[("test.long", T0)].status is RunStatus.DONE


def test_the_tick_must_be_positive_and_holders_differ() -> None:
    with pytest.raises(ValueError, match="positive"):
        SchedulerRunner(Scheduler([], InMemoryJobRuns(), FixedClock(T0), "a"), 0)
    assert holder_id() != holder_id()


class _StoreDown(InMemoryJobRuns):
    """A store that cannot be reached for its first ``failures`` claims."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures, self.claims = failures, 0

    async def claim(self, *args: Any, **kwargs: Any) -> JobRun | None:
        self.claims += 1
        if self.claims <= self.failures:
            raise ConnectionError("database unreachable")
        return await super().claim(*args, **kwargs)


async def test_an_unreachable_store_is_retried_with_backoff_and_the_job_runs_once_it_is_back() -> None:
    clock, runs = FixedClock(T0), _StoreDown(failures=3)
    ran: list[Period] = []

    async def job(period: Period) -> str:
        ran.append(period)
        return "ran"

    runner = SchedulerRunner(Scheduler([Job("test.job", Schedule(timedelta(minutes=1)), job)], runs, clock, "a"), 0.01)
    runner.start()
    try:
        await until(lambda: len(ran) == 1)
    finally:
        await runner.stop()
    assert runs.claims == 4  # three failed claims, then the one that ran it
    assert runner.ticks > runs.claims  # the failed claims were spaced out, not one per tick


def test_serve_runs_the_scheduler_on_the_embedded_default_only_unless_told() -> None:
    assert Settings.in_memory().scheduler_in_serve
    assert not Settings.in_memory(kafka_bootstrap_servers="127.0.0.1:9092").scheduler_in_serve
    assert Settings.in_memory(kafka_bootstrap_servers="127.0.0.1:9092", scheduler="on").scheduler_in_serve
    assert not Settings.in_memory(scheduler="off").scheduler_in_serve


def test_the_scheduler_worker_refuses_to_start_when_switched_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ELEARNING_SCHEDULER", "off")
    monkeypatch.setenv("ELEARNING_DATABASE_URL", "sqlite+aiosqlite://")
    assert workers_main(["scheduler"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: ELEARNING_SCHEDULER=off: the scheduled jobs are switched off in this deployment"
    )
