"""Small-cell suppression for staff and admin reports (issue 18, point 5).

A report cell that counts fewer than ``k`` learners (and more than none) is hidden (``None``): the
*primary* suppression. Totals are published cells too, so a row total, a column total or the grand total
under ``k`` is hidden the same way.

Hiding one cell is not enough when totals are published: a row with a single hidden cell gives it away by
subtraction. So *complementary* cells are hidden until no hidden value is determined by the published
cells and totals. Precisely, what is implemented:

- **A table** (``suppress_table``: rows x columns of counts, published with its row totals, column totals
  and grand total): the margins are treated as one more row and column, so every published relation is
  "a line (row or column, the margins' included) sums to its total". The unknowns are the hidden cells;
  a hidden cell is determined by those linear equations exactly when it is a *bridge* of the bipartite
  graph whose vertices are the lines and whose edges are the hidden cells (a cell lies on a cycle of
  hidden cells iff an alternating +d/-d change along the cycle keeps every published total: another
  solution in which it differs). So the complement is chosen until no hidden cell is a bridge: for a
  bridge (r, c), a further cell joining the two sides it separates (a row on r's side, a column on c's
  side) is hidden, closing a cycle through it; when the sides have no such free cell, the cheapest
  rectangle through (r, c). Candidates are chosen cheapest first: a non-zero cell before a zero (a hidden
  zero beside one small count pins it: their sum is then the count), an inner cell before a total, the
  smallest count, then the first position.
- **A series** (``suppress_series``: counts with their published total): the one equation is "the cells
  sum to the total", so a single hidden entry is recovered; a second one is hidden then (the smallest
  non-zero cell, else a zero, else the total).

Not covered: reasoning with bounds. Someone who knows that a hidden cell is between 1 and k-1 and that a
complementary one is 0 or at least k can sometimes narrow a value down (hidden 1 and 5 summing to 6 with
k = 5); guaranteeing protection intervals needs the linear-programming methods of statistical disclosure
control (tau-argus), which this does not attempt. Nor are cells shared between several reports linked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from elearning_core.shared.errors import FieldError, ValidationFailed

DEFAULT_K = 5
K_MAX = 1000

Cell = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SuppressedTable:
    cells: list[list[int | None]]
    row_totals: list[int | None]
    column_totals: list[int | None]
    total: int | None
    primary: frozenset[Cell]
    """Positions hidden for counting fewer than k; in the table with its margins (row ``len(cells)`` is the
    column totals, column ``len(cells[0])`` the row totals)."""
    complementary: frozenset[Cell]
    """Positions hidden so that the primary ones cannot be recomputed (same coordinates)."""


@dataclass(frozen=True, slots=True)
class SuppressedSeries:
    cells: list[int | None]
    total: int | None
    primary: frozenset[int]
    """Indexes hidden for counting fewer than k (``len(cells)``: the total)."""
    complementary: frozenset[int]


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= K_MAX:
        raise ValidationFailed(f"k must be 1 to {K_MAX}", [FieldError("k", f"must be 1 to {K_MAX}")])
    return k


def _small(count: int, k: int) -> bool:
    return 0 < count < k


def _check_counts(counts: Sequence[int], name: str) -> None:
    for index, count in enumerate(counts):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationFailed(
                f"{name}[{index}] must be a count (an integer >= 0)", [FieldError(f"{name}[{index}]", "not a count")]
            )


def suppress_series(counts: Sequence[int], k: int = DEFAULT_K) -> SuppressedSeries:
    """``counts`` and their total, with cells under ``k`` hidden and a second entry hidden where one alone
    would be recovered by subtracting the others from the total."""
    check_k(k)
    _check_counts(counts, "counts")
    entries = [*counts, sum(counts)]
    primary = {i for i, count in enumerate(entries) if _small(count, k)}
    hidden = set(primary)
    complementary: set[int] = set()
    if len(hidden) == 1 and len(entries) > 1:
        total_index = len(entries) - 1
        free = [i for i in range(len(entries)) if i not in hidden]
        extra = min(free, key=lambda i: (entries[i] == 0, i == total_index, entries[i], i))
        complementary.add(extra)
        hidden.add(extra)
    shown = [None if i in hidden else count for i, count in enumerate(entries)]
    return SuppressedSeries(shown[:-1], shown[-1], frozenset(primary), frozenset(complementary))


def suppress_table(counts: Sequence[Sequence[int]], k: int = DEFAULT_K) -> SuppressedTable:
    """The table and its margins with cells under ``k`` hidden, and complementary cells hidden until no hidden
    value is determined by the published cells and totals (see the module docstring)."""
    check_k(k)
    rows = len(counts)
    columns = len(counts[0]) if rows else 0
    if rows == 0 or columns == 0 or any(len(row) != columns for row in counts):
        raise ValidationFailed(
            "counts must be a non-empty table with rows of one length",
            [FieldError("counts", "not a rectangular table")],
        )
    for r, row in enumerate(counts):
        _check_counts(row, f"counts[{r}]")
    grid = [[*row, sum(row)] for row in counts]
    grid.append([sum(grid[r][c] for r in range(rows)) for c in range(columns + 1)])
    primary = {(r, c) for r in range(rows + 1) for c in range(columns + 1) if _small(grid[r][c], k)}
    hidden = set(primary)
    while (bridge := _a_bridge(hidden)) is not None:
        hidden |= _closing(grid, hidden, bridge, rows, columns)
    shown: list[list[int | None]] = [
        [None if (r, c) in hidden else grid[r][c] for c in range(columns + 1)] for r in range(rows + 1)
    ]
    return SuppressedTable(
        cells=[row[:columns] for row in shown[:rows]],
        row_totals=[row[columns] for row in shown[:rows]],
        column_totals=shown[rows][:columns],
        total=shown[rows][columns],
        primary=frozenset(primary),
        complementary=frozenset(hidden - primary),
    )


def _cost(grid: list[list[int]], cell: Cell, rows: int, columns: int) -> tuple[bool, bool, int, Cell]:
    r, c = cell
    count = grid[r][c]
    return (count == 0, r == rows or c == columns, count, cell)


def _closing(grid: list[list[int]], hidden: set[Cell], bridge: Cell, rows: int, columns: int) -> set[Cell]:
    """The cells to hide so that ``bridge`` lies on a cycle of hidden cells."""
    r, c = bridge
    rest = hidden - {bridge}
    row_side = _component(rest, ("r", r))
    column_side = _component(rest, ("c", c))
    candidates = [
        (row, column)
        for kind, row in row_side
        if kind == "r"
        for other, column in column_side
        if other == "c" and (row, column) not in hidden
    ]
    if candidates:
        return {min(candidates, key=lambda cell: _cost(grid, cell, rows, columns))}
    rectangles = [
        {(r, c2), (r2, c), (r2, c2)} - hidden
        for r2 in range(rows + 1)
        if r2 != r
        for c2 in range(columns + 1)
        if c2 != c
    ]
    return min(rectangles, key=lambda cells: (len(cells), sorted(_cost(grid, cell, rows, columns) for cell in cells)))


Node = tuple[str, int]


def _edges(cells: set[Cell]) -> dict[Node, list[Node]]:
    adjacent: dict[Node, list[Node]] = {}
    for r, c in sorted(cells):
        adjacent.setdefault(("r", r), []).append(("c", c))
        adjacent.setdefault(("c", c), []).append(("r", r))
    return adjacent


def _component(cells: set[Cell], start: Node) -> set[Node]:
    adjacent = _edges(cells)
    seen, todo = {start}, [start]
    while todo:
        for nxt in adjacent.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _a_bridge(cells: set[Cell]) -> Cell | None:
    """A hidden cell that is a bridge of the line graph (on no cycle of hidden cells), the first in order;
    None when there is none. Tarjan's low-link, iterative (a table may have thousands of hidden cells)."""
    adjacent = _edges(cells)
    order: dict[Node, int] = {}
    low: dict[Node, int] = {}
    bridges: list[Cell] = []
    for root in sorted(adjacent):
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack: list[tuple[Node, Node | None, int]] = [(root, None, 0)]
        while stack:
            node, parent, index = stack.pop()
            neighbours = adjacent[node]
            if index < len(neighbours):
                stack.append((node, parent, index + 1))
                nxt = neighbours[index]
                if nxt == parent:
                    continue  # the tree edge back (the graph is simple: no parallel edges)
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, node, 0))
                continue
            if parent is not None:
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    bridges.append(_cell_of(parent, node))
    return min(bridges) if bridges else None


def _cell_of(a: Node, b: Node) -> Cell:
    row, column = (a, b) if a[0] == "r" else (b, a)
    return (row[1], column[1])
