"""An in-memory ``JobRuns`` for the scheduler's unit tests (the contract suite holds it to the SQL store), and
a bounded wait."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime

from elearning_core.scheduling.model import JobRun, RunStatus, claimable
from elearning_core.scheduling.ports import JobRuns


class InMemoryJobRuns(JobRuns):
    def __init__(self) -> None:
        self.runs: dict[tuple[str, datetime], JobRun] = {}
        self._lock = asyncio.Lock()

    async def claim(
        self,
        job: str,
        period_start: datetime,
        *,
        holder: str,
        now: datetime,
        lease_until: datetime,
        max_attempts: int | None,
    ) -> JobRun | None:
        async with self._lock:
            await asyncio.sleep(0)  # let concurrent claims interleave, as they would on a database
            current = self.runs.get((job, period_start))
            if current is not None and not claimable(current, now, max_attempts):
                return None
            run = JobRun(
                job=job,
                period_start=period_start,
                status=RunStatus.RUNNING,
                holder=holder,
                lease_until=lease_until,
                attempts=1 if current is None else current.attempts + 1,
                started_at=now,
            )
            self.runs[(job, period_start)] = run
            return run

    def _held(self, job: str, period_start: datetime, holder: str) -> JobRun | None:
        run = self.runs.get((job, period_start))
        return run if run is not None and run.holder == holder and run.status is RunStatus.RUNNING else None

    def _replace(self, run: JobRun, **changes: object) -> bool:
        self.runs[(run.job, run.period_start)] = dataclasses.replace(run, **changes)  # type: ignore[arg-type]
        return True

    async def renew(self, job: str, period_start: datetime, *, holder: str, lease_until: datetime) -> bool:
        run = self._held(job, period_start, holder)
        return run is not None and self._replace(run, lease_until=lease_until)

    async def finish(self, job: str, period_start: datetime, *, holder: str, now: datetime, result: str) -> bool:
        run = self._held(job, period_start, holder)
        return run is not None and self._replace(
            run, status=RunStatus.DONE, finished_at=now, lease_until=now, result=result
        )

    async def fail(
        self, job: str, period_start: datetime, *, holder: str, now: datetime, error: str, retry_at: datetime
    ) -> bool:
        run = self._held(job, period_start, holder)
        return run is not None and self._replace(
            run, status=RunStatus.FAILED, finished_at=now, lease_until=retry_at, error=error
        )

    async def get(self, job: str, period_start: datetime) -> JobRun | None:
        return self.runs.get((job, period_start))

    async def latest(self, job: str) -> JobRun | None:
        mine = [run for (name, _), run in self.runs.items() if name == job]
        return max(mine, key=lambda r: r.period_start, default=None)

    async def prune(self, before: datetime) -> int:
        old = [key for key in self.runs if key[1] < before]
        for key in old:
            del self.runs[key]
        return len(old)


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms for at most ``seconds``."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached within {seconds} s")
