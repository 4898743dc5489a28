"""``elearning courses import`` names the record and field of text no database can store, and writes nothing.

A NUL character reached PostgreSQL and came back as "database error" (SQLite stored it). The input
models' text rule now refuses it before anything is written, on both backends; a lone surrogate
(which Python's JSON reader accepts, and no driver can encode) is refused by pydantic's own string check.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from tests.conftest import truncate_all
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform

RECORDS: list[dict[str, Any]] = [
    {"slug": "fine-course", "title": "Fine"},
    {"slug": "nul-description", "title": "Nul", "description": "Joins\u0000 and windows"},
    {
        "slug": "nul-lesson",
        "title": "Deep",
        "sections": [{"title": "S", "lessons": [{"title": "L", "content": {"body_markdown": "# Hi\u0000"}}]}],
    },
    {"slug": "surrogate-summary", "title": "Odd", "summary": "half a pair: \ud800"},
]


async def _course_count(platform: Any) -> int:
    from sqlalchemy import text

    async with platform.database.read() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM courses"))).scalar_one())


def _import_is_refused(tmp_path: Path) -> None:
    # json.dumps escapes the NUL as \u0000 and keeps the lone surrogate as the escape \ud800.
    path = tmp_path / "courses.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    for extra in ([], ["--dry-run"]):
        result = invoke("courses", "import", str(path), *extra)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        lines = error_lines(result)
        assert lines[0] == f"error: {path}: 3 of 4 records are invalid (numbered from 0); nothing was imported"
        assert [line.strip() for line in lines[1:]] == [
            'record 1 (slug "nul-description"): description: contains a NUL character',
            'record 2 (slug "nul-lesson"): sections.0.lessons.0.content.body_markdown: contains a NUL character',
            'record 3 (slug "surrogate-summary"): summary: Input should be a valid string, unable to parse raw data as a unicode string',
        ]
        assert "database error" not in result.output
    assert on_platform(_course_count) == 0
    # The same file without the bad records imports.
    path.write_text(json.dumps(RECORDS[:1]), encoding="utf-8")
    ok("courses", "import", str(path))
    assert on_platform(_course_count) == 1


def test_import_names_the_record_with_unstorable_text_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_cli_env(monkeypatch, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}")
    ok("db", "upgrade")
    _import_is_refused(tmp_path)


@pytest.mark.postgres
def test_import_names_the_record_with_unstorable_text_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    async def empty() -> None:
        db = Database(postgres_url)
        try:
            await truncate_all(db)
        finally:
            await db.dispose()

    asyncio.run(empty())
    isolate_cli_env(monkeypatch, tmp_path, postgres_url)
    assert Settings().database_url == postgres_url
    _import_is_refused(tmp_path)
