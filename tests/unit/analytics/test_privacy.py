"""Small-cell suppression: cells under k hidden, and complementary cells hidden until no hidden value follows
from the published cells and totals (checked by exact linear algebra, independently of the bridge search)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.analytics.privacy import suppress_series, suppress_table
from elearning_core.shared.errors import ValidationFailed


def _determined(equations: list[dict[object, int]], unknown: object) -> bool:
    """Whether ``unknown`` has one value in every solution of ``equations`` (each a map unknown -> coefficient,
    summing to a known constant): true iff its unit vector lies in the row space of the coefficient matrix.
    Exact Gaussian elimination over the rationals."""
    names = sorted({name for eq in equations for name in eq}, key=repr)
    if unknown not in names:
        return False
    index = {name: i for i, name in enumerate(names)}
    rows = [[Fraction(0)] * len(names) for _ in equations]
    for row, eq in zip(rows, equations, strict=True):
        for name, coefficient in eq.items():
            row[index[name]] = Fraction(coefficient)

    def rank(matrix: list[list[Fraction]]) -> int:
        m = [list(r) for r in matrix]
        found = 0
        for column in range(len(names)):
            pivot = next((i for i in range(found, len(m)) if m[i][column] != 0), None)
            if pivot is None:
                continue
            m[found], m[pivot] = m[pivot], m[found]
            for i in range(len(m)):
                if i != found and m[i][column] != 0:
                    factor = m[i][column] / m[found][column]
                    m[i] = [a - factor * b for a, b in zip(m[i], m[found], strict=True)]
            found += 1
        return found

    unit = [Fraction(int(name == unknown)) for name in names]
    return rank(rows) == rank([*rows, unit])


def _table_equations(hidden: set[tuple[int, int]], rows: int, columns: int) -> list[dict[object, int]]:
    """What the published table says about its hidden cells: each row of the table with its margins sums to
    its row total, each column to its column total (the margins are row ``rows`` and column ``columns``)."""
    lines = [([(r, c) for c in range(columns)], (r, columns)) for r in range(rows + 1)]
    lines += [([(r, c) for r in range(rows)], (rows, c)) for c in range(columns + 1)]
    equations: list[dict[object, int]] = []
    for cells, margin in lines:
        eq: dict[object, int] = {cell: 1 for cell in cells if cell in hidden}
        if margin in hidden:
            eq[margin] = -1
        if eq:
            equations.append(eq)
    return equations


tables = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 5).flatmap(
        lambda columns: st.lists(
            st.lists(st.integers(0, 14), min_size=columns, max_size=columns), min_size=rows, max_size=rows
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(tables, st.integers(2, 8))
def test_no_hidden_table_value_can_be_recomputed_from_what_is_published(counts: list[list[int]], k: int) -> None:
    result = suppress_table(counts, k)
    rows, columns = len(counts), len(counts[0])
    grid = [[*row, sum(row)] for row in counts]
    grid.append([sum(grid[r][c] for r in range(rows)) for c in range(columns + 1)])
    published = [[*cells, total] for cells, total in zip(result.cells, result.row_totals, strict=True)]
    published.append([*result.column_totals, result.total])
    hidden = {(r, c) for r in range(rows + 1) for c in range(columns + 1) if published[r][c] is None}

    for r in range(rows + 1):
        for c in range(columns + 1):
            if 0 < grid[r][c] < k:
                assert published[r][c] is None, (r, c)  # every small cell, margins included, is hidden
            elif published[r][c] is not None:
                assert published[r][c] == grid[r][c]  # what is shown is true
    assert hidden == result.primary | result.complementary
    equations = _table_equations(hidden, rows, columns)
    assert not [cell for cell in hidden if _determined(equations, cell)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 14), min_size=1, max_size=8), st.integers(2, 8))
def test_no_hidden_series_value_can_be_recomputed_from_the_total(counts: list[int], k: int) -> None:
    result = suppress_series(counts, k)
    entries = [*result.cells, result.total]
    hidden = [i for i, value in enumerate(entries) if value is None]
    truth = [*counts, sum(counts)]
    assert all(entries[i] == truth[i] for i in range(len(entries)) if entries[i] is not None)
    assert all(entries[i] is None for i, count in enumerate(truth) if 0 < count < k)
    # One equation (the cells sum to the total): a value is recovered only when it is the one unknown.
    assert len(hidden) != 1
    equation: dict[object, int] = {i: (1 if i < len(counts) else -1) for i in hidden}
    assert not [i for i in hidden if _determined([equation], i)]


def test_a_single_small_cell_takes_a_non_zero_partner_in_its_row_and_column() -> None:
    result = suppress_table([[10, 2, 8], [7, 9, 12], [20, 30, 40]], k=5)
    assert result.primary == {(0, 1)}
    assert result.cells[0][1] is None
    assert (result.row_totals, result.column_totals, result.total) == ([20, 28, 90], [37, 41, 60], 138)
    hidden = result.primary | result.complementary
    assert all(sum(1 for cell in hidden if cell[0] == r) != 1 for r in range(4))
    assert all(sum(1 for cell in hidden if cell[1] == c) != 1 for c in range(4))
    grid = [[10, 2, 8, 20], [7, 9, 12, 28], [20, 30, 40, 90], [37, 41, 60, 138]]
    assert result.complementary
    assert all(grid[r][c] > 0 for r, c in result.complementary)


def test_zeros_and_large_counts_are_shown_and_nothing_is_hidden_without_need() -> None:
    result = suppress_table([[0, 12], [7, 0]], k=5)
    assert result.cells == [[0, 12], [7, 0]]
    assert (result.row_totals, result.column_totals, result.total) == ([12, 7], [7, 12], 19)
    assert not result.primary
    assert not result.complementary


def test_a_series_hides_the_smallest_non_zero_partner_not_a_zero() -> None:
    result = suppress_series([10, 2, 8, 0], k=5)
    assert result.cells == [10, None, None, 0]
    assert result.total == 20
    assert (result.primary, result.complementary) == ({1}, {2})


def test_a_small_total_is_hidden_too() -> None:
    result = suppress_series([1, 2], k=5)
    assert result.cells == [None, None]
    assert result.total is None


@pytest.mark.parametrize(
    ("counts", "k", "message"),
    [
        ([[1, 2], [3]], 5, "rows of one length"),
        ([], 5, "non-empty table"),
        ([[1, -1]], 5, "counts[0][1]"),
        ([[1, 2]], 0, "k must be"),
    ],
)
def test_bad_input_is_refused_with_its_field(counts: list[list[int]], k: int, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message.replace("[", r"\[").replace("]", r"\]")):
        suppress_table(counts, k)
