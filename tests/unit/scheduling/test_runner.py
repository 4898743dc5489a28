"""The background loop serve and the worker run: it ticks, lets a failing job be retried without ending,
and stops only after the run in hand finished."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from elearning_adapters.scheduler import SchedulerRunner, holder_id
from elearning_core.scheduling.model import Job, Period, RunStatus, Schedule
from elearning_core.scheduling.service import Scheduler
from elearning_core.shared.clock import FixedClock
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
