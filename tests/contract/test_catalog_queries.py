"""The CatalogQueries contract, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from elearning_adapters.search.projection import refresh_course
from elearning_adapters.sql.search import index_for
from elearning_core.course.model import Course, CourseStatus, Level
from elearning_core.course.queries import CatalogFilter, CourseSummary, TeachingScope
from elearning_core.course.service import CourseService
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.ids import UserId
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import ANONYMOUS, AdminOnlyPolicy
from tests.contract.conftest import Backend
from tests.fakes import ADMIN, CURSOR_SECRET, T0, a_course, minutes

ALL = CatalogFilter(status=None)


async def seed(backend: Backend, *courses: Course) -> list[Course]:
    async with backend.uow() as uow:
        for course in courses:
            uow.courses.add(course)
        await uow.commit()
    if backend.database is not None:  # what the search projection does after the commit
        db = backend.database
        async with db.write() as conn, conn.begin():
            for course in courses:
                await refresh_course(conn, index_for(db), course.id)
    return list(courses)


def published(n: int, *, at: datetime = T0, **kwargs: Any) -> Course:
    """A published course; its publication time is T0 + n minutes."""
    return a_course(status=CourseStatus.PUBLISHED, at=at, published_at=T0 + minutes(n), **kwargs)


def newest_first(courses: list[Course], *, by: str = "published_at") -> list[uuid.UUID]:
    def key(c: Course) -> tuple[datetime, uuid.UUID]:
        at = getattr(c, by)
        assert at is not None
        return at, c.id

    return [c.id for c in sorted(courses, key=key, reverse=True)]


def ids(rows: list[CourseSummary]) -> list[uuid.UUID]:
    return [r.id for r in rows]


async def test_a_summary_carries_the_course_fields_and_counts(backend: Backend) -> None:
    owner = UserId(uuid.uuid4())
    course = a_course(
        sections=3,
        lessons=2,
        title="Summarised",
        slug="summarised",
        summary="In short",
        language="fr",
        level=Level.ADVANCED,
        tags=["one", "two"],
        owner_id=owner,
        status=CourseStatus.PUBLISHED,
        published_at=T0 + minutes(3),
    )
    await seed(backend, course)
    [row] = await backend.queries.list_courses(CatalogFilter(), None, 10)
    assert row == CourseSummary(
        id=course.id,
        slug="summarised",
        title="Summarised",
        summary="In short",
        language="fr",
        level=Level.ADVANCED,
        tags=["one", "two"],
        owner_id=owner,
        status=CourseStatus.PUBLISHED,
        created_at=T0,
        published_at=T0 + minutes(3),
        section_count=3,
        lesson_count=6,
    )


async def test_published_listing_is_newest_published_first_with_an_id_tie_break(backend: Backend) -> None:
    # Publication order differs from creation order; several share a publication time.
    courses = [published(n % 3, at=T0 + minutes(10 - n)) for n in range(8)]
    drafts = [a_course(at=T0 + minutes(60)), a_course(status=CourseStatus.ARCHIVED, at=T0 + minutes(61))]
    await seed(backend, *courses, *drafts)

    rows = await backend.queries.list_courses(CatalogFilter(), None, 100)
    assert ids(rows) == newest_first(courses)
    assert all(r.status is CourseStatus.PUBLISHED for r in rows)


async def test_limit_caps_the_rows(backend: Backend) -> None:
    courses = await seed(backend, *(published(n) for n in range(5)))
    assert ids(await backend.queries.list_courses(CatalogFilter(), None, 2)) == newest_first(courses)[:2]


async def test_keyset_after_continues_strictly_after_the_given_row(backend: Backend) -> None:
    courses = await seed(backend, *(published(n // 3) for n in range(9)))
    expected = newest_first(courses)
    by_id: dict[uuid.UUID, Course] = {c.id: c for c in courses}
    for index in (0, 1, 4, 8):  # inside tie groups and at their edges
        last = by_id[expected[index]]
        assert last.published_at is not None
        rows = await backend.queries.list_courses(CatalogFilter(), (last.published_at, last.id), 100)
        assert ids(rows) == expected[index + 1 :]


async def test_unpublished_listings_order_by_creation_time(backend: Backend) -> None:
    drafts = [a_course(at=T0 + minutes(n % 2)) for n in range(4)]
    archived = [a_course(status=CourseStatus.ARCHIVED, at=T0 + minutes(5 + n)) for n in range(2)]
    live = [published(30 - n, at=T0 + minutes(3 + n)) for n in range(2)]
    everything = drafts + archived + live
    await seed(backend, *everything)

    assert ids(await backend.queries.list_courses(CatalogFilter(status=CourseStatus.DRAFT), None, 100)) == newest_first(
        drafts, by="created_at"
    )
    assert ids(
        await backend.queries.list_courses(CatalogFilter(status=CourseStatus.ARCHIVED), None, 100)
    ) == newest_first(archived, by="created_at")
    all_rows = await backend.queries.list_courses(ALL, None, 100)
    assert ids(all_rows) == newest_first(everything, by="created_at")
    third = all_rows[2]
    after = await backend.queries.list_courses(ALL, (third.created_at, third.id), 100)
    assert ids(after) == newest_first(everything, by="created_at")[3:]


async def test_filter_by_language_and_level(backend: Backend) -> None:
    en_beginner = published(1, language="en", level=Level.BEGINNER)
    en_advanced = published(2, language="en", level=Level.ADVANCED)
    pt_advanced = published(3, language="pt-br", level=Level.ADVANCED)
    await seed(backend, en_beginner, en_advanced, pt_advanced)
    q = backend.queries

    assert ids(await q.list_courses(CatalogFilter(language="en"), None, 10)) == [en_advanced.id, en_beginner.id]
    assert ids(await q.list_courses(CatalogFilter(language="pt-br"), None, 10)) == [pt_advanced.id]
    assert ids(await q.list_courses(CatalogFilter(language="pt"), None, 10)) == []
    assert ids(await q.list_courses(CatalogFilter(level=Level.ADVANCED), None, 10)) == [pt_advanced.id, en_advanced.id]
    assert ids(await q.list_courses(CatalogFilter(language="en", level=Level.ADVANCED), None, 10)) == [en_advanced.id]
    assert ids(await q.list_courses(CatalogFilter(level=Level.ALL_LEVELS), None, 10)) == []


async def test_filter_by_tag_matches_whole_tags_ignoring_case(backend: Backend) -> None:
    python = published(1, tags=["python", "data science"])
    pythonic = published(2, tags=["pythonic"])
    other = published(3, tags=["rust"])
    await seed(backend, python, pythonic, other)
    q = backend.queries

    assert ids(await q.list_courses(CatalogFilter(tag="python"), None, 10)) == [python.id]
    assert ids(await q.list_courses(CatalogFilter(tag="PYTHON"), None, 10)) == [python.id]
    assert ids(await q.list_courses(CatalogFilter(tag="data science"), None, 10)) == [python.id]
    assert ids(await q.list_courses(CatalogFilter(tag="data"), None, 10)) == []
    assert ids(await q.list_courses(CatalogFilter(tag="rust", language="en"), None, 10)) == [other.id]


async def test_text_filter_searches_title_summary_and_tags_ignoring_case(backend: Backend) -> None:
    by_title = published(1, title="Mastering Pandas")
    by_summary = published(2, title="Data wrangling", summary="Lots of PANDAS tricks")
    by_tag = published(3, title="Zoo animals", tags=["pandas"])
    unicode_title = published(4, title="Ünïcode Básics")
    unrelated = published(5, title="Rust in Action")
    await seed(backend, by_title, by_summary, by_tag, unicode_title, unrelated)
    q = backend.queries

    assert ids(await q.list_courses(CatalogFilter(text="pandas"), None, 10)) == [by_tag.id, by_summary.id, by_title.id]
    assert ids(await q.list_courses(CatalogFilter(text="PaNdAs TrIcKs"), None, 10)) == [by_summary.id]
    assert ids(await q.list_courses(CatalogFilter(text="ÜNÏCODE b"), None, 10)) == [unicode_title.id]
    assert ids(await q.list_courses(CatalogFilter(text="no such words"), None, 10)) == []


async def test_text_filter_ignores_accents_and_takes_each_word_as_a_prefix(backend: Backend) -> None:
    cafe = published(1, title="Café culture", summary="Espresso and crème brûlée", tags=["coffee"])
    other = published(2, title="Cafeteria design")
    await seed(backend, cafe, other, published(3, title="Rust in Action"))
    q = backend.queries

    assert ids(await q.list_courses(CatalogFilter(text="CAFE"), None, 10)) == [other.id, cafe.id]
    assert ids(await q.list_courses(CatalogFilter(text="café CULT"), None, 10)) == [cafe.id]
    assert ids(await q.list_courses(CatalogFilter(text="creme espresso"), None, 10)) == [cafe.id]
    assert ids(await q.list_courses(CatalogFilter(text="BRULEE coffee"), None, 10)) == [cafe.id]
    assert ids(await q.list_courses(CatalogFilter(text="ulture"), None, 10)) == []  # words, not substrings
    assert ids(await q.list_courses(CatalogFilter(text="!!"), None, 10)) == []


@pytest.mark.parametrize(
    ("text", "matching"),
    [
        ("100%", {"100% Python", "1000 Python tips"}),
        ("%", set()),
        ("snake_case", {"Snake_case naming"}),
        ("a:* | b", {"Paths like a\\b"}),
        ('-paths* ("', {"Paths like a\\b", "Paths ab"}),
        ("it's", set()),
    ],
)
async def test_query_syntax_in_the_search_text_is_plain_words(backend: Backend, text: str, matching: set[str]) -> None:
    """LIKE wildcards, FTS5 and tsquery operators in ``q`` are not operators: only its words count."""
    titles = [
        "100% Python",
        "1000 Python tips",
        "Snake_case naming",
        "SnakeXcase naming",
        "Paths like a\\b",
        "Paths ab",
    ]
    await seed(backend, *(published(n, title=t) for n, t in enumerate(titles)))
    rows = await backend.queries.list_courses(CatalogFilter(text=text), None, 10)
    assert {r.title for r in rows} == matching


async def test_filters_combine_with_status(backend: Backend) -> None:
    draft_en = a_course(language="en", tags=["x"])
    live_en = published(1, language="en", tags=["x"])
    await seed(backend, draft_en, live_en)
    q = backend.queries
    assert ids(await q.list_courses(CatalogFilter(tag="x"), None, 10)) == [live_en.id]
    assert ids(await q.list_courses(CatalogFilter(tag="x", status=CourseStatus.DRAFT), None, 10)) == [draft_en.id]


async def test_outline_has_sections_and_lessons_in_order_with_positions(backend: Backend) -> None:
    course = a_course(sections=0, title="Outlined", slug="outlined", tags=["a"], summary="S")
    course.change_details(T0, description="Described")
    empty = course.add_section("Empty section", T0)
    second = course.add_section("Second", T0)
    first = course.add_section("First", T0, position=0)
    lessons = [course.add_lesson(second.id, f"L{n}", T0) for n in range(3)]
    inserted = course.add_lesson(second.id, "Inserted", T0, position=1)
    course.add_lesson(first.id, "Only", T0)
    course.publish(T0 + minutes(1))
    await seed(backend, course)

    outline = await backend.queries.outline(course.id)
    assert outline is not None
    assert outline == await backend.queries.outline_by_slug("outlined")
    assert (outline.id, outline.slug, outline.title, outline.summary, outline.description) == (
        course.id,
        "outlined",
        "Outlined",
        "S",
        "Described",
    )
    assert (outline.status, outline.version, outline.published_at, outline.tags) == (
        CourseStatus.PUBLISHED,
        1,
        T0 + minutes(1),
        ["a"],
    )
    assert (outline.created_at, outline.updated_at) == (T0, T0 + minutes(1))
    assert [(s.id, s.title, s.position) for s in outline.sections] == [
        (first.id, "First", 0),
        (empty.id, "Empty section", 1),
        (second.id, "Second", 2),
    ]
    assert outline.sections[1].lessons == []
    assert [(x.id, x.title, x.position) for x in outline.sections[2].lessons] == [
        (lessons[0].id, "L0", 0),
        (inserted.id, "Inserted", 1),
        (lessons[1].id, "L1", 2),
        (lessons[2].id, "L2", 3),
    ]
    assert [(x.title, x.position) for x in outline.sections[0].lessons] == [("Only", 0)]


async def test_outline_follows_committed_reordering(backend: Backend) -> None:
    course = a_course(sections=3, lessons=3)
    await seed(backend, course)
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.reorder_sections([s.id for s in reversed(loaded.sections)], T0)
        section = loaded.sections[0]
        loaded.reorder_lessons(section.id, [x.id for x in reversed(section.lessons)], T0)
        expected = [(s.id, [x.id for x in s.lessons]) for s in loaded.sections]
        await uow.commit()
    outline = await backend.queries.outline(course.id)
    assert outline is not None
    assert outline.version == 2
    assert [(s.id, [x.id for x in s.lessons]) for s in outline.sections] == expected
    assert [s.position for s in outline.sections] == [0, 1, 2]
    assert [x.position for x in outline.sections[0].lessons] == [0, 1, 2]


async def test_outline_of_an_unknown_course_is_none(backend: Backend) -> None:
    await seed(backend, a_course(slug="present"))
    assert await backend.queries.outline(uuid.uuid4()) is None
    assert await backend.queries.outline_by_slug("absent") is None


async def test_outline_shows_unpublished_courses_too(backend: Backend) -> None:
    draft = a_course(slug="a-draft")
    await seed(backend, draft)
    outline = await backend.queries.outline_by_slug("a-draft")
    assert outline is not None
    assert outline.status is CourseStatus.DRAFT
    assert outline.published_at is None


@pytest.mark.parametrize("limit", [1, 3, 10])
async def test_the_service_pages_through_this_backend_without_gaps_or_duplicates(backend: Backend, limit: int) -> None:
    courses = await seed(backend, *(published(n // 4, title=f"Course {n}") for n in range(10)))
    await seed(backend, a_course(title="Course draft"))
    service = CourseService(backend.uow, backend.queries, FixedClock(T0), AdminOnlyPolicy(), CursorCodec(CURSOR_SECRET))
    for actor, where, expected in (
        (ANONYMOUS, CatalogFilter(text="course"), newest_first(courses)),
        (ADMIN, CatalogFilter(status=None, text="course"), None),
    ):
        seen: list[uuid.UUID] = []
        cursor: str | None = None
        for _ in range(12):
            page = await service.list_courses(actor, where, cursor=cursor, limit=limit)
            seen.extend(ids(page.items))
            if (cursor := page.next_cursor) is None:
                break
        assert cursor is None
        assert len(seen) == len(set(seen))
        if expected is not None:
            assert seen == expected
        else:
            assert len(seen) == 11


async def test_teaching_lists_owned_granted_and_organization_courses_newest_first(backend: Backend) -> None:
    me, someone, organization = uuid.uuid4(), UserId(uuid.uuid4()), uuid.uuid4()
    owned = a_course(owner_id=UserId(me), at=T0)
    granted = a_course(owner_id=someone, status=CourseStatus.PUBLISHED, at=T0 + minutes(1))
    in_organization = a_course(owner_id=someone, organization_id=organization, at=T0 + minutes(2))
    same_time = a_course(owner_id=UserId(me), at=T0 + minutes(2))
    others = [a_course(owner_id=someone, at=T0 + minutes(3)), a_course(organization_id=uuid.uuid4())]
    await seed(backend, owned, granted, in_organization, same_time, *others)
    where = TeachingScope(me, frozenset({granted.id}), frozenset({organization}))

    rows = await backend.queries.teaching(where, None, 10)
    assert ids(rows) == newest_first([owned, granted, in_organization, same_time], by="created_at")
    assert rows[-1].status is CourseStatus.DRAFT
    first = await backend.queries.teaching(where, None, 2)
    rest = await backend.queries.teaching(where, (first[-1].created_at, first[-1].id), 10)
    assert ids(first) + ids(rest) == ids(rows)
    assert await backend.queries.teaching(TeachingScope(uuid.uuid4()), None, 10) == []
