"""Content gating: the one decision (``decide``), what outlines and lesson reads show, and ``view_as``."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.course.commands import (
    CourseRef,
    CourseSpec,
    LessonContentSpec,
    LessonSpec,
    SectionSpec,
    SetLessonContent,
    SetSectionRelease,
)
from elearning_core.course.gating import (
    OUTSIDER,
    STAFF,
    ContentGate,
    Viewer,
    decide,
    decide_any,
    gate_outline,
    lessons_with,
)
from elearning_core.course.model import Access, Course, CourseStatus, SectionRelease
from elearning_core.course.service import CourseService
from elearning_core.shared.errors import ContentLocked, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.ports import ANONYMOUS, Principal
from tests.fakes import (
    ADMIN,
    T0,
    CourseStore,
    InMemoryCatalogQueries,
    InMemoryEnrollmentDates,
    SettableClock,
    a_course,
    a_service,
    seed_course,
)

DAY = timedelta(days=1)
LEARNER = Principal(subject="user:7", roles=frozenset({"learner"}), user_id=uuid.UUID(int=7))
STRANGER = Principal(subject="user:8", roles=frozenset({"learner"}), user_id=uuid.UUID(int=8))
SECRET = "secret-lesson-text-4711"

# -- the decision -----------------------------------------------------------------------------

NONE = SectionRelease()
AT = SectionRelease(release_at=T0 + 3 * DAY)
AFTER_7 = SectionRelease(release_after_days=7)


@pytest.mark.parametrize(
    ("viewer", "preview", "release", "expected"),
    [
        (STAFF, False, AT, (Access.OPEN, None)),
        (STAFF, False, AFTER_7, (Access.OPEN, None)),
        (OUTSIDER, True, AT, (Access.OPEN, None)),  # a preview is open to everyone, release or not
        (OUTSIDER, False, NONE, (Access.ENROLLMENT_REQUIRED, None)),
        (OUTSIDER, False, AT, (Access.ENROLLMENT_REQUIRED, None)),
        (Viewer(enrolled_at=T0 - DAY), False, NONE, (Access.OPEN, None)),
        (Viewer(enrolled_at=T0 - DAY), False, AT, (Access.NOT_YET_RELEASED, T0 + 3 * DAY)),
        (Viewer(enrolled_at=T0 - DAY), False, AFTER_7, (Access.NOT_YET_RELEASED, T0 + 6 * DAY)),
        (Viewer(enrolled_at=T0 - 7 * DAY), False, AFTER_7, (Access.OPEN, None)),  # exactly at the release: open
        (Viewer(enrolled_at=T0 - 8 * DAY), False, AFTER_7, (Access.OPEN, None)),
    ],
)
def test_the_decision(viewer: Viewer, preview: bool, release: SectionRelease, expected: tuple[object, object]) -> None:
    decision = decide(viewer, preview=preview, release=release, now=T0)
    assert (decision.access, decision.available_at) == expected
    assert decision.allowed is (expected[0] is Access.OPEN)


@given(
    enrolled_days_ago=st.integers(min_value=0, max_value=400),
    after_days=st.integers(min_value=0, max_value=400),
)
def test_relative_release_opens_exactly_after_the_days(enrolled_days_ago: int, after_days: int) -> None:
    viewer = Viewer(enrolled_at=T0 - enrolled_days_ago * DAY)
    decision = decide(viewer, preview=False, release=SectionRelease(release_after_days=after_days), now=T0)
    assert decision.allowed is (enrolled_days_ago >= after_days)
    if not decision.allowed:
        assert decision.available_at == T0 + (after_days - enrolled_days_ago) * DAY


def test_release_values_are_checked() -> None:
    with pytest.raises(ValidationFailed) as both:
        SectionRelease.checked(T0, 3)
    assert both.value.errors[0].field == "release_after_days"
    with pytest.raises(ValidationFailed) as naive:
        SectionRelease.checked(datetime(2027, 1, 1))
    assert naive.value.errors[0].field == "release_at"
    with pytest.raises(ValidationFailed):
        SectionRelease.checked(None, -1)


# -- a published course with a preview, a dated section and a self-paced one -----------------


def gated_course(store: CourseStore) -> Course:
    """Section 1: a preview lesson and a plain one; section 2: opens at T0 + 3 days; section 3: 7 days in."""
    course = a_course(sections=3, lessons=2)
    seed_course(store, course)
    return course


async def author(service: CourseService, course: Course) -> None:
    for section in course.sections:
        for n, lesson in enumerate(section.lessons):
            preview = section is course.sections[0] and n == 0
            await service.set_lesson_content(
                ADMIN,
                SetLessonContent(
                    course_id=course.id,
                    section_id=section.id,
                    lesson_id=lesson.id,
                    body_markdown=f"{SECRET} {lesson.title}",
                    attachments=[
                        {
                            "name": "notes.pdf",
                            "url": "https://x.example/n.pdf",
                            "size_bytes": 1,
                            "content_type": "application/pdf",
                        }
                    ],  # type: ignore[list-item]
                    duration_seconds=60,
                    preview=preview,
                ),
            )
    s2, s3 = course.sections[1].id, course.sections[2].id
    await service.set_section_release(
        ADMIN, SetSectionRelease(course_id=course.id, section_id=s2, release_at=T0 + 3 * DAY)
    )
    await service.set_section_release(
        ADMIN, SetSectionRelease(course_id=course.id, section_id=s3, release_after_days=7)
    )
    await service.publish(ADMIN, CourseRef(course_id=course.id))


@pytest.fixture
def world() -> tuple[CourseStore, CourseService, InMemoryEnrollmentDates, SettableClock]:
    store, enrollments, clock = CourseStore(), InMemoryEnrollmentDates(), SettableClock(T0)
    return store, a_service(store, clock=clock, enrollments=enrollments), enrollments, clock


def accesses(outline: object) -> list[list[str]]:
    return [[lesson.access.value for lesson in section.lessons] for section in outline.sections]  # type: ignore[attr-defined]


async def test_outsiders_see_titles_kinds_durations_and_the_preview_only(world) -> None:  # type: ignore[no-untyped-def]
    store, service, _, _ = world
    course = gated_course(store)
    await author(service, course)
    for reader in (ANONYMOUS, STRANGER):
        outline = await service.get_outline(reader, course.id)
        assert accesses(outline) == [["open", "enrollment_required"]] + [["enrollment_required"] * 2] * 2
        preview, locked = outline.sections[0].lessons
        assert SECRET in preview.body_html
        assert preview.attachments
        for section in outline.sections:
            for lesson in section.lessons[1 if section is outline.sections[0] else 0 :]:
                assert (lesson.body_html, lesson.attachments, lesson.video_id, lesson.assessment_id) == (
                    "",
                    [],
                    None,
                    None,
                )
                assert (lesson.title, lesson.kind.value, lesson.duration_seconds) != ("", "", None)
        # Learners see the release dates (the absolute one as a date; no personal date without an enrollment).
        assert [(s.release_at, s.release_after_days, s.available_at) for s in outline.sections] == [
            (None, None, None),
            (T0 + 3 * DAY, None, None),
            (None, 7, None),
        ]
        with pytest.raises(ContentLocked) as refused:
            await service.get_lesson(reader, course.id, locked.id)
        assert (refused.value.reason, refused.value.available_at) == ("enrollment-required", None)
        assert isinstance(refused.value, PermissionDenied)
        assert SECRET in (await service.get_lesson(reader, course.id, preview.id)).body_html


async def test_enrolled_learners_wait_for_each_release(world) -> None:  # type: ignore[no-untyped-def]
    store, service, enrollments, clock = world
    course = gated_course(store)
    await author(service, course)
    enrollments.enroll(LEARNER.user_id, course.id, T0 - DAY)  # type: ignore[arg-type]

    outline = await service.get_outline(LEARNER, course.id)
    assert accesses(outline) == [["open", "open"], ["not_yet_released"] * 2, ["not_yet_released"] * 2]
    assert [s.available_at for s in outline.sections] == [None, T0 + 3 * DAY, T0 + 6 * DAY]
    assert SECRET not in json.dumps([lesson.body_html for s in outline.sections[1:] for lesson in s.lessons])
    with pytest.raises(ContentLocked) as refused:
        await service.get_lesson(LEARNER, course.id, course.sections[2].lessons[0].id)
    assert (refused.value.reason, refused.value.available_at) == ("not-yet-released", T0 + 6 * DAY)

    clock.set(T0 + 3 * DAY)
    assert accesses(await service.get_outline(LEARNER, course.id))[1:] == [["open"] * 2, ["not_yet_released"] * 2]
    clock.set(T0 + 6 * DAY)
    assert accesses(await service.get_outline(LEARNER, course.id)) == [["open"] * 2] * 3
    lesson = await service.get_lesson(LEARNER, course.id, course.sections[2].lessons[1].id)
    assert SECRET in lesson.body_html


async def test_staff_are_never_held_back_and_can_read_as_a_learner(world) -> None:  # type: ignore[no-untyped-def]
    store, service, enrollments, _ = world
    course = gated_course(store)
    await author(service, course)
    draft = await service.get_outline(ADMIN, course.id)
    assert accesses(draft) == [["open"] * 2] * 3
    assert (await service.get_lesson(ADMIN, course.id, course.sections[2].lessons[0].id)).body_markdown
    published = await service.get_outline(ADMIN, course.id, "published")
    assert accesses(published) == [["open"] * 2] * 3

    as_learner = await service.get_outline(ADMIN, course.id, None, "learner")
    # Enrolled now: the dated section and the 7-day one are still closed.
    assert accesses(as_learner) == [["open", "open"], ["not_yet_released"] * 2, ["not_yet_released"] * 2]
    assert [s.available_at for s in as_learner.sections] == [None, T0 + 3 * DAY, T0 + 7 * DAY]
    assert as_learner.version_number == 1
    with pytest.raises(ContentLocked):
        await service.get_lesson(ADMIN, course.id, course.sections[1].lessons[0].id, "learner")
    # view_as changes nothing for learners: they are always gated as themselves.
    assert accesses(await service.get_outline(STRANGER, course.id, None, "learner"))[0] == [
        "open",
        "enrollment_required",
    ]
    assert enrollments.reads >= 1


async def test_unknown_and_draft_lessons_are_not_found(world) -> None:  # type: ignore[no-untyped-def]
    store, service, _, _ = world
    course = gated_course(store)
    await author(service, course)
    new = await service.add_lesson(ADMIN, _add_lesson(course))  # only in the draft
    for reader in (ANONYMOUS, STRANGER):
        for lesson_id in (uuid.uuid4(), new.id):
            with pytest.raises(NotFound):
                await service.get_lesson(reader, course.id, lesson_id)
    draft_only = a_course(lessons=1)
    seed_course(store, draft_only)
    with pytest.raises(NotFound):
        await service.get_lesson(ANONYMOUS, draft_only.id, draft_only.sections[0].lessons[0].id)


def _add_lesson(course: Course):  # type: ignore[no-untyped-def]
    from elearning_core.course.commands import AddLesson

    return AddLesson(course_id=course.id, section_id=course.sections[0].id, title="Draft only")


async def test_an_enrolled_learner_costs_one_enrollment_read_and_anonymous_none(world) -> None:  # type: ignore[no-untyped-def]
    store, service, enrollments, _ = world
    course = gated_course(store)
    await author(service, course)
    enrollments.enroll(LEARNER.user_id, course.id, T0)  # type: ignore[arg-type]
    await service.get_outline(ANONYMOUS, course.id)
    assert enrollments.reads == 0
    await service.get_outline(LEARNER, course.id)
    assert enrollments.reads == 1


async def test_release_and_preview_are_versioned_like_content(world) -> None:  # type: ignore[no-untyped-def]
    store, service, _, _ = world
    course = gated_course(store)
    await author(service, course)
    s1 = course.sections[0]
    await service.set_section_release(
        ADMIN, SetSectionRelease(course_id=course.id, section_id=s1.id, release_after_days=30)
    )
    draft = await service.get_outline(ADMIN, course.id)
    assert (draft.sections[0].release_after_days, draft.has_unpublished_changes) == (30, True)
    # Learners still read version 1, where section 1 has no release date.
    assert (await service.get_outline(ANONYMOUS, course.id)).sections[0].release_after_days is None
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    assert (await service.get_outline(ANONYMOUS, course.id)).sections[0].release_after_days == 30


async def test_import_sets_preview_and_release(world) -> None:  # type: ignore[no-untyped-def]
    _, service, _, _ = world
    spec = CourseSpec(
        slug="imported-gated",
        title="Imported",
        status=CourseStatus.PUBLISHED,
        sections=[
            SectionSpec(
                title="S",
                release_after_days=2,
                lessons=[LessonSpec(title="L", content=LessonContentSpec(body_markdown=SECRET, preview=True))],
            )
        ],
    )
    [course] = await service.import_courses(ADMIN, [spec])
    outline = await service.get_outline(ANONYMOUS, course.id)
    assert (outline.sections[0].release_after_days, outline.sections[0].lessons[0].preview) == (2, True)
    assert SECRET in outline.sections[0].lessons[0].body_html


# -- other modules' material, through the content gate ---------------------------------------


async def test_the_content_gate_decides_material_by_the_lessons_that_show_it(world) -> None:  # type: ignore[no-untyped-def]
    store, service, enrollments, _ = world
    course = gated_course(store)
    video, quiz, loose = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    s1, s2 = course.sections[0], course.sections[1]
    for section, lesson, content in (
        (s1, s1.lessons[0], {"kind": "video", "video_id": video, "preview": True}),
        (s2, s2.lessons[0], {"kind": "assessment", "assessment_id": quiz}),
    ):
        await service.set_lesson_content(
            ADMIN, SetLessonContent(course_id=course.id, section_id=section.id, lesson_id=lesson.id, **content)
        )
    await service.set_section_release(
        ADMIN, SetSectionRelease(course_id=course.id, section_id=s2.id, release_at=T0 + DAY)
    )
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    gate = ContentGate(InMemoryCatalogQueries(store), enrollments)
    outline = await InMemoryCatalogQueries(store).published_outline(course.id)
    assert outline is not None
    assert [g.lesson.id for g in lessons_with(outline, video_id=video)] == [s1.lessons[0].id]

    async def decide_for(user: uuid.UUID | None, **material: uuid.UUID) -> tuple[str, datetime | None]:
        decision = await gate.material(course.id, user, T0, staff=False, **material)
        return decision.access.value, decision.available_at

    user = uuid.UUID(int=7)
    assert await decide_for(None, video_id=video) == ("open", None)  # shown by a preview lesson
    assert await decide_for(None, assessment_id=quiz) == ("enrollment_required", None)
    assert await decide_for(None, video_id=loose) == ("enrollment_required", None)  # in no lesson: course material
    enrollments.enroll(user, course.id, T0 - DAY)
    assert await decide_for(user, assessment_id=quiz) == ("not_yet_released", T0 + DAY)
    assert await decide_for(user, video_id=loose) == ("open", None)
    assert (await gate.material(course.id, None, T0, staff=True, assessment_id=quiz)).allowed
    await service.unpublish(ADMIN, CourseRef(course_id=course.id))
    with pytest.raises(NotFound):
        await gate.material(course.id, user, T0, staff=False, assessment_id=quiz)


def test_decide_any_takes_the_most_open_lesson() -> None:
    assert decide_any([], OUTSIDER, T0).access is Access.ENROLLMENT_REQUIRED
    assert decide_any([], Viewer(enrolled_at=T0), T0).allowed


def test_gating_an_open_outline_copies_nothing(world) -> None:  # type: ignore[no-untyped-def]
    store, _, _, _ = world
    course = a_course(lessons=2, status=CourseStatus.PUBLISHED)
    seed_course(store, course)
    from elearning_core.course.queries import outline_of

    outline = outline_of(course)
    assert gate_outline(outline, Viewer(enrolled_at=T0), T0) is outline
    assert gate_outline(outline, STAFF, T0) is outline
    assert gate_outline(outline, OUTSIDER, T0) is not outline
