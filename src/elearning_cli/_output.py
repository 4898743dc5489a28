"""How every list command prints its rows: a table for people, JSON or CSV for scripts.

A command declares its columns once, as ``Field``s, and hands its rows to
``render`` with the format of its ``--output``/``-o`` option (``FormatOption``).
Nothing else differs between commands, so every list behaves the same way:

- ``json``: one JSON array of objects, keys in the order of the fields, ids as
  strings, datetimes in ISO 8601 (UTC), absent values ``null``; pretty-printed.
- ``csv``: RFC 4180 (``\\r\\n`` line ends, quoting only where needed), a header row
  of the same keys, then one row per item; lists joined with ``"; "``, absent
  values empty, booleans ``true``/``false``, text that a spreadsheet would run as
  a formula prefixed with an apostrophe (as the gradebook export does), except
  identifiers made only of letters, digits, ``-`` and ``_`` (a key id may start with ``-``).
- ``table``: a rich table of the fields that have a ``header``. Columns marked
  ``whole`` (ids, slugs, emails, keys, roles) are never cut or wrapped: they get
  the width of their longest cell and the other columns wrap around them; when
  even that does not fit the terminal, the table is printed wider than the
  terminal rather than cutting an id.

Only the rows go to stdout; titles of empty results, "more match" notes and
progress go to stderr, so ``-o json | jq`` always reads a complete document.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum, StrEnum
from typing import Annotated, Any, Generic, TypeVar

import typer
from rich.cells import cell_len
from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from elearning_cli._common import format_time, info, report_error, stdout_console
from elearning_core.shared.spreadsheet import spreadsheet_text

T = TypeVar("T")

LIST_SEPARATOR = "; "
"""Joins the items of a list value in a CSV cell."""
LONGEST_WORD = 12
"""A wrapping column is not squeezed below its longest word, up to this many characters (then it folds)."""


_INERT = re.compile(r"[A-Za-z0-9_-]+")
"""Identifiers of this alphabet (UUIDs, slugs, key ids) hold no formula a spreadsheet could run."""


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FORMATS = ", ".join(f.value for f in OutputFormat)


def parse_output(value: str) -> OutputFormat:
    """The ``--output`` value as a format, or one line on stderr and exit 2 (before any work is done).

    A plain string option with this callback, rather than an Enum option: Click's own message for a bad
    choice is a five-line usage box, and a script's log wants one line.
    """
    try:
        return OutputFormat(value.strip().lower())
    except ValueError:
        report_error(f"unknown output format {value!r}: use one of {FORMATS}")
        raise typer.Exit(2) from None


FormatOption = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        metavar="table|json|csv",
        callback=parse_output,
        help="table (for people), json (an array of objects; one object for a status) or csv (a header row, then a row per item).",
    ),
]
"""The ``--output``/``-o`` option every list command takes; its value is an ``OutputFormat``."""


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """One column of a listing.

    ``key`` names it in JSON and CSV (None: only in the table); ``header`` names it in the table (None:
    only in JSON and CSV). ``value`` is the raw value (UUID, datetime, enum, number, bool, text, list,
    None), converted per format; ``cell`` overrides how the table shows it, ``style`` colours it.
    """

    key: str | None
    value: Callable[[T], Any]
    header: str | None = None
    whole: bool = False
    cell: Callable[[T], str] | None = None
    style: Callable[[T], str] | None = None
    justify: JustifyMethod = "left"


def render(
    rows: Sequence[T], fields: Sequence[Field[T]], output: str, *, title: str, empty: str = "Nothing to list."
) -> None:
    """Print ``rows`` in the ``output`` format (see the module docstring); ``empty`` goes to stderr
    when a table would have no rows (JSON prints ``[]``, CSV its header)."""
    form = OutputFormat(output)
    if form is OutputFormat.JSON:
        typer.echo(json.dumps(rows_as_json(rows, fields), indent=2, ensure_ascii=False))
    elif form is OutputFormat.CSV:
        typer.echo(rows_as_csv(rows, fields), nl=False)
    elif not rows:
        info(empty)
    else:
        print_table(rows, fields, title)


# -- json and csv ---------------------------------------------------------------------


def rows_as_json(rows: Sequence[T], fields: Sequence[Field[T]]) -> list[dict[str, Any]]:
    keyed = [f for f in fields if f.key is not None]
    return [{f.key: json_value(f.value(row)) for f in keyed if f.key is not None} for row in rows]


def json_value(value: Any) -> Any:
    """A value as JSON: ids as strings, datetimes ISO 8601 in UTC (naive ones are UTC), enums by value."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def rows_as_csv(rows: Sequence[T], fields: Sequence[Field[T]]) -> str:
    keyed = [f for f in fields if f.key is not None]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends, whatever the platform
    writer.writerow([f.key for f in keyed])
    for row in rows:
        writer.writerow([csv_value(f.value(row), identifier=f.whole) for f in keyed])
    return out.getvalue()


