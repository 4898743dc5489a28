"""The assessment ports' contract (questions with their versions and tags, quizzes and extensions,
attempts with their items, grades and the grading scheme, and the queries), run on the fakes, SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from elearning_adapters.sql.assessment import SqlAssessmentQueries
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.assessment.model import (
    AnswerReview,
    Attempt,
    AttemptItem,
    AttemptStatus,
    Category,
    DrawSlot,
    Essay,
    Extension,
    FillBlanks,
    FixedSlot,
    GradingPolicy,
    GradingScheme,
    LatePolicy,
    LateUnit,
    Matching,
    MultipleResponse,
    MultipleScoring,
    Numeric,
    NumericAnswer,
    Option,
    Ordering,
    OrderScoring,
    Question,
    QuestionKind,
    QuestionVersion,
    Quiz,
    QuizGrade,
    QuizStatus,
    RubricCriterion,
    RubricLevel,
    ShortText,
    SingleChoice,
    SubmitReason,
    TextAnswer,
    TextMatch,
    Tolerance,
    TrueFalse,
)
from elearning_core.assessment.ports import AssessmentUnitOfWork, AttemptExists
from elearning_core.assessment.queries import AssessmentQueries, GradeCell, Learner
from elearning_core.enrollment.model import Enrollment, EnrollmentSource, EnrollmentStatus
from elearning_core.shared.errors import Conflict
from tests.contract.conftest import outbox_reader, sql_database
from tests.fakes import (
    T0,
    AssessmentStore,
    FakeAssessmentUnitOfWork,
    FakePatternMatcher,
    InMemoryAssessmentQueries,
    a_course,
    a_user,
)

T1 = T0 + timedelta(minutes=1)
MATCHER = FakePatternMatcher()

LearnerMaker = Callable[[uuid.UUID, str, EnrollmentStatus], Awaitable[uuid.UUID]]


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], AssessmentUnitOfWork]
    queries: AssessmentQueries
    overlapping_writers: bool
    outbox_types: Callable[[], Awaitable[list[str]]]
    add_course: Callable[[], Awaitable[uuid.UUID]]
    add_learner: LearnerMaker
    """A user named so, enrolled in the course with that status (unenrolled: enrolled, then left)."""
    database: Database | None = None
    """The SQL backends' database (to watch the statements a commit runs)."""


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        store = AssessmentStore()

        async def fake_outbox() -> list[str]:
            return [e.type for e in store.outbox]

        async def fake_course() -> uuid.UUID:
            return store.add_course()

        async def fake_learner(course_id: uuid.UUID, name: str, status: EnrollmentStatus) -> uuid.UUID:
            if status is EnrollmentStatus.UNENROLLED:
                return uuid.uuid4()  # the fake keeps only the enrollments that follow the course
            return store.enroll(course_id, name=name)

        yield Backend(
            "fake",
            lambda: FakeAssessmentUnitOfWork(store),
            InMemoryAssessmentQueries(store),
            overlapping_writers=True,
            outbox_types=fake_outbox,
            add_course=fake_course,
            add_learner=fake_learner,
        )
        return
    db = await sql_database(request, tmp_path)

    sql_outbox = outbox_reader(db)

    async def add_course() -> uuid.UUID:
        course = a_course()
        async with SqlUnitOfWork(db) as uow:
            uow.courses.add(course)
            await uow.commit()
        return course.id

    async def add_learner(course_id: uuid.UUID, name: str, status: EnrollmentStatus) -> uuid.UUID:
        user = a_user(display_name=name)
        async with SqlUnitOfWork(db) as uow:
            uow.users.add(user)
            uow.enrollments.add(_enrollment(course_id, user.id, status))
            await uow.commit()
        return user.id

    try:
        yield Backend(
            request.param,
            lambda: SqlUnitOfWork(db),
            SqlAssessmentQueries(db),
            overlapping_writers=not db.is_sqlite,
            outbox_types=sql_outbox,
            add_course=add_course,
            add_learner=add_learner,
            database=db,
        )
    finally:
        await db.dispose()


def _enrollment(course_id: uuid.UUID, user_id: uuid.UUID, status: EnrollmentStatus) -> Enrollment:
    enrollment = Enrollment.enroll(course_id, user_id, cohort_id=None, source=EnrollmentSource.SELF, at=T0)
    if status is EnrollmentStatus.COMPLETED:
        enrollment.complete(T1)
    elif status is EnrollmentStatus.UNENROLLED:
        enrollment.unenroll(T1, by=EnrollmentSource.SELF)
    enrollment.pull_events()
    return enrollment


# -- builders --------------------------------------------------------------------------------


def _options(*ids: str) -> list[Option]:
    return [Option(id=i, text=f"Option {i}") for i in ids]


BODIES: dict[QuestionKind, Any] = {
    QuestionKind.SINGLE_CHOICE: SingleChoice(options=_options("a", "b"), correct="b"),
    QuestionKind.MULTIPLE_RESPONSE: MultipleResponse(
        options=_options("a", "b", "c"), correct=["a", "c"], scoring=MultipleScoring.RIGHT_MINUS_WRONG
    ),
    QuestionKind.TRUE_FALSE: TrueFalse(correct=False),
    QuestionKind.NUMERIC: Numeric(
        answers=[
            NumericAnswer(value=3.14, tolerance=1.5, tolerance_kind=Tolerance.PERCENT),
            NumericAnswer(min=10.0, max=12.5),
        ]
    ),
    QuestionKind.SHORT_TEXT: ShortText(
        answers=[TextAnswer(text="Paris"), TextAnswer(text="par(is)?", match=TextMatch.REGEX)]
    ),
    QuestionKind.ORDERING: Ordering(items=_options("one", "two", "three"), scoring=OrderScoring.ALL_OR_NOTHING),
    QuestionKind.MATCHING: Matching(
        prompts=_options("fr", "de"),
        choices=_options("paris", "berlin", "rome"),
        pairs={"fr": "paris", "de": "berlin"},
    ),
    QuestionKind.FILL_BLANKS: FillBlanks(
        text="{{capital}} is the capital of {{country}}.",
        blanks={"capital": [TextAnswer(text="Paris")], "country": [TextAnswer(text="France", match=TextMatch.EXACT)]},
    ),
    QuestionKind.ESSAY: Essay(
        rubric=[
            RubricCriterion(
                id="clarity",
                title="Clarity",
                levels=[RubricLevel(points=0, description="Unclear"), RubricLevel(points=2.5, description="Clear")],
            )
        ],
        max_words=250,
    ),
}


