"""A scheduler worker process with one test job, for ``test_scheduler_replicas.py``.

``python scheduler_worker.py probe|hang|finish`` (database: ``ELEARNING_DATABASE_URL``). It is the real
worker loop (``elearning_workers.main.run_scheduler``: signals, runner, claims, leases); only the jobs are
the test's, put in place of the platform's by overriding the assembly's ``jobs`` provider:

- ``probe``: ``test.probe`` every second, appending (job, period, holder) to ``scheduler_probe``;
- ``hang``: ``test.slow`` (30 s periods, a 1 s lease) appends its row, then never returns (until killed);
- ``finish``: ``test.slow`` appends its row and returns.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta

from dependency_injector import providers
from sqlalchemy import text

from elearning_adapters.container import build_container
from elearning_adapters.settings import Settings
from elearning_core.scheduling.model import Job, Period, Schedule
from elearning_workers.main import run_scheduler

SLOW_PERIOD = timedelta(seconds=30)
SLOW_LEASE = timedelta(seconds=1)


async def main(mode: str) -> None:
    container = build_container(Settings(db_work_class="batch"))
    database = container.adapters.database()
    holder: list[str] = []

    async def append(job: str, period: Period) -> None:
        async with database.write() as conn:
            await conn.execute(
                text("INSERT INTO scheduler_probe (job, period_start, holder) VALUES (:job, :start, :holder)"),
                {"job": job, "start": period.start, "holder": holder[0]},
            )
            await conn.commit()

    async def probe(period: Period) -> str:
        await append("test.probe", period)
        return "probed"

    async def slow(period: Period) -> str:
        await append("test.slow", period)
        if mode == "hang":
            await asyncio.sleep(3600)
        return "slow done"

    if mode == "probe":
        jobs = [Job("test.probe", Schedule(timedelta(seconds=1)), probe, lease=timedelta(seconds=5))]
    else:
        jobs = [Job("test.slow", Schedule(SLOW_PERIOD), slow, lease=SLOW_LEASE, retry_after=timedelta(0))]
    container.jobs.override(providers.Object(jobs))
    holder.append(container.scheduling.scheduler().holder)
    print(f"holder {holder[0]}", flush=True)
    await run_scheduler(container)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(sys.argv[1]))
