"""The rebuild bar: ``rebuild()``'s progress reaches a rich bar on stderr, never stdout."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from elearning_cli._common import rebuild_progress
from elearning_core.shared.rebuild import FactSource, rebuild


class Numbers(FactSource[int, int]):
    def __init__(self, count: int) -> None:
        self.count_ = count

    async def count(self) -> int:
        return self.count_

    async def last_key(self) -> int | None:
        return self.count_ - 1 if self.count_ else None

    async def chunk(self, after: int | None, upto: int, limit: int) -> Sequence[tuple[int, int]]:
        start = 0 if after is None else after + 1
        return [(k, k) for k in range(start, min(upto + 1, start + limit))]


async def test_a_rebuild_fills_the_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    applied: list[int] = []

    async def apply(chunk: Sequence[int]) -> None:
        applied.extend(chunk)

    with rebuild_progress("Rebuilding numbers") as progress:
        report = await rebuild(Numbers(25), apply, chunk_size=10, progress=progress)
    out, err = capsys.readouterr()
    assert report.facts == 25
    assert applied == list(range(25))
    assert out == ""
    assert "Rebuilding numbers" in err
    assert "25/25" in err