def a_question(
    course_id: uuid.UUID, kind: QuestionKind = QuestionKind.SINGLE_CHOICE, tags: tuple[str, ...] = ()
) -> Question:
    return Question.create(
        course_id,
        prompt=f"A {kind.value} question?",
        points=2.0,
        body=BODIES[kind],
        tags=list(tags),
        feedback="Because it is.",
        matcher=MATCHER,
        at=T0,
    )


def a_quiz(
    course_id: uuid.UUID,
    *,
    title: str = "Week 1",
    status: QuizStatus = QuizStatus.DRAFT,
    due_in: timedelta | None = timedelta(days=1),
    closes_at_offset: timedelta | None = timedelta(days=2),
    missing_grade: float | None = 0.0,
    slots: tuple[FixedSlot | DrawSlot, ...] = (),
) -> Quiz:
    """A quiz with every setting off its default, built field by field."""
    return Quiz(
        id=uuid.uuid4(),
        course_id=course_id,
        title=title,
        description="Everything about week 1.",
        category="homework",
        status=status,
        slots=slots or (FixedSlot(uuid.uuid4(), points=3.0), DrawSlot(("algebra", "easy"), 2), FixedSlot(uuid.uuid4())),
        shuffle_questions=True,
        shuffle_options=False,
        time_limit_seconds=600,
        grace_seconds=45,
        max_attempts=3,
        opens_at=T0,
        due_at=None if due_in is None else T0 + due_in,
        closes_at=None if closes_at_offset is None else T0 + closes_at_offset,
        late_policy=LatePolicy(10.0, LateUnit.HOUR, 40.0, missing_grade),
        grading_policy=GradingPolicy.LATEST,
        pass_mark_percent=60.0,
        answer_review=AnswerReview.AFTER_DUE,
        created_at=T0,
        updated_at=T0,
        published_at=T1 if status is not QuizStatus.DRAFT else None,
    )


def an_item(position: int, question_id: uuid.UUID | None = None, **changes: Any) -> AttemptItem:
    fields: dict[str, Any] = {"version": 1, "key_version": 1, "points": 2.0, "order": ("b", "a")} | changes
    return AttemptItem(position=position, question_id=question_id or uuid.uuid4(), **fields)


def an_attempt(
    quiz: Quiz,
    user_id: uuid.UUID,
    number: int = 1,
    *,
    status: AttemptStatus = AttemptStatus.IN_PROGRESS,
    items: list[AttemptItem] | None = None,
    submitted_at_offset: timedelta = timedelta(minutes=5),
    time_ends_at_offset: timedelta | None = timedelta(minutes=10),
    grace_seconds: int = 30,
) -> Attempt:
    done = status is not AttemptStatus.IN_PROGRESS
    return Attempt(
        id=uuid.uuid4(),
        quiz_id=quiz.id,
        course_id=quiz.course_id,
        user_id=user_id,
        number=number,
        seed=12345 + number,
        status=status,
        started_at=T0,
        time_ends_at=None if time_ends_at_offset is None else T0 + time_ends_at_offset,
        grace_seconds=grace_seconds,
        items=items if items is not None else [an_item(0), an_item(1)],
        submitted_at=T0 + submitted_at_offset if done else None,
        submit_reason=SubmitReason.LEARNER if done else None,
        max_score=4.0,
    )


def started(quiz: Quiz, user_id: uuid.UUID, number: int) -> Attempt:
    """An attempt begun as the core begins one (with its ``AttemptStarted``)."""
    return Attempt.start(quiz, quiz.window_for(None), user_id, number, 99, [an_item(0), an_item(1)], T0)


def state(entity: Any) -> dict[str, Any]:
    """Every public field, items included (the entities compare by identity)."""
    out = {f.name: getattr(entity, f.name) for f in dataclasses.fields(entity) if not f.name.startswith("_")}
    if isinstance(entity, Attempt):
        out["items"] = [state(item) for item in entity.items]
    return out


