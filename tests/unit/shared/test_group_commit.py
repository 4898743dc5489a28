"""Group commit: concurrent submissions share a write, each caller is answered after its own group, one bad
item fails only its caller, and nobody waits forever when the writer is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from elearning_core.shared.group_commit import GroupCommit, latest_per_key


class Recorder:
    def __init__(self, pause: float = 0.0, refuse: str | None = None) -> None:
        self.writes: list[list[str]] = []
        self.committed: list[str] = []
        self._pause, self._refuse = pause, refuse

    async def __call__(self, items: Sequence[str]) -> None:
        self.writes.append(list(items))
        await asyncio.sleep(self._pause)
        if self._refuse in items:
            raise ValueError(f"{self._refuse} breaks a constraint")
        self.committed.extend(items)


async def test_a_lone_item_is_written_at_once_and_alone() -> None:
    write = Recorder()
    await GroupCommit(write, linger=1.0).submit("a")  # the linger applies only under load
    assert write.writes == [["a"]]


async def test_items_arriving_during_a_write_are_written_together_after_it() -> None:
    write = Recorder(pause=0.01)
    commit = GroupCommit(write)
    first = asyncio.create_task(commit.submit("a"))
    await asyncio.sleep(0.002)  # "a" is being written
    await asyncio.gather(first, *(commit.submit(x) for x in "bcde"))
    assert write.writes == [["a"], ["b", "c", "d", "e"]]
    assert commit.groups == 2


async def test_a_caller_returns_only_once_its_group_is_committed() -> None:
    write = Recorder(pause=0.01)
    commit = GroupCommit(write)
    await asyncio.gather(commit.submit("a"), commit.submit("b"))
    assert write.committed == ["a", "b"]
    done = asyncio.create_task(commit.submit("c"))
    await asyncio.sleep(0.002)
    assert not done.done()
    assert "c" not in write.committed
    await done
    assert write.committed[-1] == "c"


async def test_one_bad_item_fails_its_own_caller_and_the_rest_of_its_group_commits() -> None:
    write = Recorder(refuse="bad")
    commit = GroupCommit(write)
    results = await asyncio.gather(*(commit.submit(x) for x in ["a", "bad", "c"]), return_exceptions=True)
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], ValueError)
    assert write.committed == ["a", "c"]
    # the group failed as a whole, then each item was written alone
    assert write.writes == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


async def test_a_lone_bad_item_is_tried_once() -> None:
    write = Recorder(refuse="bad")
    with pytest.raises(ValueError, match="constraint"):
        await GroupCommit(write).submit("bad")
    assert write.writes == [["bad"]]


async def test_under_load_a_group_lingers_to_collect_more() -> None:
    write = Recorder(pause=0.005)
    commit = GroupCommit(write, linger=0.05)

    async def arriving(item: str, after: float) -> None:
        await asyncio.sleep(after)
        await commit.submit(item)

    # "b" arrives while "a" is written (load): its group waits up to 50 ms, and "c" and "d" join it.
    await asyncio.gather(arriving("a", 0), arriving("b", 0.001), arriving("c", 0.02), arriving("d", 0.03))
    assert write.writes == [["a"], ["b", "c", "d"]]


async def test_groups_are_bounded() -> None:
    write = Recorder(pause=0.005)
    commit = GroupCommit(write, max_group=2)
    await asyncio.gather(*(commit.submit(x) for x in "abcde"))
    assert [len(w) for w in write.writes] == [2, 2, 1]
    assert write.committed == list("abcde")


async def test_a_cancelled_writer_leaves_no_caller_waiting() -> None:
    started = asyncio.Event()

    async def stuck(items: Sequence[str]) -> None:
        started.set()
        await asyncio.sleep(3600)

    commit = GroupCommit(stuck)
    callers = [asyncio.create_task(commit.submit(x)) for x in "abc"]
    await asyncio.wait_for(started.wait(), 1)
    assert commit._writer is not None
    commit._writer.cancel()
    results = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 1)
    assert all(isinstance(r, RuntimeError) and "interrupted" in str(r) for r in results)


async def test_a_caller_that_goes_away_does_not_take_its_item_with_it() -> None:
    write = Recorder(pause=0.01)
    commit = GroupCommit(write)
    caller = asyncio.create_task(commit.submit("a"))
    await asyncio.sleep(0.002)
    caller.cancel()
    await asyncio.sleep(0.02)
    assert write.committed == ["a"]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_group"):
        GroupCommit(Recorder(), max_group=0)
    with pytest.raises(ValueError, match="linger"):
        GroupCommit(Recorder(), linger=-1)


def test_latest_per_key_keeps_the_latest_moment_and_on_a_tie_the_later_entry() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    later = t0 + timedelta(seconds=1)
    entries = [("ann", later, 1), ("ann", t0, 2), ("bob", t0, 3), ("bob", t0, 4)]
    assert latest_per_key(entries) == {"ann": 1, "bob": 4}


def test_a_writer_stranded_on_a_closed_event_loop_does_not_block_the_next_loop() -> None:
    write = Recorder()
    commit = GroupCommit(write)

    async def strand() -> None:
        blocked = asyncio.Event()

        async def never(items: Sequence[str]) -> None:
            blocked.set()
            await asyncio.Event().wait()

        commit._write = never
        asyncio.get_running_loop().create_task(commit.submit("lost"))
        await blocked.wait()

    first = asyncio.new_event_loop()
    first.run_until_complete(strand())
    first.close()  # the writer task never finished
    commit._write = write
    asyncio.run(asyncio.wait_for(commit.submit("next"), 1))
    assert write.committed == ["next"]
