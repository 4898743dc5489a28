"""Carrying out a plan: copies streamed and verified by reading them back, ``jobs`` objects at a time."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar

from elearning_core.shared.ids import new_uuid
from elearning_core.shared.storage import ObjectNotFound, ObjectStore, StorageError
from elearning_core.shared.storage_migration._manifest import (
    FLUSH_EVERY,
    FLUSH_SECONDS,
    ManifestEntry,
    ManifestWriter,
    version,
)
from elearning_core.shared.storage_migration._plan import Action, Plan, Planned

A = TypeVar("A")
B = TypeVar("B")

MAX_ATTEMPTS = 2
"""A copy whose read-back differs is made once more; a second difference ends the run."""
MAX_JOBS = 32


class VerificationFailed(StorageError):
    """An object read back from the target differed from the source twice in a row."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key!r} differs in the store after {MAX_ATTEMPTS} copies ({detail})")
        self.key = key


class Outcome(StrEnum):
    COPIED = "copied"
    VERIFIED = "already in the store, verified now"
    SKIPPED = "verified by an earlier run"
    VANISHED = "gone from the source meanwhile"


@dataclass(frozen=True, slots=True)
class Digest:
    size: int
    sha256: str

    def differs(self, other: Digest) -> str:
        """Why ``other`` (the stored bytes) is not these (the source's), for a message."""
        if other.size != self.size:
            return f"{other.size} bytes in the store, {self.size} in the source"
        return f"SHA-256 {other.sha256[:16]}… in the store, {self.sha256[:16]}… in the source"


class Observer(Protocol):
    """What a run tells its caller as it goes (the CLI draws its progress bar and prints the mismatches)."""

    def advanced(self, size: int) -> None:
        """``size`` more bytes of the work are done (copied, or compared in place)."""

    def grew(self, size: int) -> None:
        """The work grew by ``size`` bytes: an object compared in place, or a copy, must be copied again."""

    def finished(self, item: Planned, outcome: Outcome) -> None: ...

    def mismatch(self, key: str, detail: str) -> None:
        """The store's bytes of ``key`` are not the source's; it is being copied again."""


class Quiet(Observer):
    def advanced(self, size: int) -> None:
        pass

    def grew(self, size: int) -> None:
        pass

    def finished(self, item: Planned, outcome: Outcome) -> None:
        pass

    def mismatch(self, key: str, detail: str) -> None:
        pass


@dataclass(slots=True)
class MigrationReport:
    objects: Counter[Outcome] = field(default_factory=Counter)
    bytes: Counter[Outcome] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    """Keys whose stored bytes differed from the source (each copied again, and verified)."""
    seconds: float = 0.0

    def add(self, item: Planned, outcome: Outcome) -> None:
        self.objects[outcome] += 1
        self.bytes[outcome] += item.size


class _SourceGone(Exception):
    pass


async def _each(items: Iterable[Planned], jobs: int, work: Callable[[Planned], Awaitable[None]]) -> None:
    """``work`` on every item, ``jobs`` at a time; the first failure cancels the rest and is raised as is."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:  # one iterator shared by the workers: each item is taken once
            await work(item)

    tasks = [asyncio.create_task(worker()) for _ in range(jobs)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both at once; when one fails the other is cancelled (not left running) and the failure raised."""
    one, two = asyncio.ensure_future(first), asyncio.ensure_future(second)
    try:
        return await one, await two
    finally:
        for task in (one, two):
            task.cancel()
        await asyncio.gather(one, two, return_exceptions=True)


