"""Scheduled job runs in the database: where the scheduler's replicas meet.

One row per (job, period start): the primary key makes the first claim of a period an
``INSERT ... ON CONFLICT DO NOTHING`` that exactly one replica wins; a takeover (the holder's lease ran out)
or a retry (a failed attempt's backoff is over) is a conditional ``UPDATE`` whose WHERE re-checks the row,
so of two replicas racing for it the second finds it running again (PostgreSQL re-evaluates the condition
on the row the first committed; SQLite serialises the writers). Each call is one short transaction,
committed before the job runs, so every replica sees the claim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_core.scheduling.model import NAME_MAX, RESULT_MAX, JobRun, RunStatus
from elearning_core.scheduling.ports import JobRuns

HOLDER_MAX = 200

scheduled_job_runs = Table(
    "scheduled_job_runs",
    metadata,
    Column("job", String(NAME_MAX), primary_key=True),
    Column("period_start", UtcDateTime, primary_key=True),
    Column("status", String(10), nullable=False),
    Column("holder", String(HOLDER_MAX), nullable=False),
    # Running: until when the holder's claim stands. Failed: the earliest next attempt.
    Column("lease_until", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("result", String(RESULT_MAX), nullable=True),
    Column("error", String(RESULT_MAX), nullable=True),
)
# Pruning by age across every job.
Index("ix_scheduled_job_runs_period_start", scheduled_job_runs.c.period_start)

c = scheduled_job_runs.c


def _key(job: str, period_start: datetime) -> Any:
    return and_(c.job == job, c.period_start == period_start)


def _held(job: str, period_start: datetime, holder: str) -> Any:
    return and_(_key(job, period_start), c.holder == holder, c.status == RunStatus.RUNNING.value)


def _claimable(now: datetime, max_attempts: int | None) -> Any:
    """``model.claimable`` as SQL, for the conditional UPDATE."""
    if max_attempts is None:
        return or_(c.status != RunStatus.RUNNING.value, c.lease_until <= now)
    return and_(
        c.status != RunStatus.DONE.value,
        c.lease_until <= now,
        or_(c.status == RunStatus.RUNNING.value, c.attempts < max_attempts),
    )


def _run(row: Row[Any]) -> JobRun:
    return JobRun(
        job=row.job,
        period_start=row.period_start,
        status=RunStatus(row.status),
        holder=row.holder,
        lease_until=row.lease_until,
        attempts=row.attempts,
        started_at=row.started_at,
        finished_at=row.finished_at,
        result=row.result,
        error=row.error,
    )


class SqlJobRuns(JobRuns):
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = (sqlite if db.is_sqlite else postgresql).insert

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
        claimed = {
            "status": RunStatus.RUNNING.value,
            "holder": holder[:HOLDER_MAX],
            "lease_until": lease_until,
            "started_at": now,
        }
        async with self._db.write() as conn:
            # RETURNING names the winner on both backends (a DO NOTHING insert's rowcount is not reliable).
            row = (
                await conn.execute(
                    self._insert(scheduled_job_runs)
                    .values(job=job, period_start=period_start, attempts=1, **claimed)
                    .on_conflict_do_nothing(index_elements=[c.job, c.period_start])
                    .returning(*scheduled_job_runs.c)
                )
            ).one_or_none()
            if row is None:
                row = (
                    await conn.execute(
                        update(scheduled_job_runs)
                        .where(_key(job, period_start), _claimable(now, max_attempts))
                        .values(attempts=c.attempts + 1, finished_at=None, result=None, error=None, **claimed)
                        .returning(*scheduled_job_runs.c)
                    )
                ).one_or_none()
            if row is None:
                await conn.rollback()
                return None
            await conn.commit()
        return _run(row)

    async def renew(self, job: str, period_start: datetime, *, holder: str, lease_until: datetime) -> bool:
        return await self._change(_held(job, period_start, holder), lease_until=lease_until)

    async def finish(self, job: str, period_start: datetime, *, holder: str, now: datetime, result: str) -> bool:
        return await self._change(
            _held(job, period_start, holder),
            status=RunStatus.DONE.value,
            finished_at=now,
            lease_until=now,
            result=result[:RESULT_MAX],
        )

    async def fail(
        self, job: str, period_start: datetime, *, holder: str, now: datetime, error: str, retry_at: datetime
    ) -> bool:
        return await self._change(
            _held(job, period_start, holder),
            status=RunStatus.FAILED.value,
            finished_at=now,
            lease_until=retry_at,
            error=error[:RESULT_MAX],
        )

    async def get(self, job: str, period_start: datetime) -> JobRun | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(scheduled_job_runs).where(_key(job, period_start)))).one_or_none()
        return None if row is None else _run(row)

    async def latest(self, job: str) -> JobRun | None:
        query = select(scheduled_job_runs).where(c.job == job).order_by(c.period_start.desc()).limit(1)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _run(row)

    async def prune(self, before: datetime) -> int:
        async with self._db.write() as conn:
            deleted = await conn.execute(delete(scheduled_job_runs).where(c.period_start < before))
            await conn.commit()
        return int(deleted.rowcount)

    async def _change(self, where: Any, **values: Any) -> bool:
        async with self._db.write() as conn:
            changed = (
                await conn.execute(update(scheduled_job_runs).where(where).values(**values).returning(c.job))
            ).one_or_none()
            await conn.commit()
        return changed is not None
