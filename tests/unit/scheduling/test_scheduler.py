"""The scheduler's rules with a fake clock and the in-memory store: epoch-aligned periods, the due decision,
once per period across replicas, retries with backoff, takeover after a lease, and runs by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from elearning_core.scheduling.model import (
    Job,
    JobRun,
    Period,
    RunStatus,
    Schedule,
    in_batches,
    is_due,
    next_due,
    one_line,
)
from elearning_core.scheduling.service import PRUNE_JOB, JobBusy, Scheduler, UnknownJob, prune_job
from elearning_core.shared.clock import FixedClock
from tests.scheduling_fakes import InMemoryJobRuns, until

T0 = datetime(2026, 9, 1, 9, 0, 0, tzinfo=UTC)
MINUTE = Schedule(timedelta(minutes=1))


class Recorder:
    """A job function that records the periods it ran for, failing the first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.periods: list[Period] = []
        self.failures = failures

    async def __call__(self, period: Period) -> str:
        self.periods.append(period)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database unreachable")
        return f"did {len(self.periods)}"


def a_job(fn: Recorder, **overrides: object) -> Job:
    values: dict[str, object] = {"schedule": MINUTE, "retry_after": timedelta(seconds=5), "max_attempts": 3}
    values.update(overrides)
    return Job("test.job", run=fn, **values)  # type: ignore[arg-type]


# -- periods ---------------------------------------------------------------------------------------


