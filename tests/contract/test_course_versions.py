"""Lesson content and published versions through the repository and the catalog queries.

Run on the fake, SQLite, PostgreSQL (psycopg fast path) and PostgreSQL (Core queries).
"""

from __future__ import annotations

import copy
import uuid

import pytest

from elearning_core.course.model import Attachment, Course, CourseStatus, LessonContent, LessonKind, Level
from elearning_core.course.queries import CatalogFilter
from elearning_core.shared.errors import Conflict
from tests.contract.conftest import Backend
from tests.fakes import T0, a_course, minutes

T1, T2, T3 = T0 + minutes(1), T0 + minutes(2), T0 + minutes(3)


def render(markdown: str) -> str:
    return f"<p>{markdown.upper()}</p>"


def rich_content() -> LessonContent:
    return LessonContent.checked(
        kind="video",
        body_markdown="# Notes\n\nünïcödé and <b>html</b>",
        video_id=uuid.uuid4(),
        assessment_id=uuid.uuid4(),
        attachments=[
            Attachment.checked(name="slides.pdf", size_bytes=10, content_type="application/pdf", url="https://x.org/a"),
            Attachment.checked(
                name="data.csv", size_bytes=0, content_type="text/csv", storage_key="courses/1/data.csv"
            ),
        ],
        duration_seconds=600,
    )


async def save(backend: Backend, course: Course) -> None:
    async with backend.uow() as uow:
        uow.courses.add(course)
        await uow.commit()


async def edit(backend: Backend, course_id: uuid.UUID, change: object) -> Course:
    async with backend.uow() as uow:
        course = await uow.courses.get(course_id)
        assert course is not None
        change(course)  # type: ignore[operator]
        await uow.commit()
    return course


async def load(backend: Backend, course_id: uuid.UUID) -> Course:
    async with backend.uow() as uow:
        course = await uow.courses.get(course_id)
    assert course is not None
    return course


async def test_lesson_content_round_trips(backend: Backend) -> None:
    course = a_course(lessons=2)
    section = course.sections[0]
    content = rich_content()
    course.set_lesson_content(section.id, section.lessons[1].id, content, T0)
    await save(backend, course)
    loaded = await load(backend, course.id)
    assert [x.content for x in loaded.sections[0].lessons] == [LessonContent(), content]

    outline = await backend.queries.outline(course.id)
    assert outline is not None
    first, second = outline.sections[0].lessons
    assert (first.kind, first.body_markdown, first.attachments, first.duration_seconds) == (
        LessonKind.TEXT,
        "",
        [],
        None,
    )
    assert (second.kind, second.body_markdown, second.video_id, second.assessment_id) == (
        LessonKind.VIDEO,
        content.body_markdown,
        content.video_id,
        content.assessment_id,
    )
    assert [(a.id, a.name, a.url, a.storage_key, a.size_bytes) for a in second.attachments] == [
        (a.id, a.name, a.url, a.storage_key, a.size_bytes) for a in content.attachments
    ]
    assert second.body_html == ""  # rendered by the service on read, not stored for the draft


async def test_publishing_stores_an_immutable_version(backend: Backend) -> None:
    course = a_course(lessons=1, title="First", tags=["one"])
    course.set_lesson_content(course.sections[0].id, course.sections[0].lessons[0].id, rich_content(), T0)
    v1 = course.publish(T1, by=uuid.UUID(int=5), render=render)
    v1_snapshot = copy.deepcopy(v1.snapshot)
    await save(backend, course)
    async with backend.uow() as uow:
        stored = await uow.courses.get_version(course.id, 1)
        assert await uow.courses.get_version(course.id, 2) is None
        assert await uow.courses.get_version(uuid.uuid4(), 1) is None
    assert stored is not None
    assert (stored.number, stored.published_at, stored.published_by, stored.snapshot) == (
        1,
        T1,
        uuid.UUID(int=5),
        v1_snapshot,
    )

    await edit(backend, course.id, lambda c: c.change_details(T2, title="Second", tags=["two"]))
    reloaded = await load(backend, course.id)
    assert (reloaded.title, reloaded.tags, reloaded.status) == ("Second", ["two"], CourseStatus.PUBLISHED)
    assert (reloaded.published_version, reloaded.has_unpublished_changes) == (1, True)
    assert reloaded.published_details is not None
    assert (reloaded.published_details.title, reloaded.published_details.tags) == ("First", ("one",))

    await edit(backend, course.id, lambda c: c.publish(T3, render=render))
    async with backend.uow() as uow:
        again = await uow.courses.get_version(course.id, 1)
        v2 = await uow.courses.get_version(course.id, 2)
    assert again is not None
    assert again.snapshot == v1_snapshot
    assert v2 is not None
    assert (v2.snapshot["title"], v2.published_at) == ("Second", T3)
    reloaded = await load(backend, course.id)
    assert (reloaded.published_version, reloaded.has_unpublished_changes, reloaded.published_at) == (2, False, T3)


async def test_a_version_number_is_taken_once(backend: Backend) -> None:
    course = a_course(lessons=1)
    course.publish(T1)
    await save(backend, course)

    def publish_version_1_again(c: Course) -> None:
        c.change_details(T2, title="Again")
        c.published_version = None  # as if a stale copy published: its number clashes
        c.publish(T2)

    with pytest.raises(Conflict):
        await edit(backend, course.id, publish_version_1_again)
    assert (await load(backend, course.id)).title != "Again"


