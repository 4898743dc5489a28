"""The Course aggregate: the events each state change records, and its invariants."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pytest

from elearning_core.course import events as ev
from elearning_core.course.model import (
    LESSONS_MAX,
    SECTIONS_MAX,
    SUMMARY_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    Course,
    CourseStatus,
    Level,
    check_language,
    check_slug,
    check_tags,
    check_title,
    first_free_slug,
    slug_with_suffix,
    slugify,
)
from elearning_core.shared.errors import Conflict, NotFound, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import UserId
from tests.fakes import T0, a_course, minutes

T1 = T0 + minutes(1)


def state(course: Course) -> dict[str, Any]:
    """Everything observable about a course except its events, for before/after comparisons."""
    return {f.name: copy.deepcopy(getattr(course, f.name)) for f in fields(course) if f.name != "_events"}


def only_event(course: Course) -> DomainEvent:
    events = course.pull_events()
    assert len(events) == 1, events
    return events[0]


# -- creation ----------------------------------------------------------------------


def test_create_records_course_created_with_its_details() -> None:
    owner = UserId(uuid.uuid4())
    course = Course.create(
        title="  Intro to SQL ", slug=None, at=T0, owner_id=owner, tags=["SQL", "sql", " Data  Bases "]
    )

    assert course.status is CourseStatus.DRAFT
    assert course.title == "Intro to SQL"
    assert course.slug == "intro-to-sql"
    assert course.tags == ["sql", "data bases"]
    assert course.created_at == course.updated_at == T0
    assert course.published_at is None
    assert course.version == 0
    event = only_event(course)
    assert isinstance(event, ev.CourseCreated)
    assert (event.aggregate_id, event.occurred_at) == (course.id, T0)
    assert (event.slug, event.title, event.owner_id) == ("intro-to-sql", "Intro to SQL", owner)


def test_create_keeps_an_explicit_slug_and_id() -> None:
    course_id = uuid.uuid4()
    course = Course.create(title="Anything", slug="my-own-slug", at=T0, course_id=course_id)  # type: ignore[arg-type]
    assert (course.id, course.slug) == (course_id, "my-own-slug")


def test_pull_events_empties_the_pending_list() -> None:
    course = Course.create(title="Intro", slug=None, at=T0)
    assert [type(e) for e in course.pending_events] == [ev.CourseCreated]
    assert [type(e) for e in course.pull_events()] == [ev.CourseCreated]
    assert course.pending_events == []


# -- details -----------------------------------------------------------------------


def test_change_details_records_only_what_really_changed() -> None:
    course = a_course(title="Old title", tags=["a"])
    course.change_details(
        T1, title="New title", summary="", level=Level.ADVANCED, tags=["A"], language="EN", description="Long text"
    )

    event = only_event(course)
    assert isinstance(event, ev.CourseDetailsChanged)
    assert event.changes == {"title": "New title", "level": "advanced", "description": "Long text"}
    assert (event.aggregate_id, event.occurred_at) == (course.id, T1)
    assert (course.title, course.level, course.description, course.updated_at) == (
        "New title",
        Level.ADVANCED,
        "Long text",
        T1,
    )


def test_change_details_without_a_real_change_records_nothing() -> None:
    course = a_course(title="Same", tags=["x"])
    before = state(course)
    course.change_details(T1, title=" Same ", tags=["X"])
    assert course.pending_events == []
    assert state(course) == before


def test_change_details_refuses_an_unknown_field() -> None:
    course = a_course()
    with pytest.raises(ValidationFailed) as info:
        course.change_details(T1, status="published")
    assert info.value.errors[0].field == "status"
    assert course.status is CourseStatus.DRAFT
    assert course.pending_events == []


def test_change_details_is_all_or_nothing_when_one_value_is_invalid() -> None:
    course = a_course(title="Keep me")
    before = state(course)
    with pytest.raises(ValidationFailed) as info:
        course.change_details(T1, title="Changed", language="not a language")
    assert [e.field for e in info.value.errors] == ["language"]
    assert state(course) == before
    assert course.pending_events == []


def test_the_slug_of_a_published_course_cannot_change() -> None:
    course = a_course(slug="stable-slug", status=CourseStatus.PUBLISHED)
    with pytest.raises(Conflict, match="slug"):
        course.change_details(T1, slug="another-slug")
    assert course.slug == "stable-slug"
    assert course.pending_events == []


def test_a_published_course_may_change_other_details_and_restate_its_slug() -> None:
    course = a_course(slug="stable-slug", status=CourseStatus.PUBLISHED)
    course.change_details(T1, slug="stable-slug", title="Better title")
    event = only_event(course)
    assert isinstance(event, ev.CourseDetailsChanged)
    assert event.changes == {"title": "Better title"}


def test_a_draft_course_may_change_its_slug() -> None:
    course = a_course(slug="first-slug")
    course.change_details(T1, slug="second-slug")
    event = only_event(course)
    assert isinstance(event, ev.CourseDetailsChanged)
    assert event.changes == {"slug": "second-slug"}
    assert course.slug == "second-slug"


# -- sections ----------------------------------------------------------------------


def test_add_section_appends_by_default_and_records_its_position() -> None:
    course = a_course(sections=2, lessons=0)
    section = course.add_section(" Third ", T1)

    assert [s.id for s in course.sections][-1] == section.id
    event = only_event(course)
    assert isinstance(event, ev.SectionAdded)
    assert (event.section_id, event.title, event.position, event.occurred_at) == (section.id, "Third", 2, T1)


@pytest.mark.parametrize(("position", "expected_index"), [(0, 0), (1, 1), (2, 2), (99, 2)])
def test_add_section_at_a_position(position: int, expected_index: int) -> None:
    course = a_course(sections=2, lessons=0)
    section = course.add_section("Inserted", T1, position)
    assert course.sections.index(section) == expected_index
    event = only_event(course)
    assert isinstance(event, ev.SectionAdded)
    assert event.position == expected_index


def test_add_section_refuses_a_negative_position() -> None:
    course = a_course(sections=2, lessons=0)
    before = state(course)
    with pytest.raises(ValidationFailed) as info:
        course.add_section("Nope", T1, -1)
    assert info.value.errors[0].field == "position"
    assert state(course) == before
    assert course.pending_events == []


def test_add_section_refuses_a_blank_title() -> None:
    course = a_course(sections=0)
    with pytest.raises(ValidationFailed) as info:
        course.add_section("   ", T1)
    assert info.value.errors[0].field == "title"
    assert course.sections == []


def test_a_course_has_at_most_the_maximum_number_of_sections() -> None:
    course = a_course(sections=0)
    for n in range(SECTIONS_MAX):
        course.add_section(f"S{n}", T1)
    course.pull_events()
    with pytest.raises(Conflict):
        course.add_section("One too many", T1)
    assert len(course.sections) == SECTIONS_MAX
    assert course.pending_events == []


def test_rename_section_records_section_renamed() -> None:
    course = a_course()
    section = course.sections[0]
    course.rename_section(section.id, "Renamed", T1)
    event = only_event(course)
    assert isinstance(event, ev.SectionRenamed)
    assert (event.section_id, event.title) == (section.id, "Renamed")
    assert section.title == "Renamed"


def test_rename_section_to_the_same_title_records_nothing() -> None:
    course = a_course()
    course.rename_section(course.sections[0].id, course.sections[0].title, T1)
    assert course.pending_events == []


def test_rename_unknown_section_is_not_found() -> None:
    course = a_course()
    with pytest.raises(NotFound):
        course.rename_section(uuid.uuid4(), "x", T1)


def test_reorder_sections_records_the_new_order() -> None:
    course = a_course(sections=3, lessons=0)
    a, b, c = (s.id for s in course.sections)
    course.reorder_sections([c, a, b], T1)
    assert [s.id for s in course.sections] == [c, a, b]
    event = only_event(course)
    assert isinstance(event, ev.SectionsReordered)
    assert event.section_ids == [c, a, b]


def test_reorder_sections_to_the_same_order_records_nothing() -> None:
    course = a_course(sections=3, lessons=0)
    course.reorder_sections([s.id for s in course.sections], T1)
    assert course.pending_events == []


def test_remove_section_records_it_with_its_lessons() -> None:
    course = a_course(sections=2, lessons=2)
    section = course.sections[0]
    lesson_ids = [lesson.id for lesson in section.lessons]
    course.remove_section(section.id, T1)
    assert section.id not in [s.id for s in course.sections]
    event = only_event(course)
    assert isinstance(event, ev.SectionRemoved)
    assert (event.section_id, event.lesson_ids) == (section.id, lesson_ids)


def test_removing_the_section_holding_every_lesson_of_a_published_course_is_refused() -> None:
    course = a_course(sections=2, lessons=0)
    course.add_lesson(course.sections[1].id, "The only lesson", T0)
    course.publish(T0)
    course.pull_events()
    before = state(course)
    with pytest.raises(Conflict):
        course.remove_section(course.sections[1].id, T1)
    assert state(course) == before
    course.remove_section(course.sections[0].id, T1)  # an empty section may go
    assert [type(e) for e in course.pull_events()] == [ev.SectionRemoved]


# -- lessons -----------------------------------------------------------------------


def test_add_lesson_records_lesson_added() -> None:
    course = a_course(lessons=2)
    section = course.sections[0]
    lesson = course.add_lesson(section.id, "First now", T1, position=0)
    assert section.lessons[0] is lesson
    event = only_event(course)
    assert isinstance(event, ev.LessonAdded)
    assert (event.section_id, event.lesson_id, event.title, event.position) == (section.id, lesson.id, "First now", 0)


def test_add_lesson_to_an_unknown_section_is_not_found() -> None:
    course = a_course()
    with pytest.raises(NotFound):
        course.add_lesson(uuid.uuid4(), "Lost", T1)
    assert course.pending_events == []


def test_a_course_has_at_most_the_maximum_number_of_lessons() -> None:
    course = a_course(sections=1, lessons=0)
    section = course.sections[0]
    for n in range(LESSONS_MAX):
        course.add_lesson(section.id, f"L{n}", T1)
    course.pull_events()
    with pytest.raises(Conflict):
        course.add_lesson(section.id, "One too many", T1)
    assert course.lesson_count == LESSONS_MAX


def test_rename_lesson_records_lesson_renamed() -> None:
    course = a_course(lessons=2)
    section = course.sections[0]
    lesson = section.lessons[1]
    course.rename_lesson(section.id, lesson.id, "Better", T1)
    event = only_event(course)
    assert isinstance(event, ev.LessonRenamed)
    assert (event.lesson_id, event.title) == (lesson.id, "Better")
    assert lesson.title == "Better"


def test_rename_lesson_in_the_wrong_section_is_not_found() -> None:
    course = a_course(sections=2, lessons=1)
    lesson = course.sections[0].lessons[0]
    with pytest.raises(NotFound):
        course.rename_lesson(course.sections[1].id, lesson.id, "x", T1)


def test_reorder_lessons_records_the_new_order() -> None:
    course = a_course(lessons=3)
    section = course.sections[0]
    a, b, c = (lesson.id for lesson in section.lessons)
    course.reorder_lessons(section.id, [b, c, a], T1)
    assert [lesson.id for lesson in section.lessons] == [b, c, a]
    event = only_event(course)
    assert isinstance(event, ev.LessonsReordered)
    assert (event.section_id, event.lesson_ids) == (section.id, [b, c, a])


def test_remove_lesson_records_lesson_removed() -> None:
    course = a_course(lessons=2)
    section = course.sections[0]
    lesson = section.lessons[0]
    course.remove_lesson(section.id, lesson.id, T1)
    assert lesson not in section.lessons
    event = only_event(course)
    assert isinstance(event, ev.LessonRemoved)
    assert (event.section_id, event.lesson_id) == (section.id, lesson.id)


def test_removing_the_last_lesson_of_a_published_course_is_refused() -> None:
    course = a_course(lessons=1, status=CourseStatus.PUBLISHED)
    section = course.sections[0]
    before = state(course)
    with pytest.raises(Conflict, match="last lesson"):
        course.remove_lesson(section.id, section.lessons[0].id, T1)
    assert state(course) == before
    assert course.pending_events == []


def test_removing_the_last_lesson_of_a_draft_is_allowed() -> None:
    course = a_course(lessons=1)
    section = course.sections[0]
    course.remove_lesson(section.id, section.lessons[0].id, T1)
    assert course.lesson_count == 0


# -- lifecycle ---------------------------------------------------------------------


def test_publish_records_course_published() -> None:
    course = a_course(slug="ready-course")
    course.publish(T1)
    assert (course.status, course.published_at, course.updated_at) == (CourseStatus.PUBLISHED, T1, T1)
    event = only_event(course)
    assert isinstance(event, ev.CoursePublished)
    assert (event.slug, event.published_at, event.aggregate_id, event.occurred_at) == (
        "ready-course",
        T1,
        course.id,
        T1,
    )


@pytest.mark.parametrize(("sections", "lessons"), [(0, 0), (2, 0)])
def test_publishing_without_a_lesson_is_refused(sections: int, lessons: int) -> None:
    course = a_course(sections=sections, lessons=lessons)
    with pytest.raises(Conflict, match="lesson"):
        course.publish(T1)
    assert course.status is CourseStatus.DRAFT
    assert course.published_at is None
    assert course.pending_events == []


def test_publishing_twice_is_refused() -> None:
    course = a_course(status=CourseStatus.PUBLISHED)
    with pytest.raises(Conflict):
        course.publish(T1)
    assert course.pending_events == []


def test_unpublish_records_course_unpublished() -> None:
    course = a_course(status=CourseStatus.PUBLISHED)
    course.unpublish(T1)
    assert course.status is CourseStatus.DRAFT
    event = only_event(course)
    assert isinstance(event, ev.CourseUnpublished)
    assert (event.aggregate_id, event.occurred_at) == (course.id, T1)


def test_unpublishing_a_draft_is_refused() -> None:
    course = a_course()
    with pytest.raises(Conflict):
        course.unpublish(T1)
    assert course.pending_events == []


@pytest.mark.parametrize("status", [CourseStatus.DRAFT, CourseStatus.PUBLISHED])
def test_archive_records_course_archived(status: CourseStatus) -> None:
    course = a_course(status=status)
    course.archive(T1)
    assert course.status is CourseStatus.ARCHIVED
    event = only_event(course)
    assert isinstance(event, ev.CourseArchived)
    assert (event.aggregate_id, event.occurred_at) == (course.id, T1)


def test_mark_deleted_records_course_deleted_for_a_draft() -> None:
    course = a_course(slug="doomed-course")
    course.mark_deleted(T1)
    event = only_event(course)
    assert isinstance(event, ev.CourseDeleted)
    assert (event.slug, event.aggregate_id) == ("doomed-course", course.id)


@pytest.mark.parametrize("status", [CourseStatus.PUBLISHED, CourseStatus.ARCHIVED])
def test_only_a_draft_can_be_deleted(status: CourseStatus) -> None:
    course = a_course(status=status)
    with pytest.raises(Conflict, match="draft"):
        course.mark_deleted(T1)
    assert course.pending_events == []


# -- an archived course is read-only -------------------------------------------------


def _s(c: Course) -> uuid.UUID:
    return c.sections[0].id


def _l(c: Course) -> uuid.UUID:
    return c.sections[0].lessons[0].id


ARCHIVED_EDITS: dict[str, Callable[[Course], object]] = {
    "change title": lambda c: c.change_details(T1, title="New"),
    "restate title": lambda c: c.change_details(T1, title=c.title),
    "change slug": lambda c: c.change_details(T1, slug="other-slug"),
    "change tags": lambda c: c.change_details(T1, tags=["new"]),
    "add section": lambda c: c.add_section("New", T1),
    "rename section": lambda c: c.rename_section(_s(c), "New", T1),
    "reorder sections": lambda c: c.reorder_sections([s.id for s in reversed(c.sections)], T1),
    "remove section": lambda c: c.remove_section(c.sections[-1].id, T1),
    "add lesson": lambda c: c.add_lesson(_s(c), "New", T1),
    "rename lesson": lambda c: c.rename_lesson(_s(c), _l(c), "New", T1),
    "reorder lessons": lambda c: c.reorder_lessons(_s(c), [x.id for x in reversed(c.sections[0].lessons)], T1),
    "remove lesson": lambda c: c.remove_lesson(_s(c), _l(c), T1),
    "publish": lambda c: c.publish(T1),
    "unpublish": lambda c: c.unpublish(T1),
    "archive again": lambda c: c.archive(T1),
    "delete": lambda c: c.mark_deleted(T1),
}


@pytest.mark.parametrize("edit", ARCHIVED_EDITS.values(), ids=ARCHIVED_EDITS.keys())
def test_an_archived_course_cannot_be_changed_in_any_way(edit: Callable[[Course], object]) -> None:
    course = a_course(sections=2, lessons=2, status=CourseStatus.ARCHIVED)
    before = state(course)
    with pytest.raises(Conflict):
        edit(course)
    assert state(course) == before
    assert course.pending_events == []


# -- value rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    ["", "   ", "x" * (TITLE_MAX + 1), "bell\x07inside", "new\nline"],
    ids=["empty", "blank", "long", "bell", "nl"],
)
def test_invalid_titles_are_refused(title: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        Course.create(title=title, slug="valid-slug", at=T0)
    assert [e.field for e in info.value.errors] == ["title"]


def test_title_is_trimmed_and_may_be_as_long_as_the_maximum() -> None:
    assert check_title(" " + "x" * TITLE_MAX + " ") == "x" * TITLE_MAX
    assert check_title("Café & Crème — 2nd edition") == "Café & Crème — 2nd edition"


@pytest.mark.parametrize(
    "slug",
    ["ab", "a" * 81, "Upper-case", "double--hyphen", "-leading", "trailing-", "under_score", "spa ce", "café-x", ""],
)
def test_invalid_slugs_are_refused(slug: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        Course.create(title="Title", slug=slug, at=T0)
    assert [e.field for e in info.value.errors] == ["slug"]


@pytest.mark.parametrize("slug", ["abc", "a-b", "python-3-for-data", "0" * 80, "x1-2y"])
def test_valid_slugs_are_accepted_unchanged(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Intro to SQL", "intro-to-sql"),
        ("Crème brûlée 101!", "creme-brulee-101"),
        ("  --Hello__World--  ", "hello-world"),
        ("a", "a-course"),
        ("Курс по Java", "kurs-po-java"),  # noqa: RUF001
        ("日本語", "ri-ben-yu"),
        ("!!!", "course"),
        ("x" * 100, "x" * 80),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


@pytest.mark.parametrize(
    ("base", "number", "slug"),
    [
        ("intro", 1, "intro"),
        ("intro", 2, "intro-2"),
        ("intro", 12, "intro-12"),
        ("x" * 80, 2, "x" * 78 + "-2"),
        ("a" * 77 + "-bc", 10, "a" * 77 + "-10"),
    ],
)
def test_slug_with_suffix_stays_a_valid_slug(base: str, number: int, slug: str) -> None:
    assert slug_with_suffix(base, number) == slug
    assert check_slug(slug) == slug


def test_first_free_slug_skips_the_taken_ones() -> None:
    assert first_free_slug("intro", set()) == "intro"
    assert first_free_slug("intro", {"intro", "intro-2", "intro-4", "introduction"}) == "intro-3"


@pytest.mark.parametrize(
    ("raw", "stored"), [("en", "en"), ("EN", "en"), (" pt-BR ", "pt-br"), ("zh-hant-tw", "zh-hant-tw")]
)
def test_languages_are_normalised(raw: str, stored: str) -> None:
    assert check_language(raw) == stored


@pytest.mark.parametrize("language", ["", "e", "english", "en_US", "en-", "12", "en-x" + "y" * 40])
def test_invalid_languages_are_refused(language: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        Course.create(title="Title", slug="valid-slug", at=T0, language=language)
    assert [e.field for e in info.value.errors] == ["language"]


def test_tags_are_trimmed_lowercased_and_deduplicated_in_order() -> None:
    assert check_tags([" Python ", "data   Science", "python", "C++", "c#", "DATA SCIENCE"]) == [
        "python",
        "data science",
        "c++",
        "c#",
    ]


@pytest.mark.parametrize(
    "tags",
    [
        ["ok", ""],
        ["  "],
        ["x" * (TAG_MAX + 1)],
        ["no/slash"],
        ["-leading"],
        ["émoji"],
        [f"t{n}" for n in range(TAGS_MAX + 1)],
    ],
    ids=["empty", "blank", "long", "slash", "leading-hyphen", "non-ascii", "too-many"],
)
def test_invalid_tags_are_refused(tags: list[str]) -> None:
    with pytest.raises(ValidationFailed) as info:
        Course.create(title="Title", slug="valid-slug", at=T0, tags=tags)
    assert [e.field for e in info.value.errors] == ["tags"]


def test_duplicates_do_not_count_towards_the_tag_limit() -> None:
    assert len(check_tags([f"t{n % TAGS_MAX}" for n in range(TAGS_MAX * 2)])) == TAGS_MAX


def test_summary_longer_than_the_maximum_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        Course.create(title="Title", slug="valid-slug", at=T0, summary="s" * (SUMMARY_MAX + 1))
    assert [e.field for e in info.value.errors] == ["summary"]
