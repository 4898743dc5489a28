"""What the scheduler needs from outside: the store of job runs, where replicas meet."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from elearning_core.scheduling.model import JobRun


class JobRuns(Protocol):
    """One record per (job, period start). Every change is one statement that only one replica can win.

    Each method commits on its own: a claim must be visible to the other replicas before the job runs.
    """

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
        """Take the period for ``holder`` (status running, one more attempt) if nobody has it, or if
        ``model.claimable`` allows it (``max_attempts`` None: by hand, a done or spent period too); the
        run as claimed, or None when another holder has it or it is settled."""
        ...

    async def renew(self, job: str, period_start: datetime, *, holder: str, lease_until: datetime) -> bool:
        """Extend a running claim; False when ``holder`` no longer holds it (taken over)."""
        ...

    async def finish(self, job: str, period_start: datetime, *, holder: str, now: datetime, result: str) -> bool:
        """Mark the held run done; False when ``holder`` no longer holds it."""
        ...

    async def fail(
        self, job: str, period_start: datetime, *, holder: str, now: datetime, error: str, retry_at: datetime
    ) -> bool:
        """Mark the held run failed, retryable from ``retry_at``; False when ``holder`` no longer holds it."""
        ...

    async def get(self, job: str, period_start: datetime) -> JobRun | None: ...

    async def latest(self, job: str) -> JobRun | None:
        """The run of ``job``'s latest period that has one."""
        ...

    async def prune(self, before: datetime) -> int:
        """Delete the runs of periods that started before ``before``; how many."""
        ...
