"""Embedding the platform through its documented entry point only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from elearning_adapters import Settings, bootstrap
from elearning_core.course.commands import AddLesson, AddSection, CourseRef, CreateCourse
from elearning_core.shared.ports import ANONYMOUS, SYSTEM


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ELEARNING_* variable from the environment, and no file written outside tmp_path."""
    for name in [n for n in os.environ if n.startswith("ELEARNING_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


async def test_the_default_platform_runs_in_memory() -> None:
    async with await bootstrap() as platform:
        course = await platform.courses.create(SYSTEM, CreateCourse(title="Embedded course", tags=["Demo"]))
        section = await platform.courses.add_section(SYSTEM, AddSection(course_id=course.id, title="Start here"))
        lesson = await platform.courses.add_lesson(
            SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title="Welcome")
        )
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))

        page = await platform.courses.list_courses(ANONYMOUS)
        assert [(c.id, c.slug, c.tags, c.lesson_count) for c in page.items] == [
            (course.id, "embedded-course", ["demo"], 1)
        ]
        outline = await platform.courses.get_outline_by_slug(ANONYMOUS, "embedded-course")
        assert [(s.id, [x.id for x in s.lessons]) for s in outline.sections] == [(section.id, [lesson.id])]
    assert not any(Path.cwd().iterdir()), "the in-memory platform wrote files"


async def test_a_sqlite_file_keeps_the_data_between_two_platforms(tmp_path: Path) -> None:
    database_file = tmp_path / "data" / "platform.db"
    database_file.parent.mkdir()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database_file}", data_dir=tmp_path / "data")

    async with await bootstrap(settings) as first:
        for title in ("First course", "Second course"):
            course = await first.courses.create(SYSTEM, CreateCourse(title=title))
            section = await first.courses.add_section(SYSTEM, AddSection(course_id=course.id, title="Only section"))
            await first.courses.add_lesson(SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title="Hi"))
            await first.courses.publish(SYSTEM, CourseRef(course_id=course.id))
        draft = await first.courses.create(SYSTEM, CreateCourse(title="Still a draft"))
        first_page = await first.courses.list_courses(ANONYMOUS, limit=1)
    assert database_file.exists()
    assert first_page.next_cursor is not None

    async with await bootstrap(
        Settings(database_url=f"sqlite+aiosqlite:///{database_file}", data_dir=tmp_path / "data")
    ) as second:
        listed = await second.courses.list_courses(ANONYMOUS)
        assert sorted(c.slug for c in listed.items) == ["first-course", "second-course"]
        # The cursor secret is kept in the data directory, so a cursor outlives the process that issued it.
        rest = await second.courses.list_courses(ANONYMOUS, cursor=first_page.next_cursor, limit=1)
        assert [c.id for c in first_page.items + rest.items] == [c.id for c in listed.items]
        assert (await second.courses.get_outline(SYSTEM, draft.id)).title == "Still a draft"
