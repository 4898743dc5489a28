"""Rebuilding a projection from its recorded facts: the one loop every ``elearning <module> rebuild`` runs.

A projection (progress, search, notifications, analytics) keeps derived state
that its event handlers update live. Its rebuild recomputes that state from the
facts it kept (or the source tables): ``reset`` what is derived, then walk the
facts in key order, in chunks, and ``apply`` each chunk. This module is the
walk; the projection supplies the source and what a chunk does.

The walk is bounded three ways: it stops at the last key that existed when it
started (facts recorded meanwhile are the live handlers' business, so a busy
system cannot keep a rebuild running forever), at ``max_chunks`` (a source that
does not advance its key is a bug, not an endless loop), and at ``deadline``
seconds if given. Progress goes to a callback (the CLI draws a bar with it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

K = TypeVar("K")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Progress = Callable[[int, int], None]
"""``progress(done, total)``: facts applied so far, and how many the walk expects."""


class FactSource(Protocol[K, T_co]):
    """Facts in a total order of keys (a keyset: no OFFSET, each chunk starts after the last key seen)."""

    async def count(self) -> int:
        """About how many facts there are (for the progress bar only)."""
        ...

    async def last_key(self) -> K | None:
        """The greatest key now, or None if there are no facts."""
        ...

    async def chunk(self, after: K | None, upto: K, limit: int) -> Sequence[tuple[K, T_co]]:
        """At most ``limit`` facts with ``after < key <= upto`` (all from the start if ``after`` is None), in key order."""
        ...


class RebuildStalled(Exception):
    """The walk stopped before the end: its bound (chunks or deadline) ran out."""


@dataclass(frozen=True, slots=True)
class RebuildReport:
    facts: int
    chunks: int
    seconds: float


async def rebuild(
    source: FactSource[K, T],
    apply: Callable[[Sequence[T]], Awaitable[None]],
    *,
    reset: Callable[[], Awaitable[None]] | None = None,
    chunk_size: int = 1000,
    progress: Progress | None = None,
    max_chunks: int | None = None,
    deadline: float | None = None,
) -> RebuildReport:
    """Reset, then apply every fact up to the last key of the start, ``chunk_size`` at a time.

    ``max_chunks`` defaults to twice the chunks the count promises, plus ten.
    Raises ``RebuildStalled`` past a bound (what was applied stays applied:
    run the rebuild again).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    started = time.monotonic()
    total = await source.count()
    upto = await source.last_key()
    bound = max_chunks if max_chunks is not None else 2 * math.ceil(total / chunk_size) + 10
    if reset is not None:
        await reset()
    done = chunks = 0
    if progress is not None:
        progress(done, total)
    after: K | None = None
    while upto is not None:
        if chunks >= bound:
            raise RebuildStalled(f"stopped after {chunks} chunks ({done} facts): the source did not reach its end")
        if deadline is not None and time.monotonic() - started > deadline:
            raise RebuildStalled(f"stopped after {deadline:g} s ({done} facts applied); run it again")
        rows = await source.chunk(after, upto, chunk_size)
        if not rows:
            break
        await apply([fact for _, fact in rows])
        chunks += 1
        done += len(rows)
        after = rows[-1][0]
        if progress is not None:
            progress(done, max(total, done))
        if len(rows) < chunk_size:
            break
    return RebuildReport(facts=done, chunks=chunks, seconds=time.monotonic() - started)
