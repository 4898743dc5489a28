"""``elearning search reindex|query|report`` as an admin uses them: a reindex with its counts, a query as
an admin and as a visitor, the report of frequent and zero-result searches, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete

from elearning_adapters.container import Platform
from elearning_adapters.sql.search import search_documents
from elearning_core.shared.ports import SYSTEM
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


async def _courses_without_index(platform: Platform) -> None:
    await platform.courses.import_courses(SYSTEM, [course_spec("algebra", title="Linear algebra", lessons=2)])
    await platform.courses.import_courses(SYSTEM, [course_spec("draft", title="Algebra draft", status="draft")])
    async with platform.database.write() as conn:  # as if the index were lost
        await conn.execute(delete(search_documents))
        await conn.commit()


@pytest.mark.usefixtures("cli")
def test_reindex_then_query_and_report() -> None:
    on_platform(_courses_without_index)
    assert json.loads(ok("search", "query", "algebra", "-o", "json").stdout) == []

    result = ok("search", "reindex")  # the draft too: its staff (and admins) search it
    assert "indexed 2 course(s), 3 lesson(s), 0 thread(s)" in result.output
    assert "indexed 2 course(s)" in ok("search", "reindex", "--kind", "course").output

    hits = json.loads(ok("search", "query", "algebra", "-o", "json").stdout)
    assert sorted(h["title"] for h in hits) == ["Algebra draft", "Linear algebra"]
    public = json.loads(ok("search", "query", "algebra", "--anonymous", "-o", "json").stdout)
    assert [h["title"] for h in public] == ["Linear algebra"]
    lessons = json.loads(ok("search", "query", "lesson", "--kind", "lesson", "-o", "json").stdout)
    assert len(lessons) == 3
    assert json.loads(ok("search", "query", "lesson", "--anonymous", "-o", "json").stdout) == []
    ok("search", "query", "nothinghere", "-o", "json")

    rows = json.loads(ok("search", "report", "-o", "json").stdout)
    frequent = {r["query"]: r["count"] for r in rows if r["list"] == "most frequent"}
    zero = {r["query"] for r in rows if r["list"] == "zero results"}
    assert frequent["algebra"] == 3
    assert frequent["lesson"] == 2
    assert zero == {"algebra", "lesson", "nothinghere"}
    assert "Zero results" in ok("search", "report").output


@pytest.mark.usefixtures("cli")
def test_bad_input_is_one_line_and_a_non_zero_exit() -> None:
    result = invoke("search", "reindex", "--kind", "video")
    assert result.exit_code != 0
    assert error_lines(result) == ["error: unknown kind in video: one of course, lesson, thread"]
    report = invoke("search", "report", "--days", "0")
    assert report.exit_code != 0
    assert len(error_lines(report)) == 1
