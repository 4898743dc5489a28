"""The dashboards' cells: day and month series filled over the window, and the suppression rules each
kind of cell follows (``privacy`` does the counting; this decides what counts what).

Private part of ``elearning_core.analytics.dashboard``. The rules, cell by cell, are on the module page
(docs/modules/analytics.md, "Dashboards"):

- a series of learner counts published with its total (``counted``): ``suppress_series``;
- a series of figures that are not learner counts but belong to learners counted elsewhere (time spent
  per day, posts per day, revenue per month): hidden where the learner count of the same cell is hidden,
  total included (``masked``), so it tells nothing the learner counts do not;
- a nested series (the funnel's stages, a video's viewers still watching at each tenth): ``nested``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from elearning_core.analytics.aggregates import PeriodCount
from elearning_core.analytics.privacy import SuppressedSeries, suppress_series


@dataclass(frozen=True, slots=True)
class Counted:
    """A series of learner counts after suppression: its cells, its total, and which positions are hidden
    (``len(cells)`` stands for the total)."""

    cells: list[int | None]
    total: int | None
    hidden: frozenset[int]
    true_total: int


def counted(values: Sequence[int], k: int) -> Counted:
    result: SuppressedSeries = suppress_series(list(values), k)
    return Counted(result.cells, result.total, result.primary | result.complementary, sum(values))


def masked(values: Sequence[float], by: Counted) -> tuple[list[float | None], float | None]:
    """``values`` (one per cell of ``by``) hidden where ``by`` hides its learner count; the total likewise."""
    cells = [None if i in by.hidden else value for i, value in enumerate(values)]
    total = None if len(values) in by.hidden else float(sum(values))
    return cells, total


def small(count: int, k: int) -> bool:
    return 0 < count < k


def shown(count: int, k: int) -> int | None:
    """One count published alone (no total beside it): hidden when it counts 1 to k-1 learners."""
    return None if small(count, k) else count


def nested(counts: Sequence[int], k: int) -> list[int | None]:
    """Counts of learners who reached stage ``i`` or beyond (read as non-increasing: a stage is capped by
    the one before it). The learners who stopped at each stage are the cells (the differences of
    consecutive stages) with the first stage as their total; they are suppressed as a series, and a stage
    is published when it is not small itself and follows from the published cells (the sum of the cells
    from it on, or the total less the cells before it), so two shown stages never give a hidden cell away
    by subtraction."""
    capped: list[int] = []
    for count in counts:
        capped.append(min(count, capped[-1]) if capped else count)
    n = len(capped)
    if n == 0:
        return []
    stopped = [capped[i] - (capped[i + 1] if i + 1 < n else 0) for i in range(n)]
    series = suppress_series(stopped, k)
    result: list[int | None] = []
    for i, count in enumerate(capped):
        tail = all(series.cells[j] is not None for j in range(i, n))
        head = series.total is not None and all(series.cells[j] is not None for j in range(i))
        result.append(count if (tail or head) and not small(count, k) else None)
    return result


def days_of(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def months_of(since: date, until: date) -> list[date]:
    months, month = [], since.replace(day=1)
    while month <= until:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def filled(periods: Iterable[PeriodCount], starts: Sequence[date]) -> list[int]:
    """One value per period start of the window, 0 where the aggregates have none (no activity)."""
    by_start: dict[date, int] = {}
    for period in periods:
        by_start[period.start] = by_start.get(period.start, 0) + period.value
    return [by_start.get(start, 0) for start in starts]


def latest(periods: Iterable[PeriodCount], since: date, until: date) -> int:
    """The value of the latest period starting in the window (0 when none)."""
    inside = [p for p in periods if since <= p.start <= until]
    return max(inside, key=lambda p: p.start).value if inside else 0
