"""Conditional release: requirement values, the course-wide checks, the evaluator, and gating with them."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.course import events as ev
from elearning_core.course.commands import (
    CourseRef,
    CourseSpec,
    LessonContentSpec,
    LessonRequirementSpec,
    LessonSpec,
    PreviousRequirementSpec,
    QuizRequirementSpec,
    SectionSpec,
    SetLessonContent,
    SetLessonRequirements,
    SetSectionRequirements,
)
from elearning_core.course.gating import STAFF, ContentGate, Viewer, gate_outline, require_open
from elearning_core.course.model import Access, Course, CourseStatus, LessonContent
from elearning_core.course.queries import CourseOutline, outline_of
from elearning_core.course.requirements import (
    LearnerFacts,
    NoFactsReader,
    Requirement,
    RequirementKind,
    evaluate,
)
from elearning_core.course.service import CourseService
from elearning_core.shared.errors import Conflict, ContentLocked, ValidationFailed
from elearning_core.shared.ports import Principal
from tests.fakes import (
    ADMIN,
    T0,
    CourseStore,
    InMemoryCatalogQueries,
    InMemoryEnrollmentDates,
    InMemoryLearnerFacts,
    a_course,
    a_service,
    seed_course,
)

LEARNER = Principal(subject="user:7", roles=frozenset({"learner"}), user_id=uuid.UUID(int=7))
QUIZ = uuid.UUID(int=900)
PREVIOUS = Requirement(RequirementKind.PREVIOUS)


def lesson_req(lesson_id: uuid.UUID) -> Requirement:
    return Requirement(RequirementKind.LESSON, lesson_id=lesson_id)


def quiz_req(min_percent: float | None = None) -> Requirement:
    return Requirement(RequirementKind.QUIZ, assessment_id=QUIZ, min_percent=min_percent)


def ids(course: Course) -> list[list[uuid.UUID]]:
    return [[lesson.id for lesson in s.lessons] for s in course.sections]


def with_quiz(course: Course, section: int = 0, lesson: int = 0) -> None:
    """Lesson (section, lesson) shows the assessment QUIZ."""
    s = course.sections[section]
    course.set_lesson_content(
        s.id, s.lessons[lesson].id, LessonContent.checked(kind="assessment", assessment_id=QUIZ), T0
    )


# -- the values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "someday"}, "requirements.0.kind"),
        ({"kind": "lesson"}, "requirements.0.lesson_id"),
        ({"kind": "quiz"}, "requirements.0.assessment_id"),
        ({"kind": "quiz", "assessment_id": QUIZ, "min_percent": 101}, "requirements.0.min_percent"),
        ({"kind": "quiz", "assessment_id": QUIZ, "min_percent": -1}, "requirements.0.min_percent"),
        ({"kind": "previous", "lesson_id": QUIZ}, "requirements.0.lesson_id"),
        ({"kind": "lesson", "lesson_id": QUIZ, "min_percent": 5}, "requirements.0.min_percent"),
    ],
)
def test_a_bad_requirement_names_its_field(kwargs: dict[str, object], field: str) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(ValidationFailed) as failure:
        Requirement.checked(kind, **kwargs)  # type: ignore[arg-type]
    assert failure.value.errors[0].field == field


def test_requirements_round_trip_through_json() -> None:
    for r in (PREVIOUS, lesson_req(uuid.UUID(int=1)), quiz_req(), quiz_req(72.5)):
        assert Requirement.from_json(r.to_json()) == r


# -- the course-wide rules ----------------------------------------------------------------------


def test_setting_requirements_records_one_event_and_marks_the_draft_changed() -> None:
    course = a_course(sections=2, lessons=2, status=CourseStatus.PUBLISHED)
    [[a, b], [c, _]] = ids(course)
    course.set_lesson_requirements(course.sections[1].id, c, [PREVIOUS, lesson_req(a)], T0)
    [event] = course.pull_events()
    assert isinstance(event, ev.RequirementsChanged)
    assert event.type == "course.requirements_changed.v1"
    assert (event.section_id, event.lesson_id) == (course.sections[1].id, c)
    assert event.requirements == [{"kind": "previous"}, {"kind": "lesson", "lesson_id": str(a)}]
    assert course.has_unpublished_changes
    course.set_lesson_requirements(course.sections[1].id, c, [PREVIOUS, lesson_req(a)], T0)
    assert course.pull_events() == []  # the same list again changes nothing
    assert b  # (unused lesson, kept for the unpacking)


@pytest.mark.parametrize(
    ("where", "make", "message"),
    [
        ("lesson", lambda ids: [lesson_req(uuid.UUID(int=5))], "is not a lesson of this course"),
        ("lesson", lambda ids: [lesson_req(ids[0][1])], "a lesson cannot require itself"),
        ("first", lambda ids: [PREVIOUS], "the course's first lesson has no previous one"),
        ("section0", lambda ids: [PREVIOUS], "the first section has no previous section"),
        ("section1", lambda ids: [lesson_req(ids[1][0])], "names a lesson of this very section"),
        ("lesson", lambda ids: [quiz_req()], "is not an assessment shown by a lesson of this course"),
        ("lesson", lambda ids: [PREVIOUS, PREVIOUS], "must not repeat a requirement"),
    ],
)
def test_requirements_that_cannot_hold_are_refused_and_nothing_changes(where: str, make, message: str) -> None:  # type: ignore[no-untyped-def]
    course = a_course(sections=2, lessons=2)
    lesson_ids = ids(course)
    s0, s1 = course.sections
    requirements = make(lesson_ids)
    if where in ("lesson", "first"):
        lesson_id = lesson_ids[0][1] if where == "lesson" else lesson_ids[0][0]

        def change() -> None:
            course.set_lesson_requirements(s0.id, lesson_id, requirements, T0)
    else:

        def change() -> None:
            course.set_section_requirements((s0 if where == "section0" else s1).id, requirements, T0)

    with pytest.raises(ValidationFailed) as failure:
        change()
    assert message in failure.value.errors[0].message
    assert failure.value.errors[0].field.startswith("requirements")
    assert all(not s.requirements and not any(x.requirements for x in s.lessons) for s in course.sections)
    assert course.pull_events() == []


def test_a_cycle_is_refused_naming_the_lessons_in_it() -> None:
    course = a_course(sections=2, lessons=2)
    [[a, b], [c, d]] = ids(course)
    s0, s1 = course.sections
    course.set_lesson_requirements(s0.id, a, [lesson_req(d)], T0)  # fine alone: a later lesson
    with pytest.raises(ValidationFailed) as failure:
        course.set_section_requirements(s1.id, [PREVIOUS], T0)  # d waits on a, a waits on d
    assert "cycle" in failure.value.errors[0].message
    assert "'Lesson 1.1'" in failure.value.errors[0].message
    assert "'Lesson 2.2'" in failure.value.errors[0].message
    with pytest.raises(ValidationFailed):
        course.set_lesson_requirements(s1.id, d, [lesson_req(a)], T0)  # a <-> d directly
    with_quiz(course, 1, 1)  # d shows the quiz: requiring it in a is waiting on d again
    course.set_lesson_requirements(s0.id, a, [], T0)
    course.set_lesson_requirements(s1.id, c, [quiz_req(50)], T0)  # c waits on d's quiz: fine
    with pytest.raises(ValidationFailed):
        course.set_lesson_requirements(s1.id, d, [PREVIOUS], T0)  # d waits on c which waits on d
    assert b


def test_removing_a_named_lesson_drops_the_requirements_naming_it() -> None:
    course = a_course(sections=2, lessons=2)
    [[a, b], [c, _]] = ids(course)
    s0, s1 = course.sections
    course.set_section_requirements(s1.id, [PREVIOUS, lesson_req(b)], T0)
    course.set_lesson_requirements(s0.id, b, [lesson_req(a)], T0)
    course.pull_events()
    course.remove_lesson(s0.id, a, T0)
    assert s0.lessons[0].requirements == ()
    events = course.pull_events()
    assert [type(e) for e in events] == [ev.LessonRemoved, ev.RequirementsChanged]
    course.remove_section(s0.id, T0)
    assert course.sections[0].requirements == (PREVIOUS,)  # the ``previous`` stays; the named lesson went
    assert c


def test_publish_refuses_requirements_broken_by_later_edits_and_snapshots_valid_ones() -> None:
    course = a_course(sections=2, lessons=2)
    [[a, b], [c, _]] = ids(course)
    s0, s1 = course.sections
    with_quiz(course, 0, 1)
    course.set_lesson_requirements(s1.id, c, [quiz_req(80)], T0)
    course.set_section_requirements(s1.id, [PREVIOUS], T0)
    course.set_lesson_content(s0.id, b, LessonContent(), T0)
    with pytest.raises(Conflict, match="no longer hold"):
        course.publish(T0)
    with_quiz(course, 0, 1)
    version = course.publish(T0)
    snap = version.snapshot["sections"]
    assert snap[1]["requirements"] == [{"kind": "previous"}]
    assert snap[1]["lessons"][0]["requirements"] == [{"kind": "quiz", "assessment_id": str(QUIZ), "min_percent": 80.0}]
    assert snap[0]["requirements"] is None
    assert snap[0]["lessons"][0]["requirements"] is None
    assert a


# -- the evaluator ------------------------------------------------------------------------------


def course_with_requirements() -> tuple[Course, list[list[uuid.UUID]]]:
    """Section 1: a, b (b requires the previous); section 2 requires the previous section: c (requires a
    quiz of b's, 80 %), d (requires lesson a)."""
    course = a_course(sections=2, lessons=2)
    [[a, b], [c, d]] = ids(course)
    s0, s1 = course.sections
    with_quiz(course, 0, 1)
    course.set_lesson_requirements(s0.id, b, [PREVIOUS], T0)
    course.set_section_requirements(s1.id, [PREVIOUS], T0)
    course.set_lesson_requirements(s1.id, c, [quiz_req(80)], T0)
    course.set_lesson_requirements(s1.id, d, [lesson_req(a)], T0)
    return course, [[a, b], [c, d]]


def test_nothing_done_locks_everything_but_the_first_lesson_with_the_reasons() -> None:
    course, [[a, b], [c, d]] = course_with_requirements()
    unmet = evaluate(outline_of(course), LearnerFacts())
    assert unmet[a] == ()
    assert [(u.kind, u.on, u.lesson_id, u.title) for u in unmet[b]] == [
        (RequirementKind.PREVIOUS, "lesson", a, "Lesson 1.1")
    ]
    [section_reason, quiz_reason] = unmet[c]
    assert (section_reason.kind, section_reason.on, section_reason.title) == (
        RequirementKind.PREVIOUS,
        "section",
        "Section 1",
    )
    assert section_reason.lesson_ids == [a, b]
    assert (quiz_reason.assessment_id, quiz_reason.min_percent, quiz_reason.best_percent, quiz_reason.passed) == (
        QUIZ,
        80.0,
        None,
        False,
    )
    assert quiz_reason.title == "Lesson 1.2"  # the lesson that shows the quiz
    assert [u.kind for u in unmet[d]] == [RequirementKind.PREVIOUS, RequirementKind.LESSON]
    assert evaluate(outline_of(course), LearnerFacts(), staff=True) == {a: (), b: (), c: (), d: ()}


def test_facts_open_lessons_one_requirement_at_a_time() -> None:
    course, [[a, b], [c, d]] = course_with_requirements()
    outline = outline_of(course)
    done_a = LearnerFacts(completed_lesson_ids=frozenset({a}))
    assert evaluate(outline, done_a)[b] == ()
    assert [u.lesson_ids for u in evaluate(outline, done_a)[d]] == [[b]]  # the section's previous: b left
    both = LearnerFacts(completed_lesson_ids=frozenset({a, b}))
    assert evaluate(outline, both)[d] == ()
    low = replace(both, best_quiz_percent={QUIZ: 79.0}, passed_quiz_ids=frozenset({QUIZ}))
    [reason] = evaluate(outline, low)[c]
    assert (reason.best_percent, reason.passed) == (79.0, True)
    high_not_passed = replace(both, best_quiz_percent={QUIZ: 95.0})
    assert evaluate(outline, high_not_passed)[c] != ()  # the score alone is not a pass
    assert evaluate(outline, replace(low, best_quiz_percent={QUIZ: 80.0}))[c] == ()


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_more_facts_never_lock_a_lesson_that_was_open(data: st.DataObject) -> None:
    """Monotone: any requirements, any facts, any more facts: what was open stays open."""
    course = a_course(sections=3, lessons=3)
    lesson_ids = [x for row in ids(course) for x in row]
    quizzes = [uuid.UUID(int=1000 + i) for i in range(3)]
    for s_index, section in enumerate(course.sections):
        for index, lesson in enumerate(section.lessons):
            lesson.content = replace(lesson.content, assessment_id=quizzes[(s_index + index) % 3])
    pool = (
        [PREVIOUS]
        + [lesson_req(x) for x in lesson_ids]
        + [
            Requirement(RequirementKind.QUIZ, assessment_id=q, min_percent=p)
            for q in quizzes
            for p in (None, 50.0, 90.0)
        ]
    )
    # Set directly on the values: the evaluator must be monotone for any outline, valid or not.
    for section in course.sections:
        section.requirements = tuple(data.draw(st.lists(st.sampled_from(pool), max_size=2, unique=True)))
        for lesson in section.lessons:
            lesson.requirements = tuple(data.draw(st.lists(st.sampled_from(pool), max_size=3, unique=True)))

    def facts() -> st.SearchStrategy[LearnerFacts]:
        return st.builds(
            LearnerFacts,
            completed_lesson_ids=st.frozensets(st.sampled_from(lesson_ids)),
            best_quiz_percent=st.dictionaries(st.sampled_from(quizzes), st.floats(0, 100)),
            passed_quiz_ids=st.frozensets(st.sampled_from(quizzes)),
        )

    before, extra = data.draw(facts()), data.draw(facts())
    after = LearnerFacts(
        completed_lesson_ids=before.completed_lesson_ids | extra.completed_lesson_ids,
        best_quiz_percent={
            q: max(before.best_quiz_percent.get(q, 0.0), extra.best_quiz_percent.get(q, 0.0))
            for q in {*before.best_quiz_percent, *extra.best_quiz_percent}
        },
        passed_quiz_ids=before.passed_quiz_ids | extra.passed_quiz_ids,
    )
    outline = outline_of(course)
    was, now = evaluate(outline, before), evaluate(outline, after)
    opened_before = {k for k, v in was.items() if not v}
    assert opened_before <= {k for k, v in now.items() if not v}
    assert all(len(now[k]) <= len(was[k]) for k in was)  # nor does any lesson gain a reason


# -- gating and the service ---------------------------------------------------------------------


@pytest.fixture
def world() -> tuple[CourseStore, CourseService, InMemoryEnrollmentDates, InMemoryLearnerFacts]:
    store, enrollments, facts = CourseStore(), InMemoryEnrollmentDates(), InMemoryLearnerFacts()
    return store, a_service(store, enrollments=enrollments, facts=facts), enrollments, facts


async def published(service: CourseService, store: CourseStore) -> tuple[Course, list[list[uuid.UUID]]]:
    """A course whose lesson 1.2 shows a quiz and 2.1 requires the previous lesson; lesson 1.1 a preview."""
    course = a_course(sections=2, lessons=2)
    seed_course(store, course)
    [[a, b], [c, d]] = ids(course)
    s0, s1 = course.sections
    await service.set_lesson_content(
        ADMIN, SetLessonContent(course_id=course.id, section_id=s0.id, lesson_id=a, body_markdown="intro", preview=True)
    )
    await service.set_lesson_content(
        ADMIN,
        SetLessonContent(
            course_id=course.id, section_id=s0.id, lesson_id=b, kind="assessment", assessment_id=QUIZ, body_markdown="q"
        ),
    )
    await service.set_lesson_content(
        ADMIN, SetLessonContent(course_id=course.id, section_id=s1.id, lesson_id=c, body_markdown="secret c")
    )
    view = await service.set_lesson_requirements(
        ADMIN,
        SetLessonRequirements(
            course_id=course.id, section_id=s1.id, lesson_id=c, requirements=[PreviousRequirementSpec(kind="previous")]
        ),
    )
    assert view.requirements == [PREVIOUS]
    section = await service.set_section_requirements(
        ADMIN,
        SetSectionRequirements(
            course_id=course.id,
            section_id=s1.id,
            requirements=[QuizRequirementSpec(kind="quiz", assessment_id=QUIZ, min_percent=60)],
        ),
    )
    assert section.requirements == [quiz_req(60)]
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    return course, [[a, b], [c, d]]


async def test_an_enrolled_learner_sees_locked_lessons_and_why_until_the_facts_open_them(world) -> None:  # type: ignore[no-untyped-def]
    store, service, enrollments, facts = world
    course, [[a, b], [c, d]] = await published(service, store)
    enrollments.enroll(LEARNER.user_id, course.id, T0)
    outline = await service.get_outline(LEARNER, course.id)
    access = {x.id: x for s in outline.sections for x in s.lessons}
    assert [access[i].access for i in (a, b, c, d)] == [Access.OPEN, Access.OPEN, Access.LOCKED, Access.LOCKED]
    assert access[c].body_html == ""
    assert [u.kind for u in access[c].unmet_requirements] == [RequirementKind.QUIZ, RequirementKind.PREVIOUS]
    assert outline.sections[1].requirements == [quiz_req(60)]
    with pytest.raises(ContentLocked) as refusal:
        await service.get_lesson(LEARNER, course.id, c)
    assert refusal.value.reason == "locked-by-requirement"
    assert "pass the quiz of 'Lesson 1.2' with at least 60%" in refusal.value.detail
    assert refusal.value.unmet_requirements is not None
    assert refusal.value.unmet_requirements[1] == {
        "kind": "previous",
        "on": "lesson",
        "title": "Lesson 1.2",
        "lesson_id": str(b),
    }

    facts.set(LEARNER.user_id, course.id, LearnerFacts(
        completed_lesson_ids=frozenset({b}), best_quiz_percent={QUIZ: 75.0}, passed_quiz_ids=frozenset({QUIZ})
    ))  # fmt: skip
    lesson = await service.get_lesson(LEARNER, course.id, c)
    assert (lesson.access, lesson.body_html) == (Access.OPEN, "<p>secret c</p>\n")
    assert (await service.get_lesson(LEARNER, course.id, d)).access is Access.OPEN


async def test_staff_outsiders_and_previews_are_not_held_by_requirements(world) -> None:  # type: ignore[no-untyped-def]
    store, service, _, facts = world
    course, [[a, _], [c, _]] = await published(service, store)
    assert (await service.get_lesson(ADMIN, course.id, c)).body_markdown == "secret c"
    outsider = await service.get_outline(LEARNER, course.id)
    assert {x.access for x in outsider.sections[1].lessons} == {Access.ENROLLMENT_REQUIRED}
    assert facts.reads == 0  # outsiders cost no read of the facts
    assert (await service.get_lesson(LEARNER, course.id, a)).access is Access.OPEN  # the preview
    as_learner = await service.get_outline(ADMIN, course.id, view_as="learner")
    assert as_learner.sections[1].lessons[0].access is Access.LOCKED  # staff can see what learners see


async def test_a_course_without_requirements_reads_no_facts(world) -> None:  # type: ignore[no-untyped-def]
    store, service, enrollments, facts = world
    course = a_course(sections=1, lessons=1, status=CourseStatus.PUBLISHED)
    seed_course(store, course)
    enrollments.enroll(LEARNER.user_id, course.id, T0)
    outline = await service.get_outline(LEARNER, course.id)
    assert outline.sections[0].lessons[0].access is Access.OPEN
    assert facts.reads == 0


async def test_material_shown_only_by_a_locked_lesson_is_locked_too(world) -> None:  # type: ignore[no-untyped-def]
    store, service, enrollments, facts = world
    course, [[a, b], _] = await published(service, store)
    s0 = course.sections[0]
    # Make the quiz's lesson itself require the (preview) lesson before it.
    await service.set_lesson_requirements(
        ADMIN,
        SetLessonRequirements(
            course_id=course.id, section_id=s0.id, lesson_id=b, requirements=[PreviousRequirementSpec(kind="previous")]
        ),
    )
    await service.publish(ADMIN, CourseRef(course_id=course.id))
    enrollments.enroll(LEARNER.user_id, course.id, T0)
    gate = ContentGate(InMemoryCatalogQueries(store), enrollments, facts)
    decision = await gate.material(course.id, LEARNER.user_id, T0, staff=False, assessment_id=QUIZ)
    assert decision.access is Access.LOCKED
    assert [u.lesson_id for u in decision.unmet] == [a]
    with pytest.raises(ContentLocked, match=r"complete the lesson 'Lesson 1\.1'"):
        require_open(decision, "quiz")
    facts.set(LEARNER.user_id, course.id, LearnerFacts(completed_lesson_ids=frozenset({a})))
    assert (await gate.material(course.id, LEARNER.user_id, T0, staff=False, assessment_id=QUIZ)).allowed
    no_facts = ContentGate(InMemoryCatalogQueries(store), enrollments, NoFactsReader())
    assert not (await no_facts.material(course.id, LEARNER.user_id, T0, staff=False, assessment_id=QUIZ)).allowed


def test_gate_outline_leaves_an_open_outline_untouched() -> None:
    course, _ = course_with_requirements()
    outline: CourseOutline = outline_of(course)
    assert gate_outline(outline, STAFF, T0) is outline
    everything = LearnerFacts(
        completed_lesson_ids=frozenset(x.id for s in outline.sections for x in s.lessons),
        best_quiz_percent={QUIZ: 100.0},
        passed_quiz_ids=frozenset({QUIZ}),
    )
    assert gate_outline(outline, Viewer(enrolled_at=T0, facts=everything), T0) is outline


# -- import and copy ----------------------------------------------------------------------------


async def test_import_sets_requirements_after_the_outline_and_a_copy_follows_its_own_lessons() -> None:
    store = CourseStore()
    service = a_service(store)
    first, second = uuid.UUID(int=11), uuid.UUID(int=12)
    spec = CourseSpec(
        slug="gated-course",
        title="Gated",
        sections=[
            SectionSpec(
                title="One",
                lessons=[
                    LessonSpec(id=first, title="First", requirements=[LessonRequirementSpec(kind="lesson", lesson_id=second)]),
                    LessonSpec(
                        id=second,
                        title="Second",
                        content=LessonContentSpec(kind="assessment", assessment_id=QUIZ),
                    ),
                ],
            ),
            SectionSpec(title="Two", requirements=[PreviousRequirementSpec(kind="previous")], lessons=[
                LessonSpec(title="Third", requirements=[QuizRequirementSpec(kind="quiz", assessment_id=QUIZ)])
            ]),
        ],
    )  # fmt: skip
    [course] = await service.import_courses(ADMIN, [spec])
    assert course.sections[0].lessons[0].requirements == (lesson_req(second),)
    assert course.sections[1].requirements == (PREVIOUS,)
    [copy] = await service.import_courses(ADMIN, [spec], as_copy=True)
    copied_second = copy.sections[0].lessons[1].id
    assert copied_second != second
    assert copy.sections[0].lessons[0].requirements == (lesson_req(copied_second),)
    bad = spec.model_copy(
        update={"slug": "bad-gated", "sections": [spec.sections[1]], "id": None}
    )  # ``previous`` on the first section
    with pytest.raises(ValidationFailed, match=r"record 0 .*first section has no previous section"):
        await service.import_courses(ADMIN, [bad])


def test_a_previous_left_on_what_became_the_first_lesson_is_met() -> None:
    course = a_course(sections=1, lessons=2)
    s0 = course.sections[0]
    first, second = s0.lessons
    course.set_lesson_requirements(s0.id, second.id, [PREVIOUS], T0)
    course.remove_lesson(s0.id, first.id, T0)
    assert evaluate(outline_of(course), LearnerFacts()) == {second.id: ()}
    course.publish(T0)  # not refused: nothing before it


def test_a_reorder_that_makes_a_cycle_is_kept_in_the_draft_but_refused_at_publish() -> None:
    course = a_course(sections=1, lessons=3)
    s0 = course.sections[0]
    a, b, c = (x.id for x in s0.lessons)
    course.set_lesson_requirements(s0.id, a, [lesson_req(c)], T0)  # a waits on c
    course.set_lesson_requirements(s0.id, c, [PREVIOUS], T0)  # c waits on b: no cycle
    course.reorder_lessons(s0.id, [b, a, c], T0)  # now c waits on a, which waits on c
    with pytest.raises(Conflict, match="cycle"):
        course.publish(T0)
    course.set_lesson_requirements(s0.id, b, [lesson_req(c)], T0)  # an unrelated edit is not blocked by it
    course.set_lesson_requirements(s0.id, a, [], T0)  # the author breaks the cycle
    assert course.publish(T0).number == 1
