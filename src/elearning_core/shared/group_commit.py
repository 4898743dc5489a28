"""Group commit: many small writes submitted at the same moment share one transaction.

A hot write path whose requests each carry a few rows (a video player's heartbeat) spends most of its
time on the transaction around them, not on the rows: a round trip per statement, the commit's flush.
``GroupCommit`` turns N concurrent submissions into one call of ``write`` with all N items. There is no
timer: the first item of a quiet moment is written at once, alone; while that write runs, the items that
arrive wait and are written together as soon as it ends. So a lone request pays no added delay, and
under load the groups grow with the rate (each group is what arrived during the previous write). With
``linger``, a group that finds others already waiting (the writer is under load) first waits that long
for more: fewer, larger transactions for a bounded added latency, paid only under load.

Every submitter is answered after its own group commits (its item is durable when ``submit`` returns),
or gets its own error: when a group's write fails, each item is retried alone, so one bad item (a row
that breaks a constraint) fails only its own request. ``write`` must therefore be all-or-nothing (one
transaction) and idempotent per item (a retried item may have been in a group that failed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

DEFAULT_MAX_GROUP = 500


class GroupCommit(Generic[T]):
    """Writes submitted items in groups through ``write`` (one transaction per call); see the module."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_group: int = DEFAULT_MAX_GROUP,
        linger: float = 0.0,
    ) -> None:
        if max_group < 1 or linger < 0:
            raise ValueError("max_group must be at least 1 and linger not negative")
        self._write = write
        self._max_group = max_group
        self._linger = linger
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0
        """How many groups were written (for tests and metrics)."""

    async def submit(self, item: T) -> None:
        """Return once ``item`` is committed with its group; raise what writing it alone raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if self._writer is not None and not self._writer.done() and self._writer.get_loop() is not loop:
            # A writer left behind on an event loop that is gone (an app reused across loops, as tests do):
            # nothing will run it again, and its waiters went with their loop.
            self._writer, self._waiting = None, []
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # The write goes on if this caller goes away (a client that hung up): its item was accepted.
        await asyncio.shield(done)

    async def _drain(self) -> None:
        group: list[tuple[T, asyncio.Future[None]]] = []
        try:
            loaded = False
            while self._waiting:
                if loaded and self._linger and len(self._waiting) < self._max_group:
                    await asyncio.sleep(self._linger)
                group, self._waiting = self._waiting[: self._max_group], self._waiting[self._max_group :]
                self.groups += 1
                if len(group) == 1:
                    await self._one(*group[0])
                    loaded = bool(self._waiting)
                    continue
                try:
                    await self._write([item for item, _ in group])
                except Exception:
                    for item, done in group:
                        await self._one(item, done)
                else:
                    for _, done in group:
                        _settle(done)
                loaded = bool(self._waiting)  # others arrived during this write
        except BaseException as stopped:  # cancelled (the loop shuts down): nobody may wait forever
            for _, done in [*group, *self._waiting]:
                _settle(done, RuntimeError(f"the write was interrupted: {stopped!r}"))
            self._waiting = []
            raise

    async def _one(self, item: T, done: asyncio.Future[None]) -> None:
        try:
            await self._write([item])
        except Exception as exc:
            _settle(done, exc)
        else:
            _settle(done)


def _settle(done: asyncio.Future[None], error: BaseException | None = None) -> None:
    if done.done() or done.get_loop().is_closed():  # nobody is left to tell on a closed loop
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def latest_per_key(entries: Iterable[tuple[K, datetime, V]]) -> dict[K, V]:
    """The latest value per key by its moment (on a tie, the later in the sequence): what a group of
    last-wins writes leaves, computed before writing (one row per key per statement)."""
    latest: dict[K, tuple[datetime, V]] = {}
    for key, at, value in entries:
        kept = latest.get(key)
        if kept is None or kept[0] <= at:
            latest[key] = (at, value)
    return {key: value for key, (_, value) in latest.items()}
