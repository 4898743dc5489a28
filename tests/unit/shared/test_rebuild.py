"""The rebuild walk: every fact up to the start's last key, in key order and chunks, with progress, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.shared.rebuild import FactSource, RebuildStalled, rebuild


class ListSource(FactSource[int, str]):
    """Facts keyed by int, kept in a list; ``stuck`` makes every chunk the first one (a source that never advances)."""

    def __init__(self, keys: Sequence[int], *, stuck: bool = False) -> None:
        self.facts = {k: f"fact {k}" for k in keys}
        self.stuck = stuck
        self.chunk_calls = 0

    async def count(self) -> int:
        return len(self.facts)

    async def last_key(self) -> int | None:
        return max(self.facts, default=None)

    async def chunk(self, after: int | None, upto: int, limit: int) -> Sequence[tuple[int, str]]:
        self.chunk_calls += 1
        start = None if self.stuck else after
        keys = sorted(k for k in self.facts if (start is None or k > start) and k <= upto)[:limit]
        return [(k, self.facts[k]) for k in keys]


class Target:
    def __init__(self) -> None:
        self.applied: list[str] = []
        self.chunks: list[int] = []
        self.resets = 0

    async def apply(self, facts: Sequence[str]) -> None:
        self.applied.extend(facts)
        self.chunks.append(len(facts))

    async def reset(self) -> None:
        self.resets += 1
        self.applied.clear()


async def test_every_fact_is_applied_once_in_key_order_in_chunks_with_progress() -> None:
    source = ListSource([5, 1, 9, 3, 7, 2, 8])
    target = Target()
    target.applied.append("stale derived state")
    seen: list[tuple[int, int]] = []
    report = await rebuild(
        source, target.apply, reset=target.reset, chunk_size=3, progress=lambda d, t: seen.append((d, t))
    )
    assert target.resets == 1
    assert target.applied == [f"fact {k}" for k in (1, 2, 3, 5, 7, 8, 9)]
    assert target.chunks == [3, 3, 1]
    assert seen == [(0, 7), (3, 7), (6, 7), (7, 7)]
    assert (report.facts, report.chunks) == (7, 3)


async def test_facts_recorded_during_the_rebuild_are_left_to_the_live_handlers() -> None:
    source = ListSource(range(10))
    target = Target()

    async def apply_and_grow(facts: Sequence[str]) -> None:
        await target.apply(facts)
        source.facts[100 + len(source.facts)] = "recorded meanwhile"

    report = await rebuild(source, apply_and_grow, chunk_size=4)
    assert report.facts == 10
    assert "recorded meanwhile" not in target.applied


async def test_an_empty_source_resets_and_applies_nothing() -> None:
    target = Target()
    target.applied.append("stale")
    report = await rebuild(ListSource([]), target.apply, reset=target.reset)
    assert (report.facts, target.applied, target.resets) == (0, [], 1)


async def test_a_source_that_does_not_advance_is_stopped_by_the_chunk_bound() -> None:
    source = ListSource(range(10), stuck=True)
    with pytest.raises(RebuildStalled, match="did not reach its end"):
        await rebuild(source, Target().apply, chunk_size=2)
    assert source.chunk_calls == 2 * 5 + 10  # the default bound: twice the chunks promised, plus ten


async def test_the_deadline_stops_a_slow_rebuild() -> None:
    async def slow(_facts: Sequence[str]) -> None:
        await asyncio.sleep(0.02)

    with pytest.raises(RebuildStalled, match=r"stopped after 0\.01 s"):
        await rebuild(ListSource(range(100)), slow, chunk_size=1, deadline=0.01)


async def test_a_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        await rebuild(ListSource([1]), Target().apply, chunk_size=0)


@settings(max_examples=60, deadline=None)
@given(keys=st.sets(st.integers(-1000, 1000), max_size=60), chunk_size=st.integers(1, 25))
def test_the_walk_applies_exactly_the_sorted_facts_whatever_the_chunk_size(keys: set[int], chunk_size: int) -> None:
    target = Target()
    report = asyncio.run(rebuild(ListSource(sorted(keys)), target.apply, chunk_size=chunk_size))
    assert target.applied == [f"fact {k}" for k in sorted(keys)]
    assert all(0 < n <= chunk_size for n in target.chunks)
    assert report.facts == len(keys)
