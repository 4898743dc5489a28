"""Submits attempts whose time ran out, every ``interval`` seconds, inside a long-running process.

A learner who walks away from a timed quiz still gets a grade for what they saved: the service
closes such attempts lazily whenever one is touched, and this loop closes the untouched ones, so
the gradebook and the ``attempt_submitted``/``attempt_graded`` events do not wait for the learner to
come back. Every server process may run it: ``close_expired`` submits each attempt under its row
lock, exactly once, so two sweepers never double anything. ``elearning quizzes close-expired`` does
the same once, for cron.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger("elearning.assessment")


class ExpiredAttemptCloser(Protocol):
    async def close_expired(self, limit: int = 500) -> int: ...


class ExpiredAttemptSweeper:
    def __init__(self, service: ExpiredAttemptCloser, interval: float, *, batch: int = 500) -> None:
        if interval <= 0:
            raise ValueError("the sweep interval must be positive")
        self._service, self._interval, self._batch = service, interval, batch
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.closed = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="expired-attempt-sweeper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.rounds += 1
            try:
                closed = await self._service.close_expired(self._batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database blip must not end the loop; the next round retries
                log.warning("closing expired attempts failed: %s", exc)
                continue
            self.closed += closed
            if closed:
                log.info("closed %d expired attempt(s)", closed)
