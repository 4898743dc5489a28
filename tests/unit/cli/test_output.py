"""The CLI's one renderer for lists (elearning_cli._output), value by value: what scripts and spreadsheets read."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

import pytest

from elearning_cli._output import Field, csv_value, json_value, print_table, rows_as_csv, rows_as_json


class Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    kid: str
    name: str
    score: float | None
    tags: list[str]
    at: datetime


ID = uuid.UUID("01a24aad-233b-7000-bda5-3cda0062d082")
AT = datetime(2026, 12, 6, 10, 0, tzinfo=timezone(timedelta(hours=2)))
FIELDS: list[Field[Item]] = [
    Field("id", lambda i: i.id, "Id", whole=True),
    Field("kid", lambda i: i.kid, "Kid", whole=True),
    Field("name", lambda i: i.name, "Name"),
    Field("score", lambda i: i.score),
    Field("tags", lambda i: i.tags, "Tags"),
    Field("at", lambda i: i.at, "At"),
    Field(None, lambda i: "table only", "Note"),
]


def test_json_values_are_plain_ids_strings_and_times_iso_in_utc() -> None:
    assert json_value(ID) == str(ID)
    assert json_value(AT) == "2026-12-06T08:00:00+00:00"
    assert json_value(datetime(2026, 1, 2, 3, 4)) == "2026-01-02T03:04:00+00:00"  # stored naive means UTC
    assert json_value(Colour.RED) == "red"
    assert json_value({"a": [ID, None, True, 1.5]}) == {"a": [str(ID), None, True, 1.5]}
    with pytest.raises(TypeError):
        json_value(object())


def test_json_rows_keep_the_field_order_and_leave_table_only_fields_out() -> None:
    (row,) = rows_as_json([Item(ID, "k1", "Ada", None, ["x"], AT)], FIELDS)
    assert list(row) == ["id", "kid", "name", "score", "tags", "at"]
    assert row["score"] is None


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (-1.5, "-1.5"),  # numbers stay numbers
        (None, ""),
        (False, "false"),
        (["a", "=b"], "a; =b"),  # the joined text starts safely
        (["=a", "b"], "'=a; b"),
        ({"k": 1}, '{"k":1}'),
    ],
)
def test_csv_cells_never_run_as_formulas(value: object, cell: str) -> None:
    assert csv_value(value) == cell


def test_identifiers_of_an_inert_alphabet_reach_scripts_as_they_are() -> None:
    assert csv_value("-Ab_9", identifier=True) == "-Ab_9"  # a key id may start with "-"
    assert csv_value("-1+1", identifier=True) == "'-1+1"  # not an identifier's alphabet: escaped
    assert csv_value("=x@example.org", identifier=True) == "'=x@example.org"


def test_csv_is_rfc_4180_with_a_header_of_the_json_keys() -> None:
    items = [Item(ID, "-kid", 'Ada "the first", Countess\nof Lovelace', 0.5, ["a", "b"], AT)]
    text = rows_as_csv(items, FIELDS)
    assert text.startswith("id,kid,name,score,tags,at\r\n")
    assert text.endswith("\r\n")
    _header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert row == [
        str(ID),
        "-kid",
        'Ada "the first", Countess\nof Lovelace',
        "0.5",
        "a; b",
        "2026-12-06T08:00:00+00:00",
    ]


@pytest.mark.parametrize("width", [30, 60, 200])
def test_whole_columns_are_never_cut_at_any_width(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kid = "S72iwweJrFRRdF-mAZbobTE_Zz4WYBYJ8zkANZQVRzM"
    monkeypatch.setenv("COLUMNS", str(width))
    print_table([Item(ID, kid, "A name long enough to wrap " * 3, 1, [], AT)], FIELDS, "Items")
    lines = capsys.readouterr().out.splitlines()
    assert any(str(ID) in line and kid in line for line in lines)  # both whole, on one row
    assert any("wrap" in line for line in lines)
    if width == 200:
        assert max(len(line) for line in lines) <= width
