"""The at-risk read port's fake, over a small world of the raw facts the SQL adapter reads from the source
tables (enrollments, cohorts, the activity each module records, progress rows, completion rules, quizzes,
extensions). The contract test writes the same world to SQLite and PostgreSQL, so the fake stays honest."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from elearning_core.analytics.at_risk import LearnerFacts
from elearning_core.analytics.at_risk_service import AtRiskReads, RiskReadings

ACTIVITY_KINDS = ("viewed", "done", "watched", "progress", "attempt_started", "attempt_submitted", "thread", "post")
"""Where activity is recorded: a lesson viewed or marked done and a video heartbeat (each also moves the
progress row's last_activity_at forward, which is what the SQL read takes), the progress row's time alone,
an attempt started or submitted, a thread or a post written. The fake takes the latest of them all."""


@dataclass
class Enrollment:
    course_id: uuid.UUID
    user_id: uuid.UUID
    enrolled_at: datetime
    status: str = "active"
    cohort_id: uuid.UUID | None = None


@dataclass
class Quiz:
    course_id: uuid.UUID
    title: str = "Quiz"
    status: str = "published"
    pass_mark_percent: float | None = None
    max_attempts: int | None = None


@dataclass
class RiskWorld:
    users: dict[uuid.UUID, tuple[str, str]] = field(default_factory=dict)
    """User id -> (display name, email)."""
    enrollments: list[Enrollment] = field(default_factory=list)
    cohorts: dict[uuid.UUID, tuple[uuid.UUID, datetime | None]] = field(default_factory=dict)
    """Cohort id -> (course id, starts at)."""
    activity: list[tuple[uuid.UUID, uuid.UUID, str, datetime]] = field(default_factory=list)
    """(course id, user id, kind from ACTIVITY_KINDS, at)."""
    progress: dict[tuple[uuid.UUID, uuid.UUID], tuple[int, int]] = field(default_factory=dict)
    """(course id, user id) -> (required lessons, required completed)."""
    rules: dict[uuid.UUID, tuple[float | None, frozenset[uuid.UUID]]] = field(default_factory=dict)
    """Course id -> (minimum grade, optional lesson ids)."""
    quizzes: dict[uuid.UUID, Quiz] = field(default_factory=dict)
    extensions: dict[tuple[uuid.UUID, uuid.UUID], int] = field(default_factory=dict)
    """(quiz id, user id) -> extra attempts."""


class InMemoryAtRiskReads(AtRiskReads):
    def __init__(self, world: RiskWorld) -> None:
        self.world = world

    async def readings(self, course_id: uuid.UUID) -> RiskReadings:
        w = self.world
        learners = []
        for e in sorted(w.enrollments, key=lambda e: e.user_id):
            if e.course_id != course_id or e.status != "active":
                continue
            name, email = w.users.get(e.user_id, ("", ""))
            times = [at for c, u, _kind, at in w.activity if c == course_id and u == e.user_id]
            cohort = w.cohorts.get(e.cohort_id) if e.cohort_id is not None else None
            required, done = w.progress.get((course_id, e.user_id), (0, 0))
            learners.append(
                LearnerFacts(
                    user_id=e.user_id,
                    display_name=name,
                    email=email,
                    enrolled_at=e.enrolled_at,
                    cohort_id=e.cohort_id,
                    cohort_starts_at=cohort[1] if cohort is not None else None,
                    last_activity_at=max(times, default=None),
                    required_lessons=required,
                    required_completed=done,
                )
            )
        min_grade, optional = w.rules.get(course_id, (None, frozenset()))
        published = {
            quiz_id: quiz
            for quiz_id, quiz in w.quizzes.items()
            if quiz.course_id == course_id and quiz.status == "published"
        }
        return RiskReadings(
            learners=learners,
            min_grade_percent=min_grade,
            optional_lesson_ids=optional,
            pass_marks={
                q: quiz.pass_mark_percent for q, quiz in published.items() if quiz.pass_mark_percent is not None
            },
            extra_attempts={
                (user, quiz): extra for (quiz, user), extra in w.extensions.items() if quiz in published and extra
            },
        )
