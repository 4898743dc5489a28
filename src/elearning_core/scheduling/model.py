"""Jobs, their epoch-aligned periods, and the decision whether a job's period still needs a run.

A period is a fixed slice of time computed from the epoch (plus an offset), never from when a process
started: every replica, and ``elearning jobs run``, names the same period for the same instant, so the
store's (job, period start) key is what decides that a period runs once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

NAME_MAX = 100
RESULT_MAX = 500
"""Results and errors are one short line for the log and ``elearning jobs list``; longer ones are cut."""


def _micros(delta: timedelta) -> int:
    return delta // _MICRO


@dataclass(frozen=True, slots=True)
class Period:
    """The half-open slice ``[start, end)`` a run of a job is responsible for."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """Every ``every``, with period boundaries at ``EPOCH + offset + k * every`` (a daily job at 02:00 UTC:
    ``every=1 day, offset=2 h``). Exact to the microsecond, so sub-second test periods align as well."""

    every: timedelta
    offset: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if _micros(self.every) <= 0:
            raise ValueError("a schedule's period must be positive")
        if not timedelta(0) <= self.offset < self.every:
            raise ValueError("a schedule's offset must be at least 0 and shorter than its period")

    def period_at(self, at: datetime) -> Period:
        every, offset = _micros(self.every), _micros(self.offset)
        k = (_micros(at - EPOCH) - offset) // every
        start = EPOCH + (k * every + offset) * _MICRO
        return Period(start, start + self.every)


JobResult = str
"""A short line for the log and ``elearning jobs list`` (counts: ``closed 3 attempt(s)``)."""

JobFunction = Callable[[Period], Awaitable[JobResult]]


@dataclass(frozen=True, slots=True)
class Job:
    """A named periodic piece of work.

    The contract (docs/scheduling.md): ``run(period)`` is idempotent for its period. The scheduler runs it
    at most once at a time per period across every replica, but a run may be repeated for the same period:
    after a failure (retried up to ``max_attempts`` times, ``retry_after`` apart, doubling), after its holder
    died (taken over once ``lease`` ran out without renewal), or by an operator's ``elearning jobs run``. A
    repeat must find the work done and do nothing twice (each item settled in its own transaction, chosen by
    state, not by "what happened since the last run").

    ``automatic=False``: registered (``elearning jobs run`` knows it) but never started by the scheduler.
    """

    name: str
    schedule: Schedule
    run: JobFunction = field(compare=False)
    description: str = ""
    max_attempts: int = 3
    retry_after: timedelta = timedelta(seconds=10)
    lease: timedelta = timedelta(seconds=60)
    timeout: timedelta = timedelta(hours=1)
    automatic: bool = True

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > NAME_MAX or self.name != self.name.strip():
            raise ValueError(f"a job's name must be 1 to {NAME_MAX} characters without surrounding spaces")
        if self.max_attempts < 1:
            raise ValueError("a job needs at least one attempt per period")
        if self.lease <= timedelta(0) or self.retry_after < timedelta(0) or self.timeout <= timedelta(0):
            raise ValueError("a job's lease and timeout must be positive, its retry delay not negative")

    def retry_delay(self, attempts: int) -> timedelta:
        """How long after the ``attempts``-th failed attempt the next may start: doubling, at most an hour."""
        return min(self.retry_after * (1 << min(max(attempts - 1, 0), 20)), timedelta(hours=1))


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobRun:
    """The record of a job's period: who holds it and until when, how it ended, how many attempts it took.

    ``lease_until`` means: while running, until when the holder's claim stands (renewed while the job runs);
    once failed, the earliest moment of the next attempt (the backoff)."""

    job: str
    period_start: datetime
    status: RunStatus
    holder: str
    lease_until: datetime
    attempts: int
    started_at: datetime
    finished_at: datetime | None = None
    result: str | None = None
    error: str | None = None


def is_due(job: Job, run: JobRun | None, now: datetime) -> bool:
    """Whether the scheduler should claim ``run``'s period of ``job`` at ``now`` (None: nobody has).

    The store's claim applies the same rule in one statement (``claimable``); this copy lets a replica skip
    the round trip for a period it knows is settled and lets ``elearning jobs list`` say when a job is next due.
    """
    if run is None:
        return job.automatic
    return job.automatic and claimable(run, now, job.max_attempts)


def claimable(run: JobRun, now: datetime, max_attempts: int | None) -> bool:
    """The claim rule on an existing run: never a done period (except by hand: ``max_attempts`` None), never
    one whose holder's lease still stands; a failed one once its backoff is over and attempts remain."""
    if run.status is RunStatus.RUNNING:
        return run.lease_until <= now
    if max_attempts is None:
        return True
    if run.status is RunStatus.DONE:
        return False
    return run.lease_until <= now and run.attempts < max_attempts


def next_due(job: Job, run: JobRun | None, now: datetime) -> datetime | None:
    """When ``job`` is next due given its latest run (None: never by itself, or its period is spent)."""
    if not job.automatic:
        return None
    period = job.schedule.period_at(now)
    if run is None or run.period_start < period.start:
        return now
    if run.status is RunStatus.DONE:
        return period.end
    if run.status is RunStatus.RUNNING:
        return max(run.lease_until, now)
    if run.attempts >= job.max_attempts:
        return period.end
    return max(run.lease_until, now) if run.lease_until < period.end else period.end


async def in_batches(step: Callable[[int], Awaitable[int]], batch: int, max_batches: int) -> int:
    """Call ``step(batch)`` (it settles up to ``batch`` items, returning how many) until a short batch, at most
    ``max_batches`` times; the total. A job's run stays bounded: what is left waits for the next period."""
    total = 0
    for _ in range(max_batches):
        done = await step(batch)
        total += done
        if done < batch:
            break
    return total


def one_line(text: str) -> str:
    """A result or error as stored: its first line, at most ``RESULT_MAX`` characters."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return first if len(first) <= RESULT_MAX else first[: RESULT_MAX - 1] + "…"
