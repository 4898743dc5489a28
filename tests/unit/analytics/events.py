"""One event of every type the analytics mapping reads, for its tests."""

from __future__ import annotations

import uuid

from elearning_core.assessment import events as assessment
from elearning_core.certificate.events import CertificateIssued
from elearning_core.checkout.events import OrderPaid
from elearning_core.discussion import events as discussion
from elearning_core.enrollment.events import Enrolled
from elearning_core.identity.events import UserRegistered
from elearning_core.progress import events as progress
from elearning_core.shared.events import DomainEvent
from tests.fakes import T0

COURSE, LESSON, VIDEO, QUIZ = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
ANN, ENROLLMENT, THREAD, QUESTION = (uuid.UUID(int=n) for n in (10, 11, 12, 13))
KEY = progress.progress_key(COURSE, ANN)
LEARNER = {"course_id": COURSE, "user_id": ANN}
ATTEMPT = {"aggregate_id": uuid.UUID(int=20), "quiz_id": QUIZ, **LEARNER, "number": 1}


def heartbeat(state: str, start: float = 10.0, end: float = 20.0, position: float = 20.0) -> progress.VideoWatched:
    return progress.VideoWatched(
        occurred_at=T0,
        aggregate_id=KEY,
        **LEARNER,
        lesson_id=LESSON,
        video_id=VIDEO,
        start_seconds=start,
        end_seconds=end,
        position_seconds=position,
        state=state,
        playback_rate=1.5,
        player_session_id="player-1",
        duration_seconds=120.0,
        watched_seconds=60.0,
    )


def submitted() -> assessment.AttemptSubmitted:
    item = assessment.SubmittedItem
    return assessment.AttemptSubmitted(
        occurred_at=T0,
        **ATTEMPT,
        reason="learner",
        late_seconds=0,
        needs_grading=True,
        items=[
            item(
                question_id=QUESTION,
                version=2,
                kind="multiple_response",
                points=2,
                answered=True,
                response={"choices": ["a", "c"]},
                score=1.0,
            ),
            item(
                question_id=uuid.UUID(int=14),
                version=1,
                kind="essay",
                points=5,
                answered=True,
                response=None,
                score=None,
            ),
            item(
                question_id=uuid.UUID(int=15),
                version=1,
                kind="matching",
                points=1,
                answered=False,
                response=None,
                score=0.0,
            ),
        ],
    )


def every_event() -> dict[str, DomainEvent]:
    """One event per mapped type (and the heartbeats in each state), by a name for test ids."""
    return {
        "registered": UserRegistered(
            occurred_at=T0, aggregate_id=ANN, email="ann@example.org", display_name="Ann", source="password"
        ),
        "enrolled": Enrolled(occurred_at=T0, aggregate_id=ENROLLMENT, **LEARNER, cohort_id=None, source="self"),
        "lesson-viewed": progress.LessonViewed(occurred_at=T0, aggregate_id=KEY, **LEARNER, lesson_id=LESSON),
        "lesson-completed": progress.LessonCompleted(
            occurred_at=T0, aggregate_id=KEY, **LEARNER, lesson_id=LESSON, kind="video"
        ),
        "course-completed": progress.CourseCompleted(
            occurred_at=T0, aggregate_id=KEY, **LEARNER, version_number=1, source="rules", grade_percent=87.5
        ),
        "played": heartbeat("playing"),
        "paused": heartbeat("paused"),
        "seeked": heartbeat("seeking"),
        "ended": heartbeat("ended", 100.0, 120.0, 120.0),
        "attempted": assessment.AttemptStarted(occurred_at=T0, **ATTEMPT),
        "submitted": submitted(),
        "passed": assessment.AttemptGraded(occurred_at=T0, **ATTEMPT, score=8, max_score=10, percent=80, passed=True),
        "failed": assessment.AttemptGraded(occurred_at=T0, **ATTEMPT, score=2, max_score=10, percent=20, passed=False),
        "scored": assessment.AttemptGraded(occurred_at=T0, **ATTEMPT, score=5, max_score=10, percent=50, passed=None),
        "regraded": assessment.AttemptRegraded(
            occurred_at=T0, **ATTEMPT, previous_percent=50, percent=70, passed=True, reason="key_fix"
        ),
        "thread": discussion.ThreadCreated(
            occurred_at=T0,
            aggregate_id=THREAD,
            course_id=COURSE,
            thread_id=THREAD,
            lesson_id=LESSON,
            cohort_id=None,
            kind="question",
            title="Why?",
            excerpt="Why is it so",
            author_id=ANN,
            anonymous=False,
        ),
        "reply": discussion.ReplyPosted(
            occurred_at=T0,
            aggregate_id=THREAD,
            course_id=COURSE,
            thread_id=THREAD,
            thread_title="Why?",
            cohort_id=None,
            post_id=uuid.UUID(int=30),
            parent_id=THREAD,
            parent_author_id=None,
            depth=1,
            excerpt="Because",
            author_id=ANN,
            anonymous=True,
        ),
        "certificate": CertificateIssued(
            occurred_at=T0, aggregate_id=uuid.UUID(int=40), user_id=ANN, subject_kind="course", subject_id=COURSE
        ),
        "purchased": OrderPaid(
            occurred_at=T0,
            aggregate_id=uuid.UUID(int=50),
            customer_id=ANN,
            payment_id="pi_1",
            currency="EUR",
            total=4900,
        ),
    }
