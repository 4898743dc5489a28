"""``elearning plans import|list``: a JSON catalog round-trips through ``list -o json``, importing it twice
changes nothing, a dry run writes nothing, and a bad record is one line naming its index and field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok


@pytest.fixture(autouse=True)
def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


def catalog(tmp_path: Path, records: list[dict[str, Any]]) -> str:
    path = tmp_path / f"plans-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


PRO = {
    "code": "pro-monthly",
    "name": "Pro",
    "interval": "month",
    "prices": [{"currency": "EUR", "amount": 1900}, {"currency": "JPY", "amount": 2500}],
    "tax_inclusive": True,
    "includes": {"all_courses": True},
    "status": "active",
}
TEAM = {**PRO, "code": "team-yearly", "interval": "year", "interval_count": 2, "status": "draft"}


def listed(*args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok("plans", "list", "-o", "json", *args).stdout)
    return rows


def fails(*args: str, message: str) -> None:
    result = invoke(*args)
    assert result.exit_code != 0, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert message in lines[0], lines[0]


def test_import_then_list_round_trips_and_a_second_import_changes_nothing(tmp_path: Path) -> None:
    first = ok("plans", "import", catalog(tmp_path, [PRO, TEAM]))
    assert "2 plans created, 0 changed, 0 unchanged" in first.output
    rows = listed()
    assert [(r["code"], r["status"], r["interval_count"]) for r in rows] == [
        ("pro-monthly", "active", 1),
        ("team-yearly", "draft", 2),
    ]
    assert rows[0]["prices"] == PRO["prices"]
    again = ok("plans", "import", catalog(tmp_path, rows))
    assert "0 plans created, 0 changed, 2 unchanged" in again.output
    assert listed() == rows
    assert [r["code"] for r in listed("--status", "draft")] == ["team-yearly"]
    table = ok("plans", "list").stdout
    assert "19.00 EUR, 2500 JPY" in table
    assert "all courses" in table


def test_a_dry_run_checks_and_writes_nothing(tmp_path: Path) -> None:
    result = ok("plans", "import", "--dry-run", catalog(tmp_path, [PRO]))
    assert "Dry run" in result.output
    assert "1 plan created" in result.output
    assert listed() == []


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({**PRO, "trial_days": 120}, "record 1: trial_days:"),
        ({**PRO, "prices": [{"currency": "EUR", "amount": 19.9}]}, "record 1: prices.0.amount:"),
        ({**TEAM, "includes": {"course_ids": [str(uuid.uuid4())]}}, "record 1: includes.course_ids[0]: no course"),
        ({**PRO}, "record 1: code: repeats the code of record 0"),
    ],
)
def test_a_bad_record_is_one_line_with_its_index_and_field_and_nothing_is_written(
    tmp_path: Path, record: dict[str, Any], message: str
) -> None:
    fails("plans", "import", catalog(tmp_path, [PRO, record]), message=message)
    assert listed() == []


def test_a_file_that_is_not_a_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PRO), encoding="utf-8")
    fails("plans", "import", str(path), message="must hold a JSON list of plans")