class StoreMigration:
    """Copies a plan's objects from ``source`` to ``target``: see the package's docstring for the rules."""

    def __init__(
        self,
        source: ObjectStore,
        target: ObjectStore,
        *,
        jobs: int = 4,
        observer: Observer | None = None,
        flush_every: int = FLUSH_EVERY,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        if not 1 <= jobs <= MAX_JOBS:
            raise ValueError(f"jobs must be within 1..{MAX_JOBS}, got {jobs}")
        self._source, self._target, self._jobs = source, target, jobs
        self._observer = observer or Quiet()
        self._manifest = ManifestWriter(target, new_uuid().hex, every=flush_every, seconds=flush_seconds)
        self._report = MigrationReport()

    async def run(self, plan: Plan) -> MigrationReport:
        """Do the plan. Whatever stops it (a failure, Ctrl-C), what was verified so far is written to the
        manifest first, so the next run skips it; a kill loses at most the last unwritten segment's objects,
        which the next run compares in place instead of copying."""
        started = time.monotonic()
        try:
            await _each(plan.items, self._jobs, self._one)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._manifest.flush()
            raise
        await self._manifest.flush()
        if self._manifest.recorded and len(plan.segments) + len(self._manifest.segments) > 1:
            await self._manifest.compact(self._merged(plan), plan.segments)
        self._report.seconds = time.monotonic() - started
        return self._report

    def _merged(self, plan: Plan) -> dict[str, ManifestEntry]:
        """The manifest after this run, without the objects that left the source under the plan's prefix."""
        present = {item.key for item in plan.items}
        merged = {
            key: entry for key, entry in plan.manifest.items() if key in present or not key.startswith(plan.prefix)
        }
        merged.update(self._manifest.recorded)
        return merged

    async def _one(self, item: Planned) -> None:
        try:
            outcome = await self._settle(item)
        except _SourceGone:
            outcome = Outcome.VANISHED
        self._report.add(item, outcome)
        self._observer.finished(item, outcome)
        await self._manifest.flush_if_due()

    async def _settle(self, item: Planned) -> Outcome:
        if item.action is Action.SKIP:
            return Outcome.SKIPPED
        if item.action is Action.CHECK:
            assert item.target is not None
            here, there = await _both(self._digest(self._source, item.key, True), self._stored(item.key))
            if here == there:
                self._record(item, here, version(item.target))
                self._observer.advanced(item.size)
                return Outcome.VERIFIED
            self._mismatch(item.key, here.differs(there) if there else "gone from the store")
            self._observer.grew(item.size)
            self._observer.advanced(item.size)  # the comparison is done; the copy counts anew
        await self._copy(item)
        return Outcome.COPIED

    async def _copy(self, item: Planned) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            sent = await self._send(item.key)
            stored = await self._target.stat(item.key)
            back = await self._stored(item.key)
            if back == sent and stored is not None:
                self._record(item, sent, version(stored))
                return
            detail = sent.differs(back) if back else "gone from the store right after the copy"
            if attempt == MAX_ATTEMPTS:
                raise VerificationFailed(item.key, detail)
            self._mismatch(item.key, detail)
            self._observer.grew(item.size)

    def _mismatch(self, key: str, detail: str) -> None:
        self._report.mismatches.append(key)
        self._observer.mismatch(key, detail)

    def _record(self, item: Planned, digest: Digest, stored: str) -> None:
        self._manifest.add(ManifestEntry(item.key, digest.size, digest.sha256, version(item.source), stored))

    async def _send(self, key: str) -> Digest:
        """Stream the source object into the target, hashing it on the way (progress per chunk)."""
        sha = hashlib.sha256()
        size = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal size
            try:
                async for chunk in self._source.read(key):
                    sha.update(chunk)
                    size += len(chunk)
                    self._observer.advanced(len(chunk))
                    yield chunk
            except ObjectNotFound:
                raise _SourceGone(key) from None

        await self._target.put(key, chunks())
        return Digest(size, sha.hexdigest())

    async def _stored(self, key: str) -> Digest | None:
        """The target's bytes of ``key`` as read back now; None when it has none."""
        try:
            return await self._digest(self._target, key, False)
        except ObjectNotFound:
            return None

    async def _digest(self, store: ObjectStore, key: str, is_source: bool) -> Digest:
        sha = hashlib.sha256()
        size = 0
        try:
            async for chunk in store.read(key):
                sha.update(chunk)
                size += len(chunk)
        except ObjectNotFound:
            if is_source:
                raise _SourceGone(key) from None
            raise
        return Digest(size, sha.hexdigest())