async def test_the_published_outline_is_the_snapshot_with_the_live_status(backend: Backend) -> None:
    course = a_course(lessons=2, title="Published title", slug="versioned", level=Level.ADVANCED)
    section = course.sections[0]
    course.set_lesson_content(section.id, section.lessons[0].id, rich_content(), T0)
    course.publish(T1, render=render)
    await save(backend, course)
    assert await backend.queries.published_outline(uuid.uuid4()) is None

    def draft_edits(c: Course) -> None:
        c.change_details(T2, title="Draft title", summary="draft", level=Level.BEGINNER)
        c.rename_lesson(section.id, section.lessons[1].id, "Draft lesson", T2)
        c.set_lesson_content(section.id, section.lessons[0].id, LessonContent.checked(body_markdown="draft"), T2)
        c.add_section("Draft section", T2)

    await edit(backend, course.id, draft_edits)
    for read in (
        backend.queries.published_outline(course.id),
        backend.queries.published_outline(course.id, 1),
        backend.queries.published_outline_by_slug("versioned"),
    ):
        outline = await read
        assert outline is not None
        assert (outline.title, outline.summary, outline.level, outline.status) == (
            "Published title",
            "",
            Level.ADVANCED,
            CourseStatus.PUBLISHED,
        )
        assert (outline.version_number, outline.published_version, outline.has_unpublished_changes) == (1, 1, True)
        assert (outline.published_at, outline.updated_at) == (T1, T1)
        assert [s.title for s in outline.sections] == ["Section 1"]
        first, second = outline.sections[0].lessons
        assert (first.body_html, first.body_markdown) == (render(rich_content().body_markdown), None)
        assert second.title == "Lesson 1.2"
        assert [a.name for a in first.attachments] == ["slides.pdf", "data.csv"]
    assert await backend.queries.published_outline(course.id, 2) is None
    assert await backend.queries.published_outline_by_slug("no-such-course") is None

    draft = await backend.queries.outline(course.id)
    assert draft is not None
    assert (draft.title, draft.level, draft.version_number, draft.has_unpublished_changes) == (
        "Draft title",
        Level.BEGINNER,
        None,
        True,
    )
    assert [s.title for s in draft.sections] == ["Section 1", "Draft section"]
    assert draft.sections[0].lessons[0].body_markdown == "draft"

    await edit(backend, course.id, lambda c: c.unpublish(T3))
    outline = await backend.queries.published_outline(course.id)
    assert outline is not None
    assert (outline.status, outline.title) == (CourseStatus.DRAFT, "Published title")


async def test_the_catalog_lists_the_published_details_not_the_draft(backend: Backend) -> None:
    course = a_course(lessons=1, title="Listed", summary="public", tags=["public"], language="en")
    course.publish(T1)
    await save(backend, course)

    def draft_edits(c: Course) -> None:
        c.change_details(T2, title="Secret draft", summary="hidden", tags=["secret"], language="fr")
        c.add_section("More", T2)

    await edit(backend, course.id, draft_edits)
    [row] = await backend.queries.list_courses(CatalogFilter(), None, 10)
    assert (row.title, row.summary, row.tags, row.language, row.section_count) == (
        "Listed",
        "public",
        ["public"],
        "en",
        1,
    )
    assert await backend.queries.list_courses(CatalogFilter(tag="secret"), None, 10) == []
    assert await backend.queries.list_courses(CatalogFilter(text="secret"), None, 10) == []
    assert await backend.queries.list_courses(CatalogFilter(language="fr"), None, 10) == []
    assert len(await backend.queries.list_courses(CatalogFilter(tag="public"), None, 10)) == 1

    await edit(backend, course.id, lambda c: c.publish(T3))
    [row] = await backend.queries.list_courses(CatalogFilter(tag="secret"), None, 10)
    assert (row.title, row.language, row.section_count, row.published_at) == ("Secret draft", "fr", 2, T3)

    # Back to draft: the row lists the draft again (for staff listings).
    await edit(backend, course.id, lambda c: (c.unpublish(T3), c.change_details(T3, title="Reworked")))
    [row] = await backend.queries.list_courses(CatalogFilter(status=CourseStatus.DRAFT), None, 10)
    assert row.title == "Reworked"


async def test_versions_are_listed_newest_first(backend: Backend) -> None:
    course = a_course(lessons=1)
    course.publish(T1, by=uuid.UUID(int=1))
    await save(backend, course)
    assert await backend.queries.versions(uuid.uuid4()) == []
    await edit(backend, course.id, lambda c: (c.change_details(T2, title="B"), c.publish(T2, by=None)))
    await edit(backend, course.id, lambda c: (c.unpublish(T3), c.publish(T3)))
    versions = await backend.queries.versions(course.id)
    assert [(v.number, v.published_at, v.published_by) for v in versions] == [
        (3, T3, None),
        (2, T2, None),
        (1, T1, uuid.UUID(int=1)),
    ]
    # Paged by number (the primary key): below a number, at most a limit.
    assert [v.number for v in await backend.queries.versions(course.id, None, 2)] == [3, 2]
    assert [v.number for v in await backend.queries.versions(course.id, 2, 2)] == [1]
    assert await backend.queries.versions(course.id, 1, 2) == []


async def test_deleting_a_course_deletes_its_versions(backend: Backend) -> None:
    course = a_course(lessons=1)
    course.publish(T1)
    await save(backend, course)
    await edit(backend, course.id, lambda c: c.unpublish(T2))

    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.mark_deleted(T3)
        uow.courses.remove(loaded)
        await uow.commit()
    assert await backend.queries.versions(course.id) == []
    async with backend.uow() as uow:
        assert await uow.courses.get_version(course.id, 1) is None