def test_periods_align_to_the_epoch_not_to_the_process() -> None:
    daily = Schedule(timedelta(days=1), offset=timedelta(hours=2))
    assert daily.period_at(datetime(2026, 9, 1, 1, 59, tzinfo=UTC)) == Period(
        datetime(2026, 8, 31, 2, 0, tzinfo=UTC), datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    )
    assert daily.period_at(datetime(2026, 9, 1, 2, 0, tzinfo=UTC)).start == datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    hourly = Schedule(timedelta(hours=1))
    assert hourly.period_at(datetime(2026, 9, 1, 9, 59, 59, 999999, tzinfo=UTC)).start == T0
    # Another timezone, the same instant: the same period.
    cet = datetime(2026, 9, 1, 11, 30, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert hourly.period_at(cet).start == datetime(2026, 9, 1, 11, 0, tzinfo=UTC)


def test_sub_second_periods_are_exact() -> None:
    quarter = Schedule(timedelta(milliseconds=250))
    period = quarter.period_at(T0 + timedelta(milliseconds=740))
    assert period == Period(T0 + timedelta(milliseconds=500), T0 + timedelta(milliseconds=750))


@pytest.mark.parametrize(
    ("every", "offset"),
    [
        (timedelta(0), timedelta(0)),
        (timedelta(hours=1), timedelta(hours=1)),
        (timedelta(hours=1), timedelta(seconds=-1)),
    ],
)
def test_a_schedule_refuses_an_empty_period_or_an_offset_outside_it(every: timedelta, offset: timedelta) -> None:
    with pytest.raises(ValueError, match=r"period|offset"):
        Schedule(every, offset)


def test_a_job_refuses_a_blank_name_and_no_attempts() -> None:
    with pytest.raises(ValueError, match="name"):
        Job(" x", MINUTE, Recorder())
    with pytest.raises(ValueError, match="attempt"):
        Job("x", MINUTE, Recorder(), max_attempts=0)


def test_retry_delays_double_up_to_an_hour() -> None:
    job = a_job(Recorder())
    assert [job.retry_delay(n).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert job.retry_delay(40) == timedelta(hours=1)


# -- the due decision --------------------------------------------------------------------------------


def _run(status: RunStatus, *, lease_until: datetime, attempts: int = 1) -> JobRun:
    return JobRun("test.job", T0, status, "h", lease_until, attempts, T0)


def test_due_when_nobody_ran_the_period_never_when_done() -> None:
    job = a_job(Recorder())
    assert is_due(job, None, T0)
    assert not is_due(job, _run(RunStatus.DONE, lease_until=T0), T0 + timedelta(seconds=30))
    assert next_due(job, _run(RunStatus.DONE, lease_until=T0), T0 + timedelta(seconds=30)) == T0 + timedelta(minutes=1)


def test_due_when_the_holders_lease_ran_out() -> None:
    job = a_job(Recorder())
    running = _run(RunStatus.RUNNING, lease_until=T0 + timedelta(seconds=20))
    assert not is_due(job, running, T0 + timedelta(seconds=19))
    assert is_due(job, running, T0 + timedelta(seconds=20))


def test_a_failed_period_is_due_after_its_backoff_while_attempts_remain() -> None:
    job = a_job(Recorder(), max_attempts=2)
    failed = _run(RunStatus.FAILED, lease_until=T0 + timedelta(seconds=5))
    assert not is_due(job, failed, T0 + timedelta(seconds=4))
    assert is_due(job, failed, T0 + timedelta(seconds=5))
    spent = _run(RunStatus.FAILED, lease_until=T0 + timedelta(seconds=5), attempts=2)
    assert not is_due(job, spent, T0 + timedelta(seconds=6))
    assert next_due(job, spent, T0 + timedelta(seconds=6)) == T0 + timedelta(minutes=1)


def test_a_job_by_hand_only_is_never_due() -> None:
    job = a_job(Recorder(), automatic=False)
    assert not is_due(job, None, T0)
    assert next_due(job, None, T0) is None


async def test_in_batches_stops_at_a_short_batch_or_at_its_bound() -> None:
    sizes = iter([3, 3, 1, 3])
    calls: list[int] = []

    async def step(batch: int) -> int:
        calls.append(batch)
        return next(sizes)

    assert await in_batches(step, 3, 10) == 7
    assert calls == [3, 3, 3]

    async def always_full(batch: int) -> int:
        return batch

    assert await in_batches(always_full, 5, 4) == 20


def test_results_are_stored_as_one_short_line() -> None:
    assert one_line("  first\nsecond") == "first"
    assert len(one_line("x" * 2000)) == 500


# -- the scheduler -------------------------------------------------------------------------------------


def _scheduler(jobs: list[Job], runs: InMemoryJobRuns, clock: FixedClock, holder: str = "a") -> Scheduler:
    return Scheduler(jobs, runs, clock, holder)


async def test_each_period_runs_once_across_replicas() -> None:
    clock, runs, fn = FixedClock(T0 + timedelta(seconds=10)), InMemoryJobRuns(), Recorder()
    job = a_job(fn)
    replicas = [_scheduler([job], runs, clock, holder) for holder in ("a", "b", "c")]
    outcomes = await asyncio.gather(*(r.run_due(job) for r in replicas))
    assert [o.ok for o in outcomes if o is not None] == [True]
    assert fn.periods == [Period(T0, T0 + timedelta(minutes=1))]
    # Later in the same period: nobody runs it again, and the replicas that know it is done do not even ask.
    clock.advance(timedelta(seconds=30))
    assert [await r.run_due(job) for r in replicas] == [None, None, None]
    assert not any(r.wants(job, clock.now()) for r in replicas)
    clock.advance(timedelta(seconds=30))  # the next period
    assert (await replicas[1].run_due(job)) is not None
    assert [p.start for p in fn.periods] == [T0, T0 + timedelta(minutes=1)]
    run = runs.runs[("test.job", T0 + timedelta(minutes=1))]
    assert (run.status, run.holder, run.result) == (RunStatus.DONE, "b", "did 2")


async def test_a_failed_run_is_retried_with_backoff_up_to_its_attempts() -> None:
    clock, runs, fn = FixedClock(T0), InMemoryJobRuns(), Recorder(failures=5)
    job = a_job(fn, max_attempts=3)
    scheduler = _scheduler([job], runs, clock)
    first = await scheduler.run_due(job)
    assert first is not None
    assert not first.ok
    assert first.error == "ConnectionError: database unreachable"
    assert await scheduler.run_due(job) is None  # within the backoff (5 s)
    clock.advance(timedelta(seconds=5))
    second = await scheduler.run_due(job)
    assert second is not None
    assert second.attempts == 2
    clock.advance(timedelta(seconds=9))
    assert await scheduler.run_due(job) is None  # the second backoff is 10 s
    clock.advance(timedelta(seconds=1))
    third = await scheduler.run_due(job)
    assert third is not None
    assert third.attempts == 3
    assert not third.ok
    clock.advance(timedelta(seconds=30))
    assert await scheduler.run_due(job) is None  # out of attempts for this period
    assert len(fn.periods) == 3
    assert runs.runs[("test.job", T0)].status is RunStatus.FAILED
    clock.advance(timedelta(seconds=30))  # a new period starts with fresh attempts
    fourth = await scheduler.run_due(job)
    assert fourth is not None
    assert fourth.attempts == 1


async def test_a_run_whose_holder_died_is_taken_over_after_its_lease() -> None:
    clock, runs, fn = FixedClock(T0), InMemoryJobRuns(), Recorder()
    job = a_job(fn, lease=timedelta(seconds=20))
    # A replica claimed the period and died: its lease is never renewed.
    dead = await runs.claim("test.job", T0, holder="dead", now=T0, lease_until=T0 + job.lease, max_attempts=3)
    assert dead is not None
    survivor = _scheduler([job], runs, clock, "survivor")
    clock.advance(timedelta(seconds=19))
    assert await survivor.run_due(job) is None
    assert not survivor.wants(job, clock.now())  # it remembers the lease, no query until then
    clock.advance(timedelta(seconds=1))
    outcome = await survivor.run_due(job)
    assert outcome is not None
    assert outcome.ok
    assert outcome.attempts == 2
    assert runs.runs[("test.job", T0)].holder == "survivor"
    # The dead holder's late report changes nothing.
    assert not await runs.finish("test.job", T0, holder="dead", now=clock.now(), result="late")
    assert runs.runs[("test.job", T0)].result == "did 1"


async def test_the_lease_is_renewed_while_a_long_job_runs() -> None:
    clock, runs = FixedClock(T0), InMemoryJobRuns()
    release = asyncio.Event()

    async def long(period: Period) -> str:
        await release.wait()
        return "long done"

    job = Job("test.long", MINUTE, long, lease=timedelta(milliseconds=60))
    holder = _scheduler([job], runs, clock, "a")
    task = asyncio.ensure_future(holder.run_due(job))
    await until(lambda: ("test.long", T0) in runs.runs)
    clock.advance(timedelta(seconds=1))  # well past the first lease
    await until(lambda: runs.runs[("test.long", T0)].lease_until > T0 + timedelta(seconds=1))
    other = _scheduler([job], runs, clock, "b")
    assert await other.run_due(job) is None  # renewed: nothing to take over
    release.set()
    outcome = await asyncio.wait_for(task, 5)
    assert outcome is not None
    assert outcome.ok
    assert outcome.result == "long done"


async def test_a_holder_that_lost_its_lease_stops_its_job() -> None:
    clock, runs = FixedClock(T0), InMemoryJobRuns()
    cancelled = asyncio.Event()

    async def stuck(period: Period) -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    job = Job("test.stuck", MINUTE, stuck, lease=timedelta(milliseconds=60))
    slow = _scheduler([job], runs, clock, "slow")
    task = asyncio.ensure_future(slow.run_due(job))
    await until(lambda: ("test.stuck", T0) in runs.runs)
    # Another replica took the period over (as if this one had paused past its lease).
    taken = runs.runs[("test.stuck", T0)]
    runs.runs[("test.stuck", T0)] = JobRun(taken.job, T0, RunStatus.RUNNING, "other", T0 + timedelta(hours=1), 2, T0)
    outcome = await asyncio.wait_for(task, 5)
    assert outcome is not None
    assert not outcome.ok
    assert "took the period over" in (outcome.error or "")
    assert cancelled.is_set()
    assert runs.runs[("test.stuck", T0)].holder == "other"


async def test_a_job_past_its_timeout_fails_and_is_retried() -> None:
    clock, runs = FixedClock(T0), InMemoryJobRuns()

    async def hangs(period: Period) -> str:
        await asyncio.sleep(60)
        return "never"

    job = Job("test.hangs", MINUTE, hangs, timeout=timedelta(milliseconds=30))
    outcome = await _scheduler([job], runs, clock).run_due(job)
    assert outcome is not None
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.startswith("timed out")
    assert runs.runs[("test.hangs", T0)].status is RunStatus.FAILED


async def test_a_run_by_hand_repeats_a_done_period_but_never_beside_a_live_run() -> None:
    clock, runs, fn = FixedClock(T0), InMemoryJobRuns(), Recorder()
    job = a_job(fn)
    scheduler = _scheduler([job], runs, clock)
    assert (await scheduler.run_due(job)) is not None
    again = await scheduler.run_now("test.job")
    assert again.ok
    assert again.attempts == 2
    assert len(fn.periods) == 2
    clock.advance(timedelta(minutes=1))
    await runs.claim(
        "test.job",
        T0 + timedelta(minutes=1),
        holder="replica",
        now=clock.now(),
        lease_until=clock.now() + timedelta(seconds=30),
        max_attempts=3,
    )
    with pytest.raises(JobBusy, match="running for this period by replica"):
        await scheduler.run_now("test.job")
    assert len(fn.periods) == 2


async def test_an_unknown_job_is_named_with_the_known_ones() -> None:
    scheduler = _scheduler([a_job(Recorder())], InMemoryJobRuns(), FixedClock(T0))
    with pytest.raises(UnknownJob, match=r"unknown job 'nope'; known: test\.job"):
        await scheduler.run_now("nope")


def test_a_job_name_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"registered twice: test\.job"):
        _scheduler([a_job(Recorder()), a_job(Recorder())], InMemoryJobRuns(), FixedClock(T0))


async def test_statuses_name_the_latest_run_and_when_next_due() -> None:
    clock, runs = FixedClock(T0 + timedelta(seconds=5)), InMemoryJobRuns()
    job, manual = a_job(Recorder()), Job("test.manual", MINUTE, Recorder(), automatic=False)
    scheduler = _scheduler([job, manual], runs, clock)
    await scheduler.run_due(job)
    by_name = {s.job.name: s for s in await scheduler.statuses()}
    assert by_name["test.job"].latest is not None
    assert by_name["test.job"].latest.status is RunStatus.DONE
    assert by_name["test.job"].next_due == T0 + timedelta(minutes=1)
    assert by_name["test.manual"].latest is None
    assert by_name["test.manual"].next_due is None


async def test_the_prune_job_forgets_old_runs_only() -> None:
    clock, runs = FixedClock(T0), InMemoryJobRuns()
    for days in (20, 15, 1):
        start = T0 - timedelta(days=days)
        await runs.claim("test.job", start, holder="h", now=start, lease_until=start, max_attempts=1)
    job = prune_job(runs, clock, keep=timedelta(days=14))
    assert job.name == PRUNE_JOB
    assert await job.run(job.schedule.period_at(T0)) == "forgot 2 old run(s)"
    assert [key[1] for key in runs.runs] == [T0 - timedelta(days=1)]