@contextlib.contextmanager
def statements(db: Database) -> Iterator[list[tuple[str, int]]]:
    """The SQL statements run meanwhile, with how many parameter sets each carried."""
    seen: list[tuple[str, int]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        seen.append((" ".join(statement.split()), len(parameters) if executemany else 1))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def writes(seen: list[tuple[str, int]], verb: str, table: str) -> list[int]:
    """The parameter-set counts of the statements that ``verb`` (INSERT/UPDATE/DELETE) ``table``."""
    heads = {"INSERT": f"INSERT INTO {table} ", "UPDATE": f"UPDATE {table} SET", "DELETE": f"DELETE FROM {table} "}
    return [n for sql, n in seen if sql.startswith(heads[verb])]


async def save_all(backend: Backend, *aggregates: Question | Quiz | Attempt) -> None:
    async with backend.uow() as uow:
        for aggregate in aggregates:
            if isinstance(aggregate, Question):
                uow.questions.add(aggregate)
            elif isinstance(aggregate, Quiz):
                uow.quizzes.add(aggregate)
            else:
                uow.attempts.add(aggregate)
        await uow.commit()


# -- the mapping keeps up with the model -------------------------------------------------------

STORED_FIELDS = {
    Attempt: "id quiz_id course_id user_id number seed status started_at time_ends_at grace_seconds items "
    "submitted_at submit_reason late_seconds score max_score penalty_percent percent passed feedback graded_at "
    "version late_policy pass_mark_percent",
    AttemptItem: "position question_id version key_version points order response saved_at fraction score "
    "needs_grading grading_note rubric feedback graded_by graded_at",
    Quiz: "id course_id title description category status slots shuffle_questions shuffle_options "
    "time_limit_seconds grace_seconds max_attempts opens_at due_at closes_at late_policy grading_policy "
    "pass_mark_percent answer_review created_at updated_at published_at",
    Question: "id course_id current archived created_at updated_at",
    QuestionVersion: "question_id version course_id prompt points body tags feedback created_at key_fix_of",
    Extension: "quiz_id user_id due_at closes_at extra_attempts extra_time_seconds",
    QuizGrade: "quiz_id user_id course_id percent attempts pending passed updated_at",
    LatePolicy: "deduction_percent per floor_percent missing_grade_percent",
    Category: "name weight drop_lowest",
}


@pytest.mark.parametrize("entity", list(STORED_FIELDS), ids=lambda e: e.__name__)
def test_every_field_of_the_model_is_one_the_adapters_store(entity: type) -> None:
    """A field added to the model fails here until the tables, the mapping and the round trips carry it."""
    public = {f.name for f in dataclasses.fields(entity) if not f.name.startswith("_")}
    assert public == set(STORED_FIELDS[entity].split())


# -- questions -------------------------------------------------------------------------------


async def test_a_question_of_every_kind_round_trips(backend: Backend) -> None:
    course = await backend.add_course()
    made = {kind: a_question(course, kind, tags=(kind.value, "week-1")) for kind in QuestionKind}
    await save_all(backend, *made.values())
    async with backend.uow() as uow:
        for kind, question in made.items():
            loaded = await uow.questions.get(question.id)
            assert loaded is not None
            assert state(loaded) == state(question)
            assert loaded.current.kind is kind
            assert loaded.current.body == BODIES[kind]
            assert type(loaded.current.body) is type(BODIES[kind])
        assert await uow.questions.get(uuid.uuid4()) is None


async def test_revisions_are_new_versions_and_move_the_tags(backend: Backend) -> None:
    course = await backend.add_course()
    question = a_question(course, tags=("algebra", "easy"))
    await save_all(backend, question)
    async with backend.uow() as uow:
        loaded = await uow.questions.get(question.id)
        assert loaded is not None
        loaded.revise(
            prompt="Reworded?",
            points=3.0,
            body=BODIES[QuestionKind.TRUE_FALSE],
            tags=["easy", "logic"],
            feedback=None,
            matcher=MATCHER,
            at=T1,
        )
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.questions.get(question.id)
        assert loaded is not None
        fixed = loaded.fix_key(TrueFalse(correct=True), MATCHER, T1 + timedelta(minutes=1))
        await uow.commit()
    async with backend.uow() as uow:
        refs = [(question.id, 1), (question.id, 2), (question.id, 3), (question.id, 4), (uuid.uuid4(), 1)]
        versions = await uow.questions.versions(refs)
        assert sorted(v for _, v in versions) == [1, 2, 3]
        assert versions[(question.id, 1)].prompt == "A single_choice question?"
        assert versions[(question.id, 1)].tags == ("algebra", "easy")
        assert versions[(question.id, 2)].kind is QuestionKind.TRUE_FALSE
        assert versions[(question.id, 2)].feedback is None
        assert versions[(question.id, 3)] == fixed
        assert fixed.key_fix_of == 2
        assert await uow.questions.current([question.id]) == {question.id: fixed}
        assert await uow.questions.tagged(course, ["logic"]) == [question.id]
        assert await uow.questions.tagged(course, ["easy", "logic"]) == [question.id]
        assert await uow.questions.tagged(course, ["algebra"]) == []
        loaded = await uow.questions.get(question.id)
        assert loaded is not None
        assert (loaded.current.version, loaded.updated_at) == (3, T1 + timedelta(minutes=1))


async def test_tagged_and_current_leave_out_archived_questions_and_other_courses(backend: Backend) -> None:
    course, other = await backend.add_course(), await backend.add_course()
    both = a_question(course, tags=("x", "y"))
    only_x = a_question(course, QuestionKind.TRUE_FALSE, tags=("x",))
    archived = a_question(course, tags=("x", "y"))
    archived.archive(T1)
    elsewhere = a_question(other, tags=("x", "y"))
    untagged = a_question(course)
    await save_all(backend, both, only_x, archived, elsewhere, untagged)
    async with backend.uow() as uow:
        assert await uow.questions.tagged(course, ["x"]) == sorted([both.id, only_x.id])
        assert await uow.questions.tagged(course, ["x", "y"]) == [both.id]
        assert await uow.questions.tagged(course, ["x", "nope"]) == []
        assert await uow.questions.tagged(course, []) == sorted([both.id, only_x.id, untagged.id])
        current = await uow.questions.current([both.id, archived.id, uuid.uuid4()])
        assert list(current) == [both.id]
        assert current[both.id] == both.current
        # Versions stay readable after archiving: attempts showed them.
        assert list(await uow.questions.versions([(archived.id, 1)])) == [(archived.id, 1)]
        loaded = await uow.questions.get(archived.id)
        assert loaded is not None
        assert loaded.archived


async def test_reads_in_a_unit_of_work_see_its_own_questions(backend: Backend) -> None:
    course = await backend.add_course()
    async with backend.uow() as uow:
        question = a_question(course, tags=("fresh",))
        uow.questions.add(question)
        assert await uow.questions.get(question.id) is question
        assert await uow.questions.tagged(course, ["fresh"]) == [question.id]
        assert await uow.questions.current([question.id]) == {question.id: question.current}
        assert await uow.questions.versions([(question.id, 1)]) == {(question.id, 1): question.current}
        await uow.commit()


async def test_two_revisions_at_once_leave_one_and_fail_the_other(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises write transactions: two are never open at once")
    course = await backend.add_course()
    question = a_question(course)
    await save_all(backend, question)
    async with backend.uow() as first, backend.uow() as second:
        mine, theirs = await first.questions.get(question.id), await second.questions.get(question.id)
        assert mine is not None
        assert theirs is not None
        for loaded, prompt in ((mine, "Mine?"), (theirs, "Theirs?")):
            loaded.revise(
                prompt=prompt, points=1.0, body=BODIES[QuestionKind.TRUE_FALSE], tags=[], feedback=None,
                matcher=MATCHER, at=T1,
            )  # fmt: skip
        await first.commit()
        with pytest.raises(Conflict):
            await second.commit()
    async with backend.uow() as uow:
        versions = await uow.questions.versions([(question.id, 2)])
        assert versions[(question.id, 2)].prompt == "Mine?"


# -- quizzes and extensions --------------------------------------------------------------------


async def test_a_quiz_round_trips_with_every_setting_and_changes(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    await save_all(backend, quiz)
    async with backend.uow() as uow:
        loaded = await uow.quizzes.get(quiz.id)
        assert loaded is not None
        assert state(loaded) == state(quiz)
        assert await uow.quizzes.get(uuid.uuid4()) is None
        loaded.title, loaded.slots, loaded.max_attempts = "Week 1 (revised)", (DrawSlot(("logic",), 1, 2.5),), None
        assert loaded.publish(T1)
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.quizzes.get(quiz.id)
        assert again is not None
        assert (again.title, again.slots, again.max_attempts) == (
            "Week 1 (revised)",
            (DrawSlot(("logic",), 1, 2.5),),
            None,
        )
        assert (again.status, again.published_at, again.updated_at) == (QuizStatus.PUBLISHED, T1, T1)
    assert await backend.outbox_types() == ["assessment.quiz_published.v1"]


async def test_extensions_are_put_replaced_and_removed(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    ada, bob = uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        uow.quizzes.add(quiz)
        await uow.quizzes.put_extension(Extension(quiz.id, ada, due_at=T0 + timedelta(days=3), extra_attempts=1))
        await uow.quizzes.put_extension(Extension(quiz.id, bob, extra_time_seconds=300))
        await uow.commit()
    replaced = Extension(quiz.id, ada, closes_at=T0 + timedelta(days=5), extra_time_seconds=60)
    async with backend.uow() as uow:
        assert await uow.quizzes.extension(quiz.id, bob) == Extension(quiz.id, bob, extra_time_seconds=300)
        await uow.quizzes.put_extension(replaced)
        assert await uow.quizzes.remove_extension(quiz.id, bob)
        assert not await uow.quizzes.remove_extension(quiz.id, uuid.uuid4())
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.quizzes.extension(quiz.id, ada) == replaced
        assert await uow.quizzes.extension(quiz.id, bob) is None
        await uow.quizzes.put_extension(Extension(quiz.id, bob, extra_attempts=2))  # rolled back below
    async with backend.uow() as uow:
        assert await uow.quizzes.extension(quiz.id, bob) is None


async def test_a_quiz_changed_by_someone_else_meanwhile_is_a_conflict(backend: Backend) -> None:
    """The SQL repository's own guard (the port promises nothing here; the fake's last writer wins)."""
    if not backend.overlapping_writers or backend.database is None:
        pytest.skip("needs two writers at once on a SQL backend (PostgreSQL)")
    course = await backend.add_course()
    quiz = a_quiz(course)
    await save_all(backend, quiz)
    async with backend.uow() as first, backend.uow() as second:
        mine, theirs = await first.quizzes.get(quiz.id), await second.quizzes.get(quiz.id)
        assert mine is not None
        assert theirs is not None
        mine.title, mine.updated_at = "Mine", T1
        theirs.title, theirs.updated_at = "Theirs", T1 + timedelta(seconds=1)
        await first.commit()
        with pytest.raises(Conflict):
            await second.commit()
    async with backend.uow() as uow:
        loaded = await uow.quizzes.get(quiz.id)
        assert loaded is not None
        assert loaded.title == "Mine"


# -- attempts --------------------------------------------------------------------------------


async def test_an_attempt_round_trips_with_items_responses_and_scores(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    grader = uuid.uuid4()
    attempt = Attempt(
        id=uuid.uuid4(),
        quiz_id=quiz.id,
        course_id=course,
        user_id=uuid.uuid4(),
        number=2,
        seed=2**64 - 5,  # any 64 bits, beyond a signed BIGINT
        status=AttemptStatus.GRADED,
        started_at=T0,
        time_ends_at=T0 + timedelta(minutes=10),
        grace_seconds=30,
        items=[
            an_item(0, response={"choice": "b"}, saved_at=T0 + timedelta(minutes=1), fraction=1.0, score=2.0),
            an_item(
                1,
                order=(),
                points=2.5,
                response={"text": "An essay.", "nested": {"list": [1, 2.5, None, True]}},
                saved_at=T0 + timedelta(minutes=2),
                fraction=0.4,
                score=1.0,
                needs_grading=False,
                grading_note="an essay: a person grades it by the rubric",
                rubric={"clarity": 1},
                feedback="Clearer next time.",
                graded_by=grader,
                graded_at=T0 + timedelta(hours=1),
            ),
            an_item(2, order=("three", "one", "two"), key_version=2),
        ],
        submitted_at=T0 + timedelta(minutes=5),
        submit_reason=SubmitReason.TIME_UP,
        late_seconds=120,
        score=3.0,
        max_score=6.5,
        penalty_percent=10.0,
        percent=36.1538,
        passed=False,
        feedback="See the notes.",
        graded_at=T0 + timedelta(hours=1),
        version=7,
        late_policy=LatePolicy(10.0, LateUnit.HOUR, 40.0, None),
        pass_mark_percent=50.0,
    )
    await save_all(backend, quiz, attempt)
    async with backend.uow() as uow:
        loaded = await uow.attempts.get(attempt.id)
        assert loaded is not None
        assert state(loaded) == state(attempt)
        assert await uow.attempts.get(attempt.id) is loaded
        assert await uow.attempts.get(uuid.uuid4()) is None
        assert await uow.attempts.lock(uuid.uuid4()) is None
    async with backend.uow() as uow:
        locked = await uow.attempts.lock(attempt.id)
        assert locked is not None
        assert state(locked) == state(attempt)


async def test_a_second_attempt_with_the_same_number_is_refused_and_writes_nothing(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    learner = uuid.uuid4()
    first = an_attempt(quiz, learner, 1, status=AttemptStatus.SUBMITTED)
    await save_all(backend, quiz, first)
    question = a_question(course)
    async with backend.uow() as uow:
        uow.questions.add(question)  # in the same transaction: must not survive the refusal either
        uow.attempts.add(an_attempt(quiz, learner, 1, status=AttemptStatus.SUBMITTED))
        with pytest.raises(AttemptExists):
            await uow.commit()
    async with backend.uow() as uow:
        assert [a.id for a in await uow.attempts.of_learner(quiz.id, learner)] == [first.id]
        assert await uow.questions.get(question.id) is None
    assert [a.id for a in await backend.queries.attempts(quiz.id, None, None, 10)] == [first.id]


async def test_a_second_attempt_in_progress_is_refused_until_the_first_is_submitted(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    learner = uuid.uuid4()
    first = started(quiz, learner, 1)
    await save_all(backend, quiz, first)
    second = started(quiz, learner, 2)
    async with backend.uow() as uow:
        uow.attempts.add(second)
        with pytest.raises(AttemptExists):
            await uow.commit()
    assert await backend.outbox_types() == ["assessment.attempt_started.v1"]
    async with backend.uow() as uow:
        loaded = await uow.attempts.lock(first.id)
        assert loaded is not None
        loaded.status, loaded.submitted_at, loaded.version = AttemptStatus.SUBMITTED, T1, loaded.version + 1
        await uow.commit()
    third = an_attempt(quiz, learner, 2)
    await save_all(backend, third)
    async with backend.uow() as uow:
        assert [a.number for a in await uow.attempts.of_learner(quiz.id, learner)] == [1, 2]
        assert await uow.attempts.of_learner(quiz.id, uuid.uuid4()) == []


async def test_leaving_without_commit_writes_nothing(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    question = a_question(course, tags=("gone",))
    attempt = an_attempt(quiz, uuid.uuid4())
    async with backend.uow() as uow:
        uow.questions.add(question)
        uow.quizzes.add(quiz)
        uow.attempts.add(attempt)
        await uow.grades.save_scheme(GradingScheme(course, (Category("exams", 2.0),)))
    async with backend.uow() as uow:
        assert await uow.questions.get(question.id) is None
        assert await uow.quizzes.get(quiz.id) is None
        assert await uow.attempts.get(attempt.id) is None
        assert await uow.questions.tagged(course, ["gone"]) == []
        assert await uow.grades.scheme(course) == GradingScheme(course)
    assert await backend.queries.quizzes(course, published_only=False) == []
    assert await backend.outbox_types() == []


async def test_an_autosave_writes_back_only_the_item_that_changed(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    attempt = an_attempt(quiz, uuid.uuid4(), items=[an_item(p) for p in range(4)])
    await save_all(backend, quiz, attempt)
    with contextlib.ExitStack() as stack:
        seen = stack.enter_context(statements(backend.database)) if backend.database else None
        async with backend.uow() as uow:
            loaded = await uow.attempts.get(attempt.id)
            assert loaded is not None
            loaded.save_answer(loaded.items[2].question_id, {"choice": "a"}, T1)
            await uow.commit()
    if seen is not None:
        assert writes(seen, "UPDATE", "attempt_items") == [1]
        assert writes(seen, "UPDATE", "attempts") == []
        assert writes(seen, "INSERT", "attempt_items") == writes(seen, "DELETE", "attempt_items") == []
    with contextlib.ExitStack() as stack:
        seen = stack.enter_context(statements(backend.database)) if backend.database else None
        async with backend.uow() as uow:
            loaded = await uow.attempts.lock(attempt.id)
            assert loaded is not None
            for item in loaded.items[:3]:
                item.score, item.fraction = 2.0, 1.0
            loaded.status, loaded.submitted_at, loaded.submit_reason = AttemptStatus.SUBMITTED, T1, SubmitReason.LEARNER
            loaded.version += 1  # as the core counts every change
            await uow.commit()
    if seen is not None:
        assert writes(seen, "UPDATE", "attempt_items") == [3]  # one executemany for the three
        assert writes(seen, "UPDATE", "attempts") == [1]
    async with backend.uow() as uow:
        reloaded = await uow.attempts.get(attempt.id)
        assert reloaded is not None
        assert [i.response for i in reloaded.items] == [None, None, {"choice": "a"}, None]
        assert [i.score for i in reloaded.items] == [2.0, 2.0, 2.0, None]
        assert reloaded.status is AttemptStatus.SUBMITTED
        assert reloaded.version > attempt.version


async def test_autosaves_of_two_items_at_once_both_stay(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    attempt = an_attempt(quiz, uuid.uuid4(), items=[an_item(p) for p in range(2)])
    await save_all(backend, quiz, attempt)

    async def autosave(position: int, choice: str) -> None:
        async with backend.uow() as uow:
            locked = await uow.attempts.lock(attempt.id)
            assert locked is not None
            locked.save_answer(locked.items[position].question_id, {"choice": choice}, T1)
            await uow.commit()

    await asyncio.gather(autosave(0, "a"), autosave(1, "b"))
    async with backend.uow() as uow:
        loaded = await uow.attempts.get(attempt.id)
        assert loaded is not None
        assert [i.response for i in loaded.items] == [{"choice": "a"}, {"choice": "b"}]


async def test_an_autosave_loaded_before_a_submit_cannot_change_the_submitted_answers(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises write transactions: two are never open at once")
    course = await backend.add_course()
    quiz = a_quiz(course)
    attempt = an_attempt(quiz, uuid.uuid4(), items=[an_item(0, response={"choice": "a"})])
    await save_all(backend, quiz, attempt)
    async with backend.uow() as saving:
        stale = await saving.attempts.get(attempt.id)
        assert stale is not None
        async with backend.uow() as submitting:
            locked = await submitting.attempts.lock(attempt.id)
            assert locked is not None
            locked.status, locked.submitted_at, locked.version = AttemptStatus.SUBMITTED, T1, locked.version + 1
            await submitting.commit()
        stale.save_answer(stale.items[0].question_id, {"choice": "b"}, T1)  # it still looks in progress here
        with pytest.raises(Conflict):
            await saving.commit()
    async with backend.uow() as uow:
        loaded = await uow.attempts.get(attempt.id)
        assert loaded is not None
        assert (loaded.status, loaded.items[0].response) == (AttemptStatus.SUBMITTED, {"choice": "a"})


async def test_the_attempt_lock_holds_off_a_second_writer(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises write transactions: two are never open at once")
    course = await backend.add_course()
    quiz = a_quiz(course)
    attempt = an_attempt(quiz, uuid.uuid4())
    await save_all(backend, quiz, attempt)
    second_locked = asyncio.Event()

    async def second() -> AttemptStatus:
        async with backend.uow() as uow:
            locked = await uow.attempts.lock(attempt.id)
            second_locked.set()
            assert locked is not None
            return locked.status

    async with backend.uow() as uow:
        locked = await uow.attempts.lock(attempt.id)
        assert locked is not None
        task = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert not second_locked.is_set()
        locked.status, locked.submitted_at, locked.version = AttemptStatus.SUBMITTED, T1, locked.version + 1
        await uow.commit()
    assert await asyncio.wait_for(task, 10) is AttemptStatus.SUBMITTED  # read after the first committed


async def test_attempts_using_a_question_are_the_finished_ones(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    question = uuid.uuid4()
    learners = [uuid.uuid4() for _ in range(4)]
    submitted = an_attempt(quiz, learners[0], status=AttemptStatus.SUBMITTED, items=[an_item(0, question)])
    graded = an_attempt(quiz, learners[1], status=AttemptStatus.GRADED, items=[an_item(0), an_item(1, question)])
    running = an_attempt(quiz, learners[2], items=[an_item(0, question)])
    unrelated = an_attempt(quiz, learners[3], status=AttemptStatus.GRADED)
    await save_all(backend, quiz, submitted, graded, running, unrelated)
    async with backend.uow() as uow:
        found = await uow.attempts.using_question(question)
        assert sorted(a.id for a in found) == sorted([submitted.id, graded.id])
        by_id = {a.id: a for a in found}
        assert state(by_id[graded.id]) == state(graded)
        assert await uow.attempts.get(graded.id) is by_id[graded.id]
        assert await uow.attempts.using_question(uuid.uuid4()) == []


async def test_expired_lists_in_progress_attempts_past_their_time_and_grace(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    ten_minutes, an_hour = timedelta(minutes=10), timedelta(hours=1)
    timed = [an_attempt(quiz, uuid.uuid4(), time_ends_at_offset=ten_minutes, grace_seconds=30) for _ in range(3)]
    later = an_attempt(quiz, uuid.uuid4(), time_ends_at_offset=an_hour)
    unlimited = an_attempt(quiz, uuid.uuid4(), time_ends_at_offset=None)
    submitted = an_attempt(quiz, uuid.uuid4(), status=AttemptStatus.SUBMITTED, time_ends_at_offset=ten_minutes)
    await save_all(backend, quiz, *timed, later, unlimited, submitted)
    ids = sorted(a.id for a in timed)
    async with backend.uow() as uow:
        in_grace = T0 + ten_minutes + timedelta(seconds=30)
        assert await uow.attempts.expired(None, 10, in_grace) == []
        after_grace = in_grace + timedelta(seconds=1)
        assert await uow.attempts.expired(None, 10, after_grace) == ids
        assert await uow.attempts.expired(None, 2, after_grace) == ids[:2]
        assert await uow.attempts.expired(ids[1], 2, after_grace) == ids[2:]
        assert await uow.attempts.expired(None, 10, T0 + timedelta(days=30)) == sorted([*ids, later.id])


# -- grades and the scheme -------------------------------------------------------------------------


async def test_the_scheme_defaults_to_none_and_is_replaced(backend: Backend) -> None:
    course = await backend.add_course()
    scheme = GradingScheme(course, (Category("exams", 3.0, drop_lowest=1), Category("homework", 1.5)))
    async with backend.uow() as uow:
        assert await uow.grades.scheme(course) == GradingScheme(course)
        await uow.grades.save_scheme(scheme)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.grades.scheme(course) == scheme
        await uow.grades.save_scheme(GradingScheme(course, (Category("all", 1.0),)))
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.grades.scheme(course) == GradingScheme(course, (Category("all", 1.0),))
        unknown = uuid.uuid4()
        assert await uow.grades.scheme(unknown) == GradingScheme(unknown, ())


# -- queries ------------------------------------------------------------------------------------


async def test_the_bank_listing_pages_in_id_order(backend: Backend) -> None:
    course, other = await backend.add_course(), await backend.add_course()
    made = [a_question(course, kind, tags=("t",) if i % 2 else ()) for i, kind in enumerate(QuestionKind)]
    made[0].archive(T1)
    await save_all(backend, *made, a_question(other))
    live = sorted((q for q in made if not q.archived), key=lambda q: q.id)
    first = await backend.queries.questions(course, None, False, None, 3)
    rest = await backend.queries.questions(course, None, False, first[-1].id, 100)
    assert [s.id for s in first + rest] == [q.id for q in live]
    summary = next(s for s in first + rest if s.id == made[1].id)
    assert (summary.course_id, summary.version, summary.kind, summary.prompt, summary.points) == (
        course,
        1,
        QuestionKind.MULTIPLE_RESPONSE,
        "A multiple_response question?",
        2.0,
    )
    assert (summary.tags, summary.archived, summary.updated_at) == (("t",), False, T0)
    everything = await backend.queries.questions(course, None, True, None, 100)
    assert [s.id for s in everything] == sorted(q.id for q in made)
    tagged = await backend.queries.questions(course, "t", False, None, 100)
    assert [s.id for s in tagged] == sorted(q.id for q in made if q.current.tags == ("t",))
    assert await backend.queries.questions(uuid.uuid4(), None, True, None, 10) == []


async def test_quizzes_and_attempts_listings(backend: Backend) -> None:
    course = await backend.add_course()
    draft = a_quiz(course, title="Draft", due_in=timedelta(hours=1))
    late = a_quiz(course, title="B late", status=QuizStatus.PUBLISHED, due_in=timedelta(days=9))
    soon = a_quiz(course, title="A soon", status=QuizStatus.PUBLISHED, due_in=timedelta(days=2), missing_grade=None)
    undated = a_quiz(course, title="C undated", status=QuizStatus.PUBLISHED, due_in=None)
    await save_all(backend, draft, late, soon, undated)
    published = await backend.queries.quizzes(course, published_only=True)
    assert [q.title for q in published] == ["A soon", "B late", "C undated"]
    assert (published[0].missing_grade_percent, published[1].missing_grade_percent) == (None, 0.0)
    first = published[1]
    assert (first.id, first.course_id, first.category, first.status) == (
        late.id,
        course,
        "homework",
        QuizStatus.PUBLISHED,
    )
    assert (first.opens_at, first.due_at, first.closes_at) == (T0, T0 + timedelta(days=9), T0 + timedelta(days=2))
    assert (first.max_attempts, first.time_limit_seconds) == (3, 600)
    assert [q.title for q in await backend.queries.quizzes(course, published_only=False)] == [
        "Draft",
        "A soon",
        "B late",
        "C undated",
    ]

    ada, bob = uuid.uuid4(), uuid.uuid4()
    made = [
        an_attempt(late, ada, 1, status=AttemptStatus.GRADED),
        an_attempt(late, ada, 2),
        an_attempt(late, bob, 1, status=AttemptStatus.SUBMITTED),
    ]
    made[0].score, made[0].percent, made[0].passed, made[0].late_seconds = 3.0, 75.0, True, 60
    await save_all(backend, *made)
    everyone = await backend.queries.attempts(late.id, None, None, 10)
    assert [a.id for a in everyone] == sorted(a.id for a in made)
    page = await backend.queries.attempts(late.id, None, None, 2)
    assert [a.id for a in page + await backend.queries.attempts(late.id, None, page[-1].id, 2)] == [
        a.id for a in everyone
    ]
    adas = await backend.queries.attempts(late.id, ada, None, 10)
    assert sorted(a.number for a in adas) == [1, 2]
    graded = next(a for a in adas if a.number == 1)
    assert (graded.status, graded.score, graded.max_score, graded.percent, graded.passed, graded.late_seconds) == (
        AttemptStatus.GRADED,
        3.0,
        4.0,
        75.0,
        True,
        60,
    )
    assert (graded.quiz_id, graded.user_id, graded.started_at, graded.submitted_at) == (
        late.id,
        ada,
        T0,
        T0 + timedelta(minutes=5),
    )
    assert await backend.queries.attempts(soon.id, None, None, 10) == []


async def test_the_grading_queue_oldest_submission_first(backend: Backend) -> None:
    course, other = await backend.add_course(), await backend.add_course()
    quiz, second_quiz, elsewhere = a_quiz(course, title="Q1"), a_quiz(course, title="Q2"), a_quiz(other)
    essay = uuid.uuid4()

    def waiting(q: Quiz, minutes: int, *positions: int) -> Attempt:
        items = [
            an_item(p, essay if p in positions else None, needs_grading=p in positions, grading_note=f"note {p}")
            for p in range(3)
        ]
        return an_attempt(
            q, uuid.uuid4(), status=AttemptStatus.SUBMITTED, items=items, submitted_at_offset=timedelta(minutes=minutes)
        )

    newest, oldest, middle = waiting(quiz, 30, 1), waiting(quiz, 10, 0, 2), waiting(second_quiz, 20, 1)
    done = an_attempt(quiz, uuid.uuid4(), status=AttemptStatus.GRADED)
    await save_all(backend, quiz, second_quiz, elsewhere, newest, oldest, middle, done, waiting(elsewhere, 1, 0))
    queue = await backend.queries.grading_queue(course, None, None, 10)
    assert [(e.attempt_id, e.position) for e in queue] == [
        (oldest.id, 0),
        (oldest.id, 2),
        (middle.id, 1),
        (newest.id, 1),
    ]
    head = queue[0]
    assert (head.quiz_id, head.quiz_title, head.user_id, head.question_id, head.note, head.submitted_at) == (
        quiz.id,
        "Q1",
        oldest.user_id,
        essay,
        "note 0",
        T0 + timedelta(minutes=10),
    )
    first = await backend.queries.grading_queue(course, None, None, 3)
    key = (first[-1].submitted_at, first[-1].attempt_id, first[-1].position)
    assert first + await backend.queries.grading_queue(course, None, key, 3) == queue
    only_q2 = await backend.queries.grading_queue(course, second_quiz.id, None, 10)
    assert [(e.attempt_id, e.quiz_title) for e in only_q2] == [(middle.id, "Q2")]


async def test_gradebook_inputs_in_a_few_reads(backend: Backend) -> None:
    course = await backend.add_course()
    ada = await backend.add_learner(course, "Ada", EnrollmentStatus.ACTIVE)
    bob = await backend.add_learner(course, "Bob", EnrollmentStatus.COMPLETED)
    eve = await backend.add_learner(course, "Eve", EnrollmentStatus.UNENROLLED)
    other_course = await backend.add_course()
    await backend.add_learner(other_course, "Zed", EnrollmentStatus.ACTIVE)
    amy = await backend.add_learner(course, "Amy", EnrollmentStatus.ACTIVE)
    exam = a_quiz(course, title="Exam", status=QuizStatus.PUBLISHED, due_in=timedelta(days=3))
    homework = a_quiz(course, title="Homework", status=QuizStatus.PUBLISHED, due_in=timedelta(days=1))
    draft = a_quiz(course, title="Draft")
    scheme = GradingScheme(course, (Category("homework", 2.0, 1),))
    extended = T0 + timedelta(days=4)
    async with backend.uow() as uow:
        for quiz in (exam, homework, draft):
            uow.quizzes.add(quiz)
        await uow.quizzes.put_extension(Extension(exam.id, ada, closes_at=extended))
        await uow.quizzes.put_extension(Extension(exam.id, bob, extra_time_seconds=60))  # no close of its own
        await uow.quizzes.put_extension(Extension(draft.id, ada, closes_at=extended))
        await uow.grades.save_scheme(scheme)
        for quiz_id, user_id, percent in (
            (exam.id, ada, 50.0),
            (homework.id, ada, 90.0),
            (exam.id, bob, None),
            (exam.id, eve, 70.0),  # no longer enrolled
            (draft.id, ada, 10.0),  # not published
        ):
            await uow.grades.put(QuizGrade(quiz_id, user_id, course, percent, 1, 1 if percent is None else 0, None, T0))
        await uow.commit()
    async with backend.uow() as uow:
        await uow.grades.put(QuizGrade(exam.id, ada, course, 80.0, 2, 0, True, T1))  # replaces the first
        await uow.commit()

    inputs = await backend.queries.gradebook_inputs(course)
    assert [q.title for q in inputs.quizzes] == ["Homework", "Exam"]
    assert [(learner.display_name, learner.user_id) for learner in inputs.learners] == [
        ("Ada", ada),
        ("Amy", amy),
        ("Bob", bob),
    ]
    assert inputs.learners[0] == Learner(ada, "Ada", inputs.learners[0].email)
    assert "@" in inputs.learners[0].email
    # Every grade of the published quizzes (a learner who left keeps theirs; the rows decide who is shown).
    assert sorted(inputs.grades, key=lambda c: (c.user_id == ada, c.user_id == bob, c.quiz_id == exam.id)) == [
        GradeCell(eve, exam.id, 70.0, 1, 0),
        GradeCell(bob, exam.id, None, 1, 1),
        GradeCell(ada, homework.id, 90.0, 1, 0),
        GradeCell(ada, exam.id, 80.0, 2, 0),
    ]
    assert inputs.categories == [Category("homework", 2.0, 1)]
    assert inputs.extended_closes == {(exam.id, ada): extended, (exam.id, bob): None}

    mine = await backend.queries.learner_grades(course, ada)
    assert [learner.user_id for learner in mine.learners] == [ada]
    assert {(c.quiz_id, c.percent) for c in mine.grades} == {(homework.id, 90.0), (exam.id, 80.0)}
    assert mine.extended_closes == {(exam.id, ada): extended}
    assert [q.title for q in mine.quizzes] == ["Homework", "Exam"]
    gone = await backend.queries.learner_grades(course, eve)
    assert (gone.learners, gone.grades, gone.extended_closes) == ([], [GradeCell(eve, exam.id, 70.0, 1, 0)], {})


async def test_item_scores_come_from_graded_attempts(backend: Backend) -> None:
    course = await backend.add_course()
    quiz = a_quiz(course)
    q1, q2 = uuid.uuid4(), uuid.uuid4()
    graded = an_attempt(
        quiz,
        uuid.uuid4(),
        status=AttemptStatus.GRADED,
        items=[an_item(0, q1, score=2.0), an_item(1, q2, score=0.5, points=1.0)],
    )
    unscored = an_attempt(
        quiz, uuid.uuid4(), status=AttemptStatus.GRADED, items=[an_item(0, q1, score=1.0), an_item(1, q2)]
    )
    waiting = an_attempt(quiz, uuid.uuid4(), status=AttemptStatus.SUBMITTED, items=[an_item(0, q1, score=2.0)])
    await save_all(backend, quiz, graded, unscored, waiting)
    scores = await backend.queries.item_scores(quiz.id)
    assert sorted((s.attempt_id, s.question_id, s.score, s.points) for s in scores) == sorted(
        [(graded.id, q1, 2.0, 2.0), (graded.id, q2, 0.5, 1.0), (unscored.id, q1, 1.0, 2.0)]
    )
    assert await backend.queries.item_scores(uuid.uuid4()) == []
