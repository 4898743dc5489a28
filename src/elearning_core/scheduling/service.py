"""The ``Scheduler`` use case: claim each due job's period through the store, run it, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from elearning_core.scheduling.model import (
    Job,
    JobRun,
    Period,
    Schedule,
    is_due,
    next_due,
    one_line,
)
from elearning_core.scheduling.ports import JobRuns
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict, NotFound

log = logging.getLogger("elearning.scheduler")

PRUNE_JOB = "scheduler.prune-runs"
KEEP_RUNS = timedelta(days=14)
"""How long the records of past periods stay for ``elearning jobs list`` and inspection."""


class UnknownJob(NotFound):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__("job", name)
        self.detail = f"unknown job {name!r}; known: {', '.join(sorted(known)) or 'none'}"
        self.args = (self.detail,)


class JobBusy(Conflict):
    """The period is held by a live run elsewhere: a manual run waits for it rather than run beside it."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    job: str
    period: Period
    attempts: int
    ok: bool
    result: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobStatus:
    job: Job
    latest: JobRun | None
    next_due: datetime | None


class Scheduler:
    """Runs every registered job once per period across all replicas sharing ``runs``.

    ``holder`` names this process in the store (host, pid, a random part). A replica remembers, per job,
    the moment it should next look (the period settled here or elsewhere, a backoff, a lease held by
    another replica), so an idle tick costs no query at all.
    """

    def __init__(self, jobs: Sequence[Job], runs: JobRuns, clock: Clock, holder: str) -> None:
        names = [job.name for job in jobs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"jobs registered twice: {', '.join(duplicates)}")
        self._jobs = {job.name: job for job in jobs}
        self._runs, self._clock, self.holder = runs, clock, holder
        self._look_again: dict[str, datetime] = {}

    def now(self) -> datetime:
        return self._clock.now()

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def job(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            raise UnknownJob(name, list(self._jobs)) from None

    def wants(self, job: Job, now: datetime) -> bool:
        """Whether this replica should try to claim ``job`` at ``now`` (without asking the store)."""
        look_again = self._look_again.get(job.name)
        return job.automatic and (look_again is None or look_again <= now)

    async def run_due(self, job: Job) -> RunOutcome | None:
        """Claim and run ``job``'s current period if it is due here; None when it was not (not wanted, or
        another replica holds or settled it)."""
        now = self._clock.now()
        if not self.wants(job, now):
            return None
        period = job.schedule.period_at(now)
        run = await self._runs.claim(
            job.name,
            period.start,
            holder=self.holder,
            now=now,
            lease_until=now + job.lease,
            max_attempts=job.max_attempts,
        )
        if run is None:
            self._remember(job, await self._runs.get(job.name, period.start), now)
            return None
        outcome = await self._execute(job, period, run)
        self._remember(job, await self._runs.get(job.name, period.start), self._clock.now())
        return outcome

    async def run_now(self, name: str) -> RunOutcome:
        """Run ``name`` for the current period now, by hand: through the same claim, so never beside a live
        run of another replica (``JobBusy``), but also when the period is done or out of attempts (the job
        is idempotent for its period)."""
        job = self.job(name)
        now = self._clock.now()
        period = job.schedule.period_at(now)
        run = await self._runs.claim(
            job.name, period.start, holder=self.holder, now=now, lease_until=now + job.lease, max_attempts=None
        )
        if run is None:
            held = await self._runs.get(job.name, period.start)
            holder = f" by {held.holder} (lease until {held.lease_until:%Y-%m-%d %H:%M:%S} UTC)" if held else ""
            raise JobBusy(f"job {name} is running for this period{holder}; try again once it ends")
        return await self._execute(job, period, run)

    async def statuses(self) -> list[JobStatus]:
        now = self._clock.now()
        result = []
        for job in self._jobs.values():
            latest = await self._runs.latest(job.name)
            result.append(JobStatus(job, latest, next_due(job, latest, now)))
        return result

    def _remember(self, job: Job, run: JobRun | None, now: datetime) -> None:
        period = job.schedule.period_at(now)
        if run is not None and run.period_start == period.start and not is_due(job, run, now):
            when = next_due(job, run, now)
            self._look_again[job.name] = when if when is not None else period.end
        else:
            self._look_again.pop(job.name, None)

    async def _execute(self, job: Job, period: Period, run: JobRun) -> RunOutcome:
        """Run the claimed period with its lease kept alive; record how it ended (if still the holder)."""
        if run.attempts > 1:
            log.info("job %s: attempt %d for the period from %s", job.name, run.attempts, period.start.isoformat())
        task = asyncio.ensure_future(job.run(period))
        taken_over = asyncio.Event()
        keeper = asyncio.ensure_future(self._keep_lease(job, period, task, taken_over))
        try:
            async with asyncio.timeout(job.timeout.total_seconds()):
                result = one_line(await task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if taken_over.is_set() and (current is None or not current.cancelling()):
                return self._lost(job, period, run)
            raise  # this scheduler is being cancelled: the claim's lease runs out and another replica retries
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                error = f"timed out after {job.timeout}"
            else:
                error = one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            now = self._clock.now()
            retry_at = now + job.retry_delay(run.attempts)
            kept = await self._runs.fail(
                job.name, period.start, holder=self.holder, now=now, error=error, retry_at=retry_at
            )
            log.warning("job %s failed (attempt %d of %d): %s", job.name, run.attempts, job.max_attempts, error)
            if not kept:
                return self._lost(job, period, run)
            return RunOutcome(job.name, period, run.attempts, ok=False, error=error)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        kept = await self._runs.finish(job.name, period.start, holder=self.holder, now=self._clock.now(), result=result)
        if not kept:
            return self._lost(job, period, run)
        log.info("job %s done for the period from %s: %s", job.name, period.start.isoformat(), result)
        return RunOutcome(job.name, period, run.attempts, ok=True, result=result)

    async def _keep_lease(self, job: Job, period: Period, task: asyncio.Future[str], taken_over: asyncio.Event) -> None:
        """Renew the lease every third of it while the job runs; stop the job if another holder took over."""
        every = job.lease.total_seconds() / 3
        while not task.done():
            await asyncio.sleep(every)
            if task.done():
                return
            if not await self._runs.renew(
                job.name, period.start, holder=self.holder, lease_until=self._clock.now() + job.lease
            ):
                taken_over.set()
                task.cancel()
                return

    def _lost(self, job: Job, period: Period, run: JobRun) -> RunOutcome:
        error = "the lease ran out and another replica took the period over"
        log.warning("job %s: %s", job.name, error)
        return RunOutcome(job.name, period, run.attempts, ok=False, error=error)


def prune_job(runs: JobRuns, clock: Clock, keep: timedelta = KEEP_RUNS) -> Job:
    """The scheduler's own housekeeping: daily, forget the runs of periods older than ``keep``."""

    async def prune(period: Period) -> str:
        del period  # by age, not by period: a rerun deletes nothing more
        return f"forgot {await runs.prune(clock.now() - keep)} old run(s)"

    return Job(
        PRUNE_JOB,
        Schedule(timedelta(days=1), offset=timedelta(hours=3)),
        prune,
        description=f"deletes the records of job runs older than {keep.days} days",
    )
