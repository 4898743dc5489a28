"""Course use cases on the fakes: permissions, visibility, versions, import and pagination."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from elearning_core.course import events as ev
from elearning_core.course.commands import (
    AddLesson,
    AddSection,
    CourseRef,
    CourseSpec,
    CreateCourse,
    LessonSpec,
    RemoveLesson,
    RemoveSection,
    RenameLesson,
    RenameSection,
    ReorderLessons,
    ReorderSections,
    SectionSpec,
    UpdateCourse,
)
from elearning_core.course.model import Course, CourseStatus
from elearning_core.course.queries import CatalogFilter
from elearning_core.course.service import CourseService
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import ANONYMOUS, AdminOnlyPolicy, Decision
from tests.fakes import (
    A_USER,
    ADMIN,
    CURSOR_SECRET,
    T0,
    CourseStore,
    FakeUnitOfWork,
    InMemoryCatalogQueries,
    a_course,
    a_service,
    minutes,
    seed_course,
)


@pytest.fixture
def store() -> CourseStore:
    return CourseStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def service(store: CourseStore, clock: FixedClock) -> CourseService:
    return a_service(store, clock=clock)


def put(store: CourseStore, *courses: Course) -> None:
    """Seed committed state directly (the store is the fake's database)."""
    for course in courses:
        seed_course(store, course)


def published_events(store: CourseStore) -> list[type[DomainEvent]]:
    return [type(e) for e in store.outbox]


# -- the example from ARCHITECTURE.md ---------------------------------------------------


async def test_publishing_records_one_event() -> None:
    uow = FakeUnitOfWork()
    uow.courses.add(course := a_course(lessons=1))
    service = CourseService(
        lambda: uow, InMemoryCatalogQueries(uow.store), FixedClock(T0), AdminOnlyPolicy(), CursorCodec(CURSOR_SECRET)
    )
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    assert [type(e) for e in uow.outbox] == [ev.CoursePublished]
    assert uow.committed
    assert uow.store.courses[course.id].status is CourseStatus.PUBLISHED


async def test_a_refused_use_case_rolls_back_and_commits_nothing() -> None:
    uow = FakeUnitOfWork()
    uow.courses.add(course := a_course(lessons=0))
    service = CourseService(
        lambda: uow, InMemoryCatalogQueries(uow.store), FixedClock(T0), AdminOnlyPolicy(), CursorCodec(CURSOR_SECRET)
    )
    with pytest.raises(Conflict):
        await service.publish(ADMIN, CourseRef(course_id=course.id))
    assert (uow.committed, uow.rolled_back, uow.outbox) == (False, True, [])
    assert uow.store.courses == {}


# -- create ------------------------------------------------------------------------------


async def test_create_writes_the_course_and_its_event(service: CourseService, store: CourseStore) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Intro to SQL", tags=["SQL"]))
    assert course.slug == "intro-to-sql"
    assert course.version == 1
    stored = store.courses[course.id]
    assert (stored.title, stored.tags, stored.status) == ("Intro to SQL", ["sql"], CourseStatus.DRAFT)
    assert published_events(store) == [ev.CourseCreated]
    assert course.pending_events == []


async def test_create_takes_the_owner_from_the_acting_user_when_not_given(store: CourseStore) -> None:
    class AllowAll:
        def authorize(self, principal: object, permission: str, resource: object | None = None) -> Decision:
            return Decision(True, "test")

    service = a_service(store, policy=AllowAll())
    course = await service.create(A_USER, CreateCourse(title="Mine"))
    assert course.owner_id == A_USER.user_id
    explicit = uuid.uuid4()
    other = await service.create(A_USER, CreateCourse(title="Theirs", owner_id=explicit))
    assert other.owner_id == explicit


async def test_create_with_a_taken_slug_is_a_conflict(service: CourseService, store: CourseStore) -> None:
    await service.create(ADMIN, CreateCourse(title="First", slug="taken-slug"))
    with pytest.raises(Conflict, match="taken-slug"):
        await service.create(ADMIN, CreateCourse(title="Second", slug="taken-slug"))
    assert [c.title for c in store.courses.values()] == ["First"]
    assert published_events(store) == [ev.CourseCreated]


async def test_a_derived_slug_that_is_taken_gets_the_first_free_suffix(
    service: CourseService, store: CourseStore
) -> None:
    first = await service.create(ADMIN, CreateCourse(title="Intro to Python"))
    second = await service.create(ADMIN, CreateCourse(title="Intro to Python"))
    third = await service.create(ADMIN, CreateCourse(title="intro to python!"))
    assert [first.slug, second.slug, third.slug] == ["intro-to-python", "intro-to-python-2", "intro-to-python-3"]
    assert {c.slug for c in store.courses.values()} == {"intro-to-python", "intro-to-python-2", "intro-to-python-3"}
    created = [e for e in store.outbox if isinstance(e, ev.CourseCreated)]
    assert [e.slug for e in created] == ["intro-to-python", "intro-to-python-2", "intro-to-python-3"]


async def test_a_derived_slug_is_transliterated(service: CourseService) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Курс по Java"))  # noqa: RUF001
    assert course.slug == "kurs-po-java"


async def test_a_suffix_fills_the_lowest_free_number(service: CourseService, store: CourseStore) -> None:
    await service.create(ADMIN, CreateCourse(title="Other", slug="intro-to-python-3"))
    await service.create(ADMIN, CreateCourse(title="Other", slug="intro-to-pythonic"))
    await service.create(ADMIN, CreateCourse(title="Intro to Python"))
    second = await service.create(ADMIN, CreateCourse(title="Intro to Python"))
    fourth = await service.create(ADMIN, CreateCourse(title="Intro to Python"))
    assert (second.slug, fourth.slug) == ("intro-to-python-2", "intro-to-python-4")


# -- permissions ---------------------------------------------------------------------------

Write = Callable[[CourseService, Any, Course], Awaitable[object]]


def _sid(c: Course) -> uuid.UUID:
    return c.sections[0].id


def _lid(c: Course) -> uuid.UUID:
    return c.sections[0].lessons[0].id


WRITES: dict[str, Write] = {
    "create": lambda s, who, c: s.create(who, CreateCourse(title="New")),
    "update": lambda s, who, c: s.update(who, UpdateCourse(course_id=c.id, title="New")),
    "delete": lambda s, who, c: s.delete(who, CourseRef(course_id=c.id)),
    "add_section": lambda s, who, c: s.add_section(who, AddSection(course_id=c.id, title="New")),
    "rename_section": lambda s, who, c: s.rename_section(
        who, RenameSection(course_id=c.id, section_id=_sid(c), title="New")
    ),
    "reorder_sections": lambda s, who, c: s.reorder_sections(
        who, ReorderSections(course_id=c.id, section_ids=[x.id for x in reversed(c.sections)])
    ),
    "remove_section": lambda s, who, c: s.remove_section(who, RemoveSection(course_id=c.id, section_id=_sid(c))),
    "add_lesson": lambda s, who, c: s.add_lesson(who, AddLesson(course_id=c.id, section_id=_sid(c), title="New")),
    "rename_lesson": lambda s, who, c: s.rename_lesson(
        who, RenameLesson(course_id=c.id, section_id=_sid(c), lesson_id=_lid(c), title="New")
    ),
    "reorder_lessons": lambda s, who, c: s.reorder_lessons(
        who,
        ReorderLessons(course_id=c.id, section_id=_sid(c), lesson_ids=[x.id for x in reversed(c.sections[0].lessons)]),
    ),
    "remove_lesson": lambda s, who, c: s.remove_lesson(
        who, RemoveLesson(course_id=c.id, section_id=_sid(c), lesson_id=_lid(c))
    ),
    "publish": lambda s, who, c: s.publish(who, CourseRef(course_id=c.id)),
    "unpublish": lambda s, who, c: s.unpublish(who, CourseRef(course_id=c.id)),
    "archive": lambda s, who, c: s.archive(who, CourseRef(course_id=c.id)),
    "import": lambda s, who, c: s.import_courses(who, [CourseSpec(slug="imported", title="Imported")]),
}


@pytest.mark.parametrize("who", [ANONYMOUS, A_USER], ids=["anonymous", "non-admin"])
@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
async def test_writes_need_the_admin_role(service: CourseService, store: CourseStore, write: Write, who: Any) -> None:
    course = a_course(sections=2, lessons=2)
    if write is WRITES["unpublish"]:
        course.publish(T0)
        course.pull_events()
    put(store, course)
    before = {c.id: (c.version, c.title, len(c.sections)) for c in store.courses.values()}
    with pytest.raises(PermissionDenied):
        await write(service, who, course)
    assert {c.id: (c.version, c.title, len(c.sections)) for c in store.courses.values()} == before
    assert store.outbox == []


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
async def test_the_admin_may_do_every_write(service: CourseService, store: CourseStore, write: Write) -> None:
    course = a_course(sections=2, lessons=2)
    if write is WRITES["unpublish"]:
        course.publish(T0)
        course.pull_events()
    put(store, course)
    await write(service, ADMIN, course)
    assert len(store.outbox) >= 1


async def test_writes_to_an_unknown_course_are_not_found(service: CourseService) -> None:
    with pytest.raises(NotFound):
        await service.publish(ADMIN, CourseRef(course_id=uuid.uuid4()))
    with pytest.raises(NotFound):
        await service.update(ADMIN, UpdateCourse(course_id=uuid.uuid4(), title="x"))


# -- visibility ------------------------------------------------------------------------------


async def test_anonymous_readers_see_published_courses_only(service: CourseService, store: CourseStore) -> None:
    draft = a_course(title="Draft", slug="the-draft")
    live = a_course(title="Live", slug="the-live-one", status=CourseStatus.PUBLISHED)
    archived = a_course(title="Old", slug="the-old-one", status=CourseStatus.ARCHIVED)
    put(store, draft, live, archived)

    page = await service.list_courses(ANONYMOUS)
    assert [c.id for c in page.items] == [live.id]
    assert (await service.get_outline(ANONYMOUS, live.id)).slug == "the-live-one"
    assert (await service.get_outline_by_slug(ANONYMOUS, "the-live-one")).id == live.id
    for hidden in (draft, archived):
        with pytest.raises(NotFound):
            await service.get_outline(ANONYMOUS, hidden.id)
        with pytest.raises(NotFound):
            await service.get_outline_by_slug(ANONYMOUS, hidden.slug)
    for status in (CourseStatus.DRAFT, CourseStatus.ARCHIVED, None):
        with pytest.raises(PermissionDenied):
            await service.list_courses(ANONYMOUS, CatalogFilter(status=status))


async def test_a_hidden_course_looks_exactly_like_a_missing_one(service: CourseService, store: CourseStore) -> None:
    draft = a_course()
    put(store, draft)
    with pytest.raises(NotFound) as hidden:
        await service.get_outline(ANONYMOUS, draft.id)
    missing_id = uuid.uuid4()
    with pytest.raises(NotFound) as missing:
        await service.get_outline(ANONYMOUS, missing_id)
    assert hidden.value.detail.replace(str(draft.id), "ID") == missing.value.detail.replace(str(missing_id), "ID")


async def test_the_admin_sees_unpublished_courses(service: CourseService, store: CourseStore) -> None:
    draft = a_course(title="Draft", slug="the-draft")
    archived = a_course(title="Old", slug="the-old-one", status=CourseStatus.ARCHIVED, at=T0 + minutes(1))
    put(store, draft, archived)
    assert (await service.get_outline(ADMIN, draft.id)).status is CourseStatus.DRAFT
    assert (await service.get_outline_by_slug(ADMIN, "the-old-one")).status is CourseStatus.ARCHIVED
    assert [c.id for c in (await service.list_courses(ADMIN, CatalogFilter(status=CourseStatus.DRAFT))).items] == [
        draft.id
    ]
    assert [c.id for c in (await service.list_courses(ADMIN, CatalogFilter(status=None))).items] == [
        archived.id,
        draft.id,
    ]


# -- update, versions, delete ---------------------------------------------------------------


async def test_update_with_the_current_version_applies_and_bumps_it(
    service: CourseService, store: CourseStore, clock: FixedClock
) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Title"))
    clock.advance(minutes(5))
    updated = await service.update(ADMIN, UpdateCourse(course_id=course.id, title="New title", expected_version=1))
    assert updated.version == 2
    assert store.courses[course.id].title == "New title"
    assert store.courses[course.id].updated_at == T0 + minutes(5)
    assert published_events(store) == [ev.CourseCreated, ev.CourseDetailsChanged]


@pytest.mark.parametrize("expected", [0, 2, 7])
async def test_update_with_a_stale_expected_version_is_a_conflict(
    service: CourseService, store: CourseStore, expected: int
) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Title"))
    with pytest.raises(Conflict, match="version"):
        await service.update(ADMIN, UpdateCourse(course_id=course.id, title="Lost", expected_version=expected))
    assert store.courses[course.id].title == "Title"
    assert store.courses[course.id].version == 1


async def test_update_to_a_taken_slug_is_a_conflict(service: CourseService, store: CourseStore) -> None:
    await service.create(ADMIN, CreateCourse(title="One", slug="slug-one"))
    two = await service.create(ADMIN, CreateCourse(title="Two", slug="slug-two"))
    with pytest.raises(Conflict, match="slug-one"):
        await service.update(ADMIN, UpdateCourse(course_id=two.id, slug="slug-one"))
    assert store.courses[two.id].slug == "slug-two"
    await service.update(ADMIN, UpdateCourse(course_id=two.id, slug="slug-two", title="Two!"))  # own slug is fine
    assert store.courses[two.id].title == "Two!"


async def test_update_without_changes_writes_nothing(service: CourseService, store: CourseStore) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Title"))
    await service.update(ADMIN, UpdateCourse(course_id=course.id, title="Title"))
    assert store.courses[course.id].version == 1
    assert published_events(store) == [ev.CourseCreated]


async def test_delete_removes_a_draft(service: CourseService, store: CourseStore) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Title"))
    await service.delete(ADMIN, CourseRef(course_id=course.id))
    assert store.courses == {}
    assert published_events(store) == [ev.CourseCreated, ev.CourseDeleted]
    with pytest.raises(NotFound):
        await service.get_outline(ADMIN, course.id)


async def test_delete_refuses_a_published_course(service: CourseService, store: CourseStore) -> None:
    course = a_course(status=CourseStatus.PUBLISHED)
    put(store, course)
    with pytest.raises(Conflict):
        await service.delete(ADMIN, CourseRef(course_id=course.id))
    assert course.id in store.courses
    assert store.outbox == []


async def test_a_failed_rule_writes_nothing(service: CourseService, store: CourseStore) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Empty"))
    with pytest.raises(Conflict):
        await service.publish(ADMIN, CourseRef(course_id=course.id))
    assert store.courses[course.id].status is CourseStatus.DRAFT
    assert published_events(store) == [ev.CourseCreated]


async def test_a_course_built_step_by_step(service: CourseService, store: CourseStore) -> None:
    course = await service.create(ADMIN, CreateCourse(title="Step by step"))
    first = await service.add_section(ADMIN, AddSection(course_id=course.id, title="First"))
    second = await service.add_section(ADMIN, AddSection(course_id=course.id, title="Zeroth", position=0))
    lesson = await service.add_lesson(ADMIN, AddLesson(course_id=course.id, section_id=first.id, title="Hello"))
    await service.publish(ADMIN, CourseRef(course_id=course.id))

    outline = await service.get_outline(ANONYMOUS, course.id)
    assert [(s.id, s.position) for s in outline.sections] == [(second.id, 0), (first.id, 1)]
    assert [(x.id, x.title) for x in outline.sections[1].lessons] == [(lesson.id, "Hello")]
    assert outline.version == 5
    assert published_events(store) == [
        ev.CourseCreated,
        ev.SectionAdded,
        ev.SectionAdded,
        ev.LessonAdded,
        ev.CoursePublished,
    ]


# -- import -----------------------------------------------------------------------------------


def spec(slug: str, *, lessons: int = 1, **fields: Any) -> CourseSpec:
    sections = [SectionSpec(title="Section", lessons=[LessonSpec(title=f"L{n}") for n in range(lessons)])]
    return CourseSpec(slug=slug, title=fields.pop("title", slug.replace("-", " ").title()), sections=sections, **fields)


async def test_import_writes_every_record_in_one_transaction(service: CourseService, store: CourseStore) -> None:
    progress: list[int] = []
    lesson_id = uuid.uuid4()
    specs = [
        spec("first-course"),
        spec("second-course", status=CourseStatus.PUBLISHED),
        CourseSpec(
            slug="third-course",
            title="Third",
            sections=[SectionSpec(title="S", lessons=[LessonSpec(id=lesson_id, title="Fixed id")])],
            status=CourseStatus.ARCHIVED,
        ),
    ]
    courses = await service.import_courses(ADMIN, specs, on_progress=progress.append)

    assert [c.slug for c in courses] == ["first-course", "second-course", "third-course"]
    assert {c.slug: c.status for c in store.courses.values()} == {
        "first-course": CourseStatus.DRAFT,
        "second-course": CourseStatus.PUBLISHED,
        "third-course": CourseStatus.ARCHIVED,
    }
    assert store.courses[courses[2].id].sections[0].lessons[0].id == lesson_id
    assert progress == [1, 2, 3]
    assert ev.CoursePublished in published_events(store)


BAD_RECORDS: dict[str, tuple[CourseSpec, str]] = {
    "bad slug": (spec("Bad Slug"), "[2].slug"),
    "bad language": (spec("fine-slug", language="klingon!"), "[2].language"),
    "bad tag": (spec("fine-slug", tags=["ok", "not/ok"]), "[2].tags"),
    "blank title": (spec("fine-slug", title="   "), "[2].title"),
    "published without lessons": (spec("fine-slug", lessons=0, status=CourseStatus.PUBLISHED), "[2].status"),
}


@pytest.mark.parametrize(("bad", "field"), BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
async def test_import_checks_every_record_first_and_writes_nothing_on_a_bad_one(
    service: CourseService, store: CourseStore, bad: CourseSpec, field: str
) -> None:
    progress: list[int] = []
    specs = [spec("good-one"), spec("good-two"), bad, spec("good-four")]
    with pytest.raises(ValidationFailed) as info:
        await service.import_courses(ADMIN, specs, on_progress=progress.append)
    assert info.value.detail.startswith("record 2 ")
    assert [e.field for e in info.value.errors] == [field]
    assert store.courses == {}
    assert store.outbox == []
    assert progress == []


async def test_import_detects_duplicate_slugs_within_the_file(service: CourseService, store: CourseStore) -> None:
    specs = [spec("one-course"), spec("dup-course"), spec("two-course"), spec("dup-course")]
    with pytest.raises(ValidationFailed) as info:
        await service.import_courses(ADMIN, specs)
    assert info.value.detail.startswith("record 3 (dup-course)")
    assert "record 1" in info.value.detail
    assert [e.field for e in info.value.errors] == ["[3].slug"]
    assert store.courses == {}


async def test_import_detects_duplicate_ids_within_the_file(service: CourseService, store: CourseStore) -> None:
    same = uuid.uuid4()
    specs = [spec("one-course", id=same), spec("two-course", id=same)]
    with pytest.raises(ValidationFailed) as info:
        await service.import_courses(ADMIN, specs)
    assert info.value.detail.startswith("record 1 ")
    assert [e.field for e in info.value.errors] == ["[1].id"]
    assert store.courses == {}


@pytest.mark.parametrize("clash", ["slug", "id"])
async def test_import_refuses_a_record_that_already_exists(
    service: CourseService, store: CourseStore, clash: str
) -> None:
    existing = await service.create(ADMIN, CreateCourse(title="Existing", slug="existing-course"))
    bad = spec("existing-course") if clash == "slug" else spec("fresh-slug", id=existing.id)
    with pytest.raises(ValidationFailed) as info:
        await service.import_courses(ADMIN, [spec("new-course"), bad])
    assert info.value.detail.startswith("record 1 ")
    assert [c.slug for c in store.courses.values()] == ["existing-course"]
    assert published_events(store) == [ev.CourseCreated]


async def test_import_as_copy_gives_new_ids_and_the_first_free_slugs(
    service: CourseService, store: CourseStore
) -> None:
    originals = await service.import_courses(ADMIN, [spec("abc", id=uuid.uuid4()), spec("abc-2")])
    records = [spec("abc", id=originals[0].id), spec("abc-2", id=originals[1].id)]
    copies = await service.import_courses(ADMIN, records, as_copy=True)
    assert [c.slug for c in copies] == ["abc-3", "abc-2-2"]
    assert not {c.id for c in copies} & {c.id for c in originals}
    assert not {s.id for c in copies for s in c.sections} & {s.id for c in originals for s in c.sections}
    assert [c.title for c in copies] == [c.title for c in originals]
    assert len(store.courses) == 4


# -- listing and pagination ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, -5, 101])
async def test_page_size_out_of_range_is_refused(service: CourseService, limit: int) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.list_courses(ANONYMOUS, limit=limit)
    assert [e.field for e in info.value.errors] == ["limit"]


async def seed_published(store: CourseStore, count: int) -> list[Course]:
    """``count`` published courses; groups of three share a publication time, to exercise the id tie-break."""
    courses = [
        a_course(title=f"Course {n}", status=CourseStatus.PUBLISHED, published_at=T0 + minutes(n // 3))
        for n in range(count)
    ]
    put(store, *courses)
    return courses


@pytest.mark.parametrize("limit", [1, 4, 7, 25, 26, 100])
async def test_cursor_pagination_walks_every_page_without_gaps_or_duplicates(
    service: CourseService, store: CourseStore, limit: int
) -> None:
    courses = await seed_published(store, 25)
    put(store, a_course(title="Not listed"))  # a draft never shows up
    expected = [c.id for c in sorted(courses, key=lambda c: (c.published_at, c.id), reverse=True)]

    seen: list[uuid.UUID] = []
    cursor: str | None = None
    for _ in range(len(courses) + 2):
        page = await service.list_courses(ANONYMOUS, cursor=cursor, limit=limit)
        assert 1 <= len(page.items) <= limit
        seen.extend(c.id for c in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert cursor is None, "pagination did not end"
    assert seen == expected


async def test_an_empty_listing_has_no_next_cursor(service: CourseService) -> None:
    page = await service.list_courses(ANONYMOUS)
    assert (page.items, page.next_cursor) == ([], None)


async def test_the_last_full_page_has_no_next_cursor(service: CourseService, store: CourseStore) -> None:
    await seed_published(store, 4)
    page = await service.list_courses(ANONYMOUS, limit=4)
    assert len(page.items) == 4
    assert page.next_cursor is None


async def test_drafts_paginate_by_creation_time(service: CourseService, store: CourseStore) -> None:
    drafts = [a_course(title=f"Draft {n}", at=T0 + minutes(n % 4)) for n in range(9)]
    put(store, *drafts)
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    for _ in range(10):
        page = await service.list_courses(ADMIN, CatalogFilter(status=CourseStatus.DRAFT), cursor=cursor, limit=2)
        seen.extend(c.id for c in page.items)
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [c.id for c in sorted(drafts, key=lambda c: (c.created_at, c.id), reverse=True)]


async def test_a_cursor_only_works_for_the_listing_that_issued_it(service: CourseService, store: CourseStore) -> None:
    await seed_published(store, 3)
    page = await service.list_courses(ANONYMOUS, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(ValidationFailed) as info:
        await service.list_courses(ANONYMOUS, CatalogFilter(language="en"), cursor=page.next_cursor, limit=1)
    assert [e.field for e in info.value.errors] == ["cursor"]


@pytest.mark.parametrize("cursor", ["garbage", "A" * 600])
async def test_a_bad_cursor_is_refused(service: CourseService, cursor: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.list_courses(ANONYMOUS, cursor=cursor)
    assert [e.field for e in info.value.errors] == ["cursor"]


@pytest.mark.parametrize(
    "key", [["not a time", str(uuid.uuid4())], ["2026-01-01T00:00:00+00:00", "nope"], [], [1, 2, 3]]
)
async def test_a_signed_cursor_with_a_malformed_key_is_refused(service: CourseService, key: list[object]) -> None:
    cursor = CursorCodec(CURSOR_SECRET).encode(CatalogFilter().scope(), key)
    with pytest.raises(ValidationFailed) as info:
        await service.list_courses(ANONYMOUS, cursor=cursor)
    assert [e.field for e in info.value.errors] == ["cursor"]
