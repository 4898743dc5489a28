"""The scheduler's background loop, in ``elearning serve`` (embedded default) and in the scheduler worker.

Every tick (``ELEARNING_SCHEDULER_TICK_SECONDS``) it starts a run of each job the ``Scheduler`` wants now
and that is not already running in this process; the runs go on beside the loop, so a long job delays
no other. Stopping lets the runs in hand finish (they hold a claim and keep its lease alive), up to
``stop_timeout``; past it they are cancelled and their lease runs out, so another replica takes the period
over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from elearning_core.scheduling.model import Job
from elearning_core.scheduling.service import RunOutcome, Scheduler

log = logging.getLogger("elearning.scheduler")


def holder_id() -> str:
    """This process's name in the job-run store: host, pid and a random part (a restarted pid is another holder)."""
    return f"{socket.gethostname() or 'host'}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SchedulerRunner:
    def __init__(self, scheduler: Scheduler, tick_seconds: float, *, stop_timeout: float = 60.0) -> None:
        if tick_seconds <= 0:
            raise ValueError("the scheduler's tick must be positive")
        self.scheduler = scheduler
        self._tick, self._stop_timeout = tick_seconds, stop_timeout
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._store_down_until: dict[str, float] = {}
        """Per job: while its store calls fail, when (loop time) to try again, backing off to a minute."""
        self._store_failures: dict[str, int] = {}
        self.ticks = 0
        self.outcomes: list[RunOutcome] = []
        """The runs this process made, latest last (the last 100): for tests and the log."""

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.get_running_loop().create_task(self.run(self._stop), name="scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stop.set()
        if task is not None:
            await task

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; then let the runs in hand finish."""
        running: dict[str, asyncio.Task[None]] = {}

        def forget(task: asyncio.Task[None]) -> None:
            running.pop(task.get_name(), None)

        try:
            while not stop.is_set():
                self.ticks += 1
                now = self.scheduler.now()
                for job in self.scheduler.jobs:
                    if job.name not in running and self._may_try(job) and self.scheduler.wants(job, now):
                        task = asyncio.get_running_loop().create_task(self._run(job), name=job.name)
                        running[job.name] = task
                        task.add_done_callback(forget)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._tick)
        finally:
            await self._finish(list(running.values()))

    def _may_try(self, job: Job) -> bool:
        return self._store_down_until.get(job.name, 0.0) <= asyncio.get_running_loop().time()

    async def _run(self, job: Job) -> None:
        try:
            outcome = await self.scheduler.run_due(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store is unreachable: try again later, backing off (one line per try)
            failures = self._store_failures[job.name] = self._store_failures.get(job.name, 0) + 1
            delay = min(self._tick * 2 ** min(failures, 10), 60.0)
            self._store_down_until[job.name] = asyncio.get_running_loop().time() + delay
            log.warning("scheduler: could not run job %s (next try in %.0f s): %s", job.name, delay, exc)
            return
        self._store_failures.pop(job.name, None)
        self._store_down_until.pop(job.name, None)
        if outcome is not None:
            self.outcomes = [*self.outcomes[-99:], outcome]

    async def _finish(self, tasks: list[asyncio.Task[None]]) -> None:
        if not tasks:
            return
        log.info("scheduler stopping: waiting for %d job run(s) in hand", len(tasks))
        _done, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
