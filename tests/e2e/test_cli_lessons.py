"""``elearning lessons attachments COURSE LESSON``: a lesson's files as a table, JSON or CSV, and one-line errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.shared.ports import SYSTEM
from tests.e2e.attachment_helpers import PDF, PNG
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def a_lesson_with_files(slug: str, *files: tuple[str, bytes]) -> tuple[str, str]:
    async def go(platform: Platform) -> tuple[str, str]:
        (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(slug)])
        outline = await platform.courses.get_outline(SYSTEM, course.id)
        lesson_id = outline.sections[0].lessons[0].id
        for name, data in files:
            await platform.attachments.upload(SYSTEM, course.id, lesson_id, name, body(data))
        return str(course.id), str(lesson_id)

    return on_platform(go)


def test_a_lessons_files_oldest_first_by_course_slug_or_id() -> None:
    course_id, lesson_id = a_lesson_with_files("with-files", ("syllabus.pdf", PDF), ("diagram", PNG))

    rows = json.loads(ok("lessons", "attachments", "with-files", lesson_id, "-o", "json").stdout)
    table = ok("lessons", "attachments", course_id, lesson_id).stdout

    assert [(r["name"], r["content_type"], r["size"]) for r in rows] == [
        ("syllabus.pdf", "application/pdf", len(PDF)),
        ("diagram.png", "image/png", len(PNG)),
    ]
    assert "syllabus.pdf" in table
    assert "diagram.png" in table
    assert "Attachments: 2" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no-such-course", str(uuid.uuid4())), "course no-such-course was not found"),
        (("with-files", "not-a-uuid"), "the lesson id"),
        (("with-files", str(uuid.uuid4())), "was not found"),
    ],
)
def test_unknown_course_or_lesson_is_one_line_and_exit_1(args: tuple[str, str], message: str) -> None:
    a_lesson_with_files("with-files")

    result = invoke("lessons", "attachments", *args)

    assert result.exit_code != 0
    (line,) = error_lines(result)
    assert message in line
    assert result.stdout == ""
