"""AssessmentService on the fakes: who may do what, starting and submitting under concurrency, the
attempt limit and window, grades under each grading policy, regrades, import/export and the sweep."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from elearning_core.assessment.commands import (
    CategoryInput,
    DocumentFixedSlot,
    DocumentQuestion,
    DrawSlotInput,
    ExtensionInput,
    FixedSlotInput,
    GradingSchemeInput,
    ManualGrade,
    QuestionInput,
    QuizDocument,
    QuizSettings,
    Regrade,
    SaveAnswer,
)
from elearning_core.assessment.events import (
    AttemptGraded,
    AttemptRegraded,
    AttemptStarted,
    AttemptSubmitted,
    QuizPublished,
)
from elearning_core.assessment.model import (
    AnswerReview,
    AttemptClosed,
    AttemptStatus,
    GradingPolicy,
    StartRefusal,
    StartRefused,
    TrueFalse,
)
from elearning_core.assessment.queries import AttemptView
from elearning_core.assessment.service import AssessmentService
from elearning_core.shared.errors import Conflict, NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from elearning_core.shared.ports import ANONYMOUS, SYSTEM, Principal
from tests.fakes import T0, AssessmentPlatform, an_assessment_platform
from tests.unit.assessment.builders import Course, a_course, essay, single

HOUR = timedelta(hours=1)


@pytest.fixture
def platform() -> AssessmentPlatform:
    return an_assessment_platform()


@pytest.fixture
def course(platform: AssessmentPlatform) -> Course:
    return a_course(platform)


@pytest.fixture
def service(platform: AssessmentPlatform) -> AssessmentService:
    return platform.service


def event_types(platform: AssessmentPlatform) -> list[type]:
    return [type(e) for e in platform.store.outbox]


def uid(actor: Principal) -> uuid.UUID:
    assert actor.user_id is not None
    return actor.user_id


async def answer_all(service: AssessmentService, actor: Principal, view: AttemptView, choice: str) -> None:
    for item in view.items:
        await service.save_answer(actor, view.attempt.id, item.question_id, SaveAnswer(response={"choice": choice}))


# -- the whole way through -----------------------------------------------------------------------


async def test_a_learner_takes_a_quiz_and_gets_a_grade(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    questions = [await course.question(single(), points=2.0), await course.question(single(correct="a"))]
    quiz = await course.quiz(questions, pass_mark_percent=60.0)
    view, created = await service.start_attempt(course.ada, quiz)
    assert created
    assert not view.review
    assert all("key" not in item.question for item in view.items)
    assert view.attempt.number == 1
    await answer_all(service, course.ada, view, "b")
    done, submitted = await service.submit_attempt(course.ada, view.attempt.id)
    assert submitted
    assert done.review  # after_submit: the key and the per-item scores are the learner's now
    assert all("key" in item.question for item in done.items)
    assert sorted(item.score or 0.0 for item in done.items) == [0.0, 2.0]
    assert (done.attempt.status, done.attempt.percent, done.attempt.passed) == (AttemptStatus.GRADED, 66.6667, True)
    grade = platform.store.grades[(quiz, uid(course.ada))]
    assert (grade.percent, grade.attempts, grade.pending, grade.passed) == (66.6667, 1, 0, True)
    assert event_types(platform) == [QuizPublished, AttemptStarted, AttemptSubmitted, AttemptGraded]


async def test_an_essay_waits_in_the_queue_for_a_teaching_assistant(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    choice, text = await course.question(single(), points=4.0), await course.question(essay())
    quiz = await course.quiz([choice, text])
    view, _ = await service.start_attempt(course.ada, quiz)
    await service.save_answer(course.ada, view.attempt.id, choice, SaveAnswer(response={"choice": "b"}))
    await service.save_answer(course.ada, view.attempt.id, text, SaveAnswer(response={"text": "My essay."}))
    pending, _ = await service.submit_attempt(course.ada, view.attempt.id)
    assert (pending.attempt.status, pending.attempt.percent) == (AttemptStatus.SUBMITTED, None)
    grade = platform.store.grades[(quiz, uid(course.ada))]
    assert (grade.percent, grade.attempts, grade.pending) == (None, 1, 1)
    queue = (await service.grading_queue(course.assistant, course.id)).items
    assert [(e.attempt_id, e.question_id) for e in queue] == [(view.attempt.id, text)]
    graded = await service.grade_item(
        course.assistant, view.attempt.id, text, ManualGrade(rubric={"quality": 2, "length": 0}, feedback="Good.")
    )
    assert (graded.attempt.status, graded.attempt.percent) == (AttemptStatus.GRADED, 87.5)
    assert platform.store.grades[(quiz, uid(course.ada))].percent == 87.5
    assert (await service.grading_queue(course.assistant, course.id)).items == []
    with pytest.raises(ValidationFailed):
        await service.grade_item(
            course.assistant, view.attempt.id, text, ManualGrade(points=1.0, rubric={"quality": 0})
        )
    mine = await service.view_attempt(course.ada, view.attempt.id)
    assert next(i for i in mine.items if i.question_id == text).feedback == "Good."


# -- access --------------------------------------------------------------------------------------


async def test_a_learner_never_sees_another_learners_attempt(course: Course, service: AssessmentService) -> None:
    quiz = await course.quiz([await course.question(single())])
    view, _ = await service.start_attempt(course.ada, quiz)
    attempt = view.attempt.id
    for refused in (
        service.view_attempt(course.bob, attempt),
        service.submit_attempt(course.bob, attempt),
        service.save_answer(course.bob, attempt, view.items[0].question_id, SaveAnswer(response={"choice": "a"})),
        service.list_attempts(course.bob, quiz, user_id=uid(course.ada)),
    ):
        with pytest.raises(NotFound):
            await refused
    assert (await service.list_attempts(course.bob, quiz)).items == []
    assert [a.id for a in (await service.list_attempts(course.ada, quiz)).items] == [attempt]
    assert [a.id for a in (await service.list_attempts(course.assistant, quiz, user_id=uid(course.ada))).items] == [
        attempt
    ]
    with pytest.raises(PermissionDenied):  # staff see it, but only its learner answers it
        await service.submit_attempt(course.assistant, attempt)


@pytest.mark.parametrize("review", [AnswerReview.AFTER_DUE, AnswerReview.NEVER])
async def test_the_key_stays_hidden_until_review_allows(
    platform: AssessmentPlatform, course: Course, service: AssessmentService, review: AnswerReview
) -> None:
    quiz = await course.quiz([await course.question(single())], answer_review=review, due_at=T0 + HOUR)
    view, _ = await service.start_attempt(course.ada, quiz)
    await answer_all(service, course.ada, view, "b")
    done, _ = await service.submit_attempt(course.ada, view.attempt.id)
    assert not done.review
    assert "key" not in done.items[0].question
    assert done.items[0].score is None  # the per-item score would give the key away
    assert done.attempt.percent == 100.0  # the total is theirs once graded
    platform.clock.advance(HOUR)
    later = await service.view_attempt(course.ada, view.attempt.id)
    assert later.review is (review is AnswerReview.AFTER_DUE)
    assert ("key" in later.items[0].question) is later.review
    staff = await service.view_attempt(course.assistant, view.attempt.id)
    assert staff.review
    assert staff.items[0].question["key"] == {"correct": "b"}


async def test_taking_a_quiz_needs_an_enrollment_and_a_published_quiz(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single())
    quiz, draft = await course.quiz([question]), await course.quiz([question], publish=False)
    outsider = platform.outsider()
    with pytest.raises(PermissionDenied):
        await service.start_attempt(outsider, quiz)
    with pytest.raises(PermissionDenied):
        await service.get_quiz(outsider, quiz)
    with pytest.raises(PermissionDenied):
        await service.list_quizzes(outsider, course.id)
    with pytest.raises(NotFound):
        await service.start_attempt(course.ada, draft)
    with pytest.raises(NotFound):
        await service.get_quiz(course.ada, draft)
    with pytest.raises(Unauthenticated):
        await service.start_attempt(ANONYMOUS, quiz)
    assert [q.id for q in (await service.list_quizzes(course.ada, course.id)).items] == [quiz]
    assert {q.id for q in (await service.list_quizzes(course.assistant, course.id)).items} == {quiz, draft}
    preview, created = await service.start_attempt(course.instructor, draft)  # staff preview a draft
    assert created
    assert preview.review


async def test_a_hidden_course_is_not_found(platform: AssessmentPlatform, service: AssessmentService) -> None:
    hidden = a_course(platform, published=False)
    quiz = await hidden.quiz([await hidden.question(single())])
    stranger = platform.instructor(platform.course())
    for refused in (
        service.start_attempt(hidden.ada, quiz),
        service.get_quiz(stranger, quiz),
        service.create_question(stranger, hidden.id, QuestionInput(prompt="Q?", body=single())),
        service.gradebook(stranger, hidden.id),
    ):
        with pytest.raises(NotFound):
            await refused


async def test_a_teaching_assistant_grades_but_does_not_author(course: Course, service: AssessmentService) -> None:
    question = await course.question(single())
    quiz = await course.quiz([question])
    view, _ = await service.start_attempt(course.ada, quiz)
    await service.submit_attempt(course.ada, view.attempt.id)
    for refused in (
        service.create_question(course.assistant, course.id, QuestionInput(prompt="Q?", body=single())),
        service.update_quiz(course.assistant, quiz, QuizSettings(title="Mine now")),
        service.regrade_question(course.assistant, question, Regrade(body=single(correct="a"))),
        service.set_extension(course.assistant, quiz, uid(course.ada), ExtensionInput(extra_attempts=0)),
    ):
        with pytest.raises(PermissionDenied):
            await refused
    graded = await service.grade_item(course.assistant, view.attempt.id, question, ManualGrade(points=1.0))
    assert graded.attempt.percent == 100.0
    assert (await service.gradebook(course.assistant, course.id)).rows[0].cells[quiz] == 100.0


async def test_an_instructor_of_another_course_is_refused(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single())
    quiz = await course.quiz([question])
    view, _ = await service.start_attempt(course.ada, quiz)
    await service.submit_attempt(course.ada, view.attempt.id)
    other = platform.instructor(platform.course())
    for refused in (
        service.create_quiz(other, course.id, QuizSettings(title="Theirs")),
        service.publish_quiz(other, quiz),
        service.gradebook(other, course.id),
    ):
        with pytest.raises(PermissionDenied):
            await refused
    for hidden in (
        service.view_attempt(other, view.attempt.id),
        service.grade_item(other, view.attempt.id, question, ManualGrade(points=1.0)),
        service.get_question(other, question),  # the bank is the course staff's alone
        service.revise_question(other, question, QuestionInput(prompt="Q?", body=single())),
    ):
        with pytest.raises(NotFound):
            await hidden


# -- starting ------------------------------------------------------------------------------------


async def test_starting_twice_returns_the_attempt_in_progress(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    quiz = await course.quiz([await course.question(single())])
    first, created = await service.start_attempt(course.ada, quiz)
    again, created_again = await service.start_attempt(course.ada, quiz)
    assert (created, created_again) == (True, False)
    assert again.attempt.id == first.attempt.id
    assert [i.question["options"] for i in again.items] == [i.question["options"] for i in first.items]
    assert event_types(platform).count(AttemptStarted) == 1


async def test_concurrent_starts_make_one_attempt(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    quiz = await course.quiz([await course.question(single())])
    results = await asyncio.gather(*(service.start_attempt(course.ada, quiz) for _ in range(5)))
    assert len({view.attempt.id for view, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert len(platform.store.attempts) == 1
    assert event_types(platform).count(AttemptStarted) == 1


async def test_the_attempt_limit_holds_and_an_extension_lifts_it(course: Course, service: AssessmentService) -> None:
    quiz = await course.quiz([await course.question(single())], max_attempts=1)
    view, _ = await service.start_attempt(course.ada, quiz)
    await service.submit_attempt(course.ada, view.attempt.id)
    with pytest.raises(StartRefused) as spent:
        await service.start_attempt(course.ada, quiz)
    assert spent.value.reason is StartRefusal.NO_ATTEMPTS_LEFT
    await service.set_extension(course.instructor, quiz, uid(course.ada), ExtensionInput(extra_attempts=1))
    second, created = await service.start_attempt(course.ada, quiz)
    assert created
    assert second.attempt.number == 2


async def test_the_window_refuses_learners_but_not_a_staff_preview(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single())
    quiz = await course.quiz([question], opens_at=T0 + HOUR, closes_at=T0 + 2 * HOUR)
    with pytest.raises(StartRefused) as early:
        await service.start_attempt(course.ada, quiz)
    assert early.value.reason is StartRefusal.NOT_OPEN
    _, previewed = await service.start_attempt(course.instructor, quiz)
    assert previewed
    platform.clock.advance(3 * HOUR)
    with pytest.raises(StartRefused) as late:
        await service.start_attempt(course.ada, quiz)
    assert late.value.reason is StartRefusal.CLOSED
    assert len(platform.store.events(AttemptStarted)) == 1  # the preview only


async def test_a_short_pool_refuses_publishing(course: Course, service: AssessmentService) -> None:
    await course.question(single(), tags=["algebra"])
    settings = QuizSettings(title="Draws", slots=[DrawSlotInput(tags=["algebra"], count=2)])
    quiz = await service.create_quiz(course.instructor, course.id, settings)
    with pytest.raises(Conflict) as refused:
        await service.publish_quiz(course.instructor, quiz.id)
    assert "slots.0" in refused.value.detail
    await course.question(single(), tags=["algebra"])
    assert (await service.publish_quiz(course.instructor, quiz.id)).status.value == "published"


# -- answering and submitting -----------------------------------------------------------------------


async def test_answers_are_checked_and_refused_once_time_is_up(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single())
    quiz = await course.quiz([question], time_limit_seconds=600, grace_seconds=30)
    view, _ = await service.start_attempt(course.ada, quiz)
    with pytest.raises(ValidationFailed):
        await service.save_answer(course.ada, view.attempt.id, question, SaveAnswer(response={"choice": "zz"}))
    saved = await service.save_answer(course.ada, view.attempt.id, question, SaveAnswer(response={"choice": "b"}))
    assert saved.items[0].response == {"choice": "b"}
    assert saved.time_ends_at == T0 + timedelta(minutes=10)
    platform.clock.advance(timedelta(minutes=10, seconds=31))
    with pytest.raises(AttemptClosed):
        await service.save_answer(course.ada, view.attempt.id, question, SaveAnswer(response={"choice": "a"}))
    closed = await service.view_attempt(course.ada, view.attempt.id)
    assert (closed.attempt.status, closed.attempt.percent) == (AttemptStatus.GRADED, 100.0)
    assert closed.items[0].response == {"choice": "b"}
    [submitted] = platform.store.events(AttemptSubmitted)
    assert isinstance(submitted, AttemptSubmitted)
    assert submitted.reason == "time_up"


async def test_concurrent_submits_submit_once(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    quiz = await course.quiz([await course.question(single())])
    view, _ = await service.start_attempt(course.ada, quiz)
    results = await asyncio.gather(*(service.submit_attempt(course.ada, view.attempt.id) for _ in range(5)))
    assert [submitted for _, submitted in results].count(True) == 1
    assert {v.attempt.submitted_at for v, _ in results} == {T0}
    assert event_types(platform).count(AttemptSubmitted) == 1
    assert event_types(platform).count(AttemptGraded) == 1
    assert platform.store.grades[(quiz, uid(course.ada))].attempts == 1


async def test_starting_again_after_time_ran_out_submits_the_old_attempt_first(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single())
    quiz = await course.quiz([question], time_limit_seconds=600, max_attempts=2)
    first, _ = await service.start_attempt(course.ada, quiz)
    await service.save_answer(course.ada, first.attempt.id, question, SaveAnswer(response={"choice": "b"}))
    platform.clock.advance(HOUR)
    second, created = await service.start_attempt(course.ada, quiz)
    assert created
    assert second.attempt.number == 2
    old = platform.store.attempts[first.attempt.id]
    assert (old.status, old.submit_reason, old.percent) == (AttemptStatus.GRADED, "time_up", 100.0)
    platform.clock.advance(HOUR)
    with pytest.raises(StartRefused):
        await service.start_attempt(course.ada, quiz)  # no attempt left: refused, yet the expired one is submitted
    assert platform.store.attempts[second.attempt.id].status is AttemptStatus.GRADED
    assert platform.store.grades[(quiz, uid(course.ada))].attempts == 2


async def test_close_expired_submits_abandoned_attempts(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single())
    quiz = await course.quiz([question], time_limit_seconds=600)
    abandoned, _ = await service.start_attempt(course.ada, quiz)
    await service.save_answer(course.ada, abandoned.attempt.id, question, SaveAnswer(response={"choice": "b"}))
    platform.clock.advance(timedelta(minutes=9))
    running, _ = await service.start_attempt(course.bob, quiz)
    platform.clock.advance(timedelta(minutes=2))
    assert await service.close_expired() == 1
    assert await service.close_expired() == 0
    closed = platform.store.attempts[abandoned.attempt.id]
    assert (closed.status, closed.submit_reason, closed.percent) == (AttemptStatus.GRADED, "time_up", 100.0)
    assert platform.store.attempts[running.attempt.id].status is AttemptStatus.IN_PROGRESS
    with pytest.raises(ValidationFailed):
        await service.close_expired(limit=0)


# -- grades -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(GradingPolicy.HIGHEST, 100.0), (GradingPolicy.LATEST, 50.0), (GradingPolicy.AVERAGE, 58.3333)],
)
async def test_the_quiz_grade_follows_the_grading_policy(
    platform: AssessmentPlatform, course: Course, service: AssessmentService, policy: GradingPolicy, expected: float
) -> None:
    questions = [await course.question(single()) for _ in range(4)]
    quiz = await course.quiz(questions, grading_policy=policy, pass_mark_percent=55.0)
    for right in (4, 1, 2):  # 100%, 25%, 50%
        view, _ = await service.start_attempt(course.ada, quiz)
        for index, item in enumerate(view.items):
            choice = "b" if index < right else "a"
            await service.save_answer(
                course.ada, view.attempt.id, item.question_id, SaveAnswer(response={"choice": choice})
            )
        await service.submit_attempt(course.ada, view.attempt.id)
    grade = platform.store.grades[(quiz, uid(course.ada))]
    assert (grade.percent, grade.attempts, grade.passed) == (expected, 3, expected >= 55.0)
    settings = QuizSettings(
        title="Week 1",
        slots=[FixedSlotInput(question_id=q) for q in questions],
        grading_policy=GradingPolicy.LATEST,
        pass_mark_percent=40.0,
    )
    await service.update_quiz(course.instructor, quiz, settings)
    assert (
        platform.store.grades[(quiz, uid(course.ada))].percent,
        platform.store.grades[(quiz, uid(course.ada))].passed,
    ) == (
        50.0,
        True,
    )
    mine = await service.my_grades(course.ada, course.id)
    assert [(row.user_id, row.cells[quiz]) for row in mine.rows] == [(uid(course.ada), 50.0)]


async def test_a_regrade_dry_run_changes_nothing_and_the_commit_does_what_it_said(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    wrong, other = await course.question(single(correct="b")), await course.question(TrueFalse(correct=True))
    quiz = await course.quiz([wrong, other])
    learners = [course.ada, course.bob, platform.learner(course.id)]
    for actor, choice in zip(learners, ["a", "b", "c"], strict=True):
        view, _ = await service.start_attempt(actor, quiz)
        await service.save_answer(actor, view.attempt.id, wrong, SaveAnswer(response={"choice": choice}))
        await service.save_answer(actor, view.attempt.id, other, SaveAnswer(response={"value": True}))
        await service.submit_attempt(actor, view.attempt.id)
    await service.start_attempt(platform.learner(course.id), quiz)  # in progress: not the regrade's to rescore
    before = (list(platform.store.outbox), dict(platform.store.grades), len(platform.store.question_versions))
    attempts_before = {k: (a.version, a.percent) for k, a in platform.store.attempts.items()}

    dry = await service.regrade_question(course.instructor, wrong, Regrade(body=single(correct="c")))
    assert dry.dry_run
    assert dry.new_version is None
    assert (platform.store.outbox, platform.store.grades, len(platform.store.question_versions)) == before
    assert {k: (a.version, a.percent) for k, a in platform.store.attempts.items()} == attempts_before
    assert dry.attempts == 3
    assert sorted((c.item_before, c.item_after) for c in dry.changes) == [(0.0, 1.0), (1.0, 0.0)]

    done = await service.regrade_question(course.instructor, wrong, Regrade(body=single(correct="c"), dry_run=False))
    assert (done.dry_run, done.new_version) == (False, 2)
    assert done.changes == dry.changes
    for change in done.changes:
        stored = platform.store.attempts[change.attempt_id]
        assert (stored.percent, stored.items[0].key_version) == (change.percent_after, 2)
        assert platform.store.grades[(quiz, change.user_id)].percent == change.percent_after
    regraded = platform.store.events(AttemptRegraded)
    assert len(regraded) == len(done.changes) == 2
    assert all(isinstance(e, AttemptRegraded) and e.reason == "key_fix" for e in regraded)
    with pytest.raises(ValidationFailed):
        await service.regrade_question(course.instructor, wrong, Regrade(body=TrueFalse(correct=True)))


async def test_an_attempt_in_progress_during_a_regrade_is_scored_by_the_fix(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    wrong = await course.question(single(correct="b"))
    quiz = await course.quiz([wrong])
    view, _ = await service.start_attempt(course.ada, quiz)
    await service.save_answer(course.ada, view.attempt.id, wrong, SaveAnswer(response={"choice": "c"}))
    report = await service.regrade_question(course.instructor, wrong, Regrade(body=single(correct="c"), dry_run=False))
    assert report.attempts == 0
    done, _ = await service.submit_attempt(course.ada, view.attempt.id)
    assert done.attempt.percent == 100.0
    assert platform.store.attempts[view.attempt.id].items[0].key_version == 2


# -- import and export ------------------------------------------------------------------------------


async def test_export_then_import_round_trips(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    fixed = await course.question(essay())
    for _ in range(3):
        await course.question(single(), tags=["pool"])
    settings = QuizSettings(
        title="Exported",
        slots=[FixedSlotInput(question_id=fixed, points=None), DrawSlotInput(tags=["pool"], count=2, points=3.0)],
        time_limit_seconds=900,
        due_at=T0 + HOUR,
        grading_policy=GradingPolicy.AVERAGE,
    )
    quiz = await service.create_quiz(course.instructor, course.id, settings)
    document = await service.export_quiz(course.instructor, quiz.id)
    assert len(document.questions) == 4
    assert document.quiz.slots[0] == DocumentFixedSlot(ref=document.questions[0].ref)

    elsewhere = platform.course()
    imported = await service.import_quiz(
        SYSTEM, elsewhere, QuizDocument.model_validate_json(document.model_dump_json())
    )
    assert imported.course_id == elsewhere
    assert imported.spec.title == "Exported"
    assert (imported.time_limit_seconds, imported.due_at, imported.grading_policy) == (
        900,
        T0 + HOUR,
        GradingPolicy.AVERAGE,
    )
    again = await service.export_quiz(SYSTEM, imported.id)
    assert again.quiz == document.quiz
    assert sorted(q.model_dump_json(exclude={"ref"}) for q in again.questions) == sorted(
        q.model_dump_json(exclude={"ref"}) for q in document.questions
    )


async def test_an_import_is_all_or_nothing_with_paths_into_the_document(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    good = DocumentQuestion(ref="good", prompt="Q?", body=single())
    bad_body = DocumentQuestion(
        ref="bad",
        prompt="Q?",
        body={"kind": "single_choice", "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], "correct": "z"},
    )  # type: ignore[arg-type]
    document = QuizDocument(
        quiz={"title": "Imported", "slots": [{"type": "fixed", "ref": "good"}, {"type": "fixed", "ref": "nope"}]},  # type: ignore[arg-type]
        questions=[good, bad_body],
    )
    stored = (dict(platform.store.questions), dict(platform.store.quizzes), platform.store.commits)
    with pytest.raises(ValidationFailed) as refused:
        await service.import_quiz(course.instructor, course.id, document)
    fields = {e.field for e in refused.value.errors}
    assert "quiz.slots.1.ref" in fields
    assert any(f.startswith("questions.1.body") for f in fields)
    assert (dict(platform.store.questions), dict(platform.store.quizzes), platform.store.commits) == stored


# -- the rest of the surface --------------------------------------------------------------------------


async def test_item_statistics_and_the_gradebook_are_for_staff(course: Course, service: AssessmentService) -> None:
    quiz = await course.quiz([await course.question(single()), await course.question(single())])
    for actor, choice in ((course.ada, "b"), (course.bob, "a")):
        view, _ = await service.start_attempt(actor, quiz)
        await answer_all(service, actor, view, choice)
        await service.submit_attempt(actor, view.attempt.id)
    stats = (await service.item_statistics(course.assistant, quiz)).items
    assert [s.responses for s in stats] == [2, 2]
    assert all(s.facility == 0.5 for s in stats)
    with pytest.raises(PermissionDenied):
        await service.item_statistics(course.ada, quiz)
    with pytest.raises(PermissionDenied):
        await service.gradebook(course.ada, course.id)
    book = await service.gradebook(course.instructor, course.id)
    assert {row.display_name: row.cells[quiz] for row in book.rows} == {"Ada": 100.0, "Bob": 0.0}


async def test_an_extension_gives_more_time(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    quiz = await course.quiz([await course.question(single())], time_limit_seconds=600)
    with pytest.raises(NotFound):
        await service.set_extension(course.instructor, quiz, uuid.uuid4(), ExtensionInput(extra_time_seconds=60))
    extension = await service.set_extension(
        course.instructor, quiz, uid(course.ada), ExtensionInput(extra_time_seconds=300)
    )
    assert extension.extra_time_seconds == 300
    view, _ = await service.start_attempt(course.ada, quiz)
    assert view.time_ends_at == T0 + timedelta(minutes=15)
    await service.remove_extension(course.instructor, quiz, uid(course.ada))
    with pytest.raises(NotFound):
        await service.remove_extension(course.instructor, quiz, uid(course.ada))
    bob, _ = await service.start_attempt(course.bob, quiz)
    assert bob.time_ends_at == T0 + timedelta(minutes=10)


async def test_the_bank_and_the_grading_scheme(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single(), tags=["algebra"])
    revised = await service.revise_question(
        course.instructor, question, QuestionInput(prompt="Better?", body=single(correct="a"), tags=["algebra"])
    )
    assert revised.current.version == 2
    assert (await service.get_question(course.assistant, question, 1)).prompt == "A question?"
    with pytest.raises(NotFound):
        await service.get_question(course.assistant, question, 9)
    with pytest.raises(NotFound):
        await service.get_question(course.ada, question)
    assert [q.id for q in (await service.list_questions(course.instructor, course.id, tag="algebra")).items] == [
        question
    ]
    await service.archive_question(course.instructor, question)
    assert (await service.list_questions(course.instructor, course.id)).items == []
    with pytest.raises(ValidationFailed):
        await service.list_questions(course.instructor, course.id, tag="Not A Tag")

    with pytest.raises(ValidationFailed) as repeated:
        await service.set_grading_scheme(
            course.instructor,
            course.id,
            GradingSchemeInput(
                categories=[CategoryInput(name="Exams", weight=2), CategoryInput(name="exams", weight=1)]
            ),
        )
    assert [e.field for e in repeated.value.errors] == ["categories.1.name"]
    scheme = await service.set_grading_scheme(
        course.instructor, course.id, GradingSchemeInput(categories=[CategoryInput(name="Exams", weight=2)])
    )
    assert await service.get_grading_scheme(course.ada, course.id) == scheme
    with pytest.raises(PermissionDenied):
        await service.get_grading_scheme(platform.outsider(), course.id)


async def test_a_published_quiz_stays_fillable_and_a_refused_update_changes_nothing(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single(), tags=["pool"])
    quiz = await course.quiz([question], title="Fixed")
    too_many = QuizSettings(title="Drawn", slots=[DrawSlotInput(tags=["pool"], count=2)])
    with pytest.raises(StartRefused) as refused:
        await service.update_quiz(course.instructor, quiz, too_many)
    assert refused.value.reason is StartRefusal.CANNOT_FILL
    assert platform.store.quizzes[quiz].title == "Fixed"
    elsewhere = await a_course(platform).question(single())
    with pytest.raises(ValidationFailed) as foreign:
        await service.update_quiz(
            course.instructor, quiz, QuizSettings(title="X", slots=[FixedSlotInput(question_id=elsewhere)])
        )
    assert [e.field for e in foreign.value.errors] == ["slots.0.question_id"]


async def test_reading_an_attempt_whose_time_is_over_submits_it(
    platform: AssessmentPlatform, course: Course, service: AssessmentService
) -> None:
    question = await course.question(single())
    quiz = await course.quiz([question], time_limit_seconds=60, grace_seconds=0)
    view, _ = await service.start_attempt(course.ada, quiz)
    platform.clock.advance(timedelta(minutes=2))
    staff_view = await service.view_attempt(course.assistant, view.attempt.id)
    assert staff_view.attempt.status is AttemptStatus.GRADED
    assert platform.store.grades[(quiz, uid(course.ada))].attempts == 1
    assert event_types(platform).count(AttemptSubmitted) == 1