def csv_value(value: Any, *, identifier: bool = False) -> str:
    """A value as one CSV cell; text cells are made safe to open in a spreadsheet, except an
    ``identifier`` (a ``whole`` field) made only of letters, digits, ``-`` and ``_``: such a cell cannot
    call anything, and a key id that starts with ``-`` must reach a script as it is."""
    plain = json_value(value)
    if plain is None:
        return ""
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, int | float):
        return str(plain)
    if isinstance(plain, list):
        text = LIST_SEPARATOR.join(_csv_item(v) for v in plain)
    elif isinstance(plain, dict):
        text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(plain)
    return text if identifier and _INERT.fullmatch(text) else spreadsheet_text(text)


def _csv_item(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


# -- table ----------------------------------------------------------------------------


def display(value: Any) -> str:
    """How the table shows a raw value: ``-`` for nothing, yes/no, times to the second in UTC."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return display(value.value)
    if isinstance(value, datetime):
        return format_time(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    if isinstance(value, list | tuple | set | frozenset):
        return "\n".join(display(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return json.dumps(json_value(value), ensure_ascii=False)
    return str(value)


def _cell(field: Field[T], row: T) -> Text:
    text = field.cell(row) if field.cell is not None else display(field.value(row))
    return Text(text, style=field.style(row) if field.style is not None else "")


def _narrowest(field: Field[Any], cells: list[Text]) -> int:
    """The least width of a column: its longest line for ``whole`` ones, else its longest word (up to
    ``LONGEST_WORD``)."""
    lines = [field.header or "", *(line for cell in cells for line in cell.plain.splitlines())]
    if field.whole:
        return max(cell_len(line) for line in lines)
    return max(1, min(LONGEST_WORD, max((cell_len(word) for line in lines for word in line.split()), default=1)))


def build_table(rows: Sequence[T], fields: Sequence[Field[T]], title: str) -> tuple[Table, list[int]]:
    """The table, and each column's narrowest width (``_narrowest``)."""
    shown = [f for f in fields if f.header is not None]
    columns = [[_cell(f, row) for row in rows] for f in shown]
    table = Table(title=title, title_justify="left")
    narrowest = []
    for field, cells in zip(shown, columns, strict=True):
        narrowest.append(_narrowest(field, cells))
        if field.whole:
            table.add_column(field.header or "", no_wrap=True, min_width=narrowest[-1], justify=field.justify)
        else:
            table.add_column(field.header or "", overflow="fold", justify=field.justify)
    for index in range(len(rows)):
        table.add_row(*(cells[index] for cells in columns))
    return table, narrowest


def print_table(rows: Sequence[T], fields: Sequence[Field[T]], title: str) -> None:
    table, narrowest = build_table(rows, fields, title)
    needed = sum(narrowest) + 2 * len(narrowest) + len(narrowest) + 1  # + cell padding and vertical rules
    console = stdout_console()
    if console.width < needed:
        # Wider than the terminal rather than an id cut in two, every other column at its narrowest.
        for column, width in zip(table.columns, narrowest, strict=True):
            if not column.no_wrap:
                column.width = width
        console.width = needed
    console.print(table)


# -- one record (a status) ------------------------------------------------------------


def render_record(row: T, fields: Sequence[Field[T]], output: str, *, title: str) -> None:
    """A status (one record, not a list) in the ``output`` format: JSON is one object rather than an
    array, CSV a header and one row, the table one line per field (``header``, value)."""
    form = OutputFormat(output)
    if form is OutputFormat.JSON:
        typer.echo(json.dumps(rows_as_json([row], fields)[0], indent=2, ensure_ascii=False))
    elif form is OutputFormat.CSV:
        typer.echo(rows_as_csv([row], fields), nl=False)
    else:
        shown = [f for f in fields if f.header is not None]
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for field in shown:
            table.add_row(field.header or "", _cell(field, row))
        labels = max((cell_len(f.header or "") for f in shown), default=0)
        whole = [cell_len(line) for f in shown if f.whole for line in _cell(f, row).plain.splitlines()]
        console = stdout_console()
        needed = labels + max(whole, default=0) + 7  # 2 x padding and 3 rules
        if console.width < needed:
            console.width = needed
        console.print(table)
