"""``elearning paths`` as an admin uses it: import (checked first, every problem on a line), export
(round trip by course slug), list (a table, JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.container import Platform
from elearning_core.shared.ports import SYSTEM
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


def courses(*slugs: str, status: str = "published") -> None:
    async def go(platform: Platform) -> None:
        await platform.courses.import_courses(SYSTEM, [course_spec(s, status=status) for s in slugs])

    on_platform(go)


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "elearning.learning_path.v1",
        "slug": "data-engineering",
        "title": "Data engineering",
        "description": "From SQL to pipelines",
        "status": "published",
        "parts": [
            {"kind": "required", "title": "Foundations", "courses": ["sql-basics"]},
            {"kind": "elective", "title": "Pick one", "required_count": 1, "courses": ["spark-intro", "dbt-intro"]},
        ],
        "prerequisites": ["python-basics"],
    }
    return doc | changes


def written(tmp_path: Path, doc: dict[str, Any], name: str = "path.json") -> str:
    target = tmp_path / name
    target.write_text(json.dumps(doc), encoding="utf-8")
    return str(target)


def test_import_export_round_trip_and_list(tmp_path: Path) -> None:
    courses("sql-basics", "spark-intro", "dbt-intro", "python-basics")
    source = written(tmp_path, document())
    assert "Dry run" in ok("paths", "import", source, "--dry-run").stderr
    assert json.loads(ok("paths", "list", "-o", "json").stdout) == []
    imported = ok("paths", "import", source)
    assert "Imported the published path data-engineering" in imported.stderr
    exported = json.loads(ok("paths", "export", "data-engineering").stdout)
    assert exported == document(
        parts=[
            {"kind": "required", "title": "Foundations", "courses": ["sql-basics"], "required_count": None},
            {"kind": "elective", "title": "Pick one", "courses": ["spark-intro", "dbt-intro"], "required_count": 1},
        ]
    )
    (listed,) = json.loads(ok("paths", "list", "-o", "json").stdout)
    assert (listed["slug"], listed["status"], listed["parts"], listed["courses"]) == (
        "data-engineering",
        "published",
        2,
        3,
    )
    table = ok("paths", "list").stdout
    assert "data-engineering" in table
    assert "1 learning path(s)" in table
    out = tmp_path / "out.json"
    ok("paths", "export", listed["id"], "-o", str(out))
    assert json.loads(out.read_text(encoding="utf-8")) == exported
    # The exported file imports as another path once its slug is free.
    again = written(tmp_path, exported | {"slug": "data-engineering-2"}, "again.json")
    assert "data-engineering-2" in ok("paths", "import", again).stderr


def test_import_reports_every_problem_on_a_line_and_writes_nothing(tmp_path: Path) -> None:
    courses("sql-basics", "spark-intro")
    courses("dbt-intro", status="draft")
    bad = document(
        parts=[
            {"kind": "required", "courses": ["sql-basics", "nope"]},
            {"kind": "elective", "required_count": 1, "courses": ["spark-intro", "dbt-intro"]},
        ],
        prerequisites=["python-basics"],
    )
    result = invoke("paths", "import", written(tmp_path, bad))
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert "3 problem(s); nothing was imported" in lines[0]
    assert any("parts.0.courses.1: no course 'nope'" in line for line in lines)
    assert any("prerequisites.0: no course 'python-basics'" in line for line in lines)
    assert any("course 'dbt-intro' is not published" in line for line in lines)
    assert result.stdout == ""
    assert json.loads(ok("paths", "list", "-o", "json").stdout) == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not json", "is not valid JSON"),
        ('{"format": "other"}', "is not a learning path document"),
        (json.dumps(document(parts=[{"kind": "elective", "required_count": 3, "courses": ["sql-basics"]}])), ""),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, doc: str, message: str) -> None:
    courses("sql-basics", "python-basics")
    target = tmp_path / "bad.json"
    target.write_text(doc, encoding="utf-8")
    result = invoke("paths", "import", str(target))
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert lines
    assert message in lines[0]
    if not message:
        assert any("parts.0.required_count" in line for line in lines)


def test_export_of_an_unknown_path_is_one_line() -> None:
    result = invoke("paths", "export", "no-such-path")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert "no-such-path" in lines[0]
