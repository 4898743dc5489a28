"""Builders for the quiz and attempt tests: question versions of a few kinds, quizzes over them,
and the service-level setup of a course with a bank and a published quiz."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from elearning_core.assessment.commands import FixedSlotInput, QuestionInput, QuizSettings
from elearning_core.assessment.model import (
    DrawSlot,
    Essay,
    FixedSlot,
    LatePolicy,
    LateUnit,
    Option,
    Ordering,
    QuestionVersion,
    Quiz,
    RubricCriterion,
    RubricLevel,
    ShortText,
    SingleChoice,
    Slot,
    TextAnswer,
    TextMatch,
)
from elearning_core.assessment.model._quiz import QuizSpec
from elearning_core.shared.ports import Principal
from tests.fakes import T0, AssessmentPlatform

COURSE = uuid.UUID("00000000-0000-7000-8000-00000000c0c0")


def options(*ids: str) -> list[Option]:
    return [Option(id=i, text=f"Option {i}") for i in ids]


def single(correct: str = "b") -> SingleChoice:
    return SingleChoice(options=options("a", "b", "c", "d"), correct=correct)


def ordering() -> Ordering:
    return Ordering(items=options("one", "two", "three"))


def essay() -> Essay:
    """Worth 4 points: quality 0 / 1 / 3, length 0 / 1."""
    return Essay(
        rubric=[
            RubricCriterion(
                id="quality",
                title="Quality",
                levels=[
                    RubricLevel(points=0, description="Weak"),
                    RubricLevel(points=1, description="Fair"),
                    RubricLevel(points=3, description="Strong"),
                ],
            ),
            RubricCriterion(
                id="length",
                title="Length",
                levels=[RubricLevel(points=0, description="Short"), RubricLevel(points=1, description="Enough")],
            ),
        ]
    )


def regex(pattern: str) -> ShortText:
    return ShortText(answers=[TextAnswer(text=pattern, match=TextMatch.REGEX)])


def version(
    body: Any,
    *,
    points: float = 1.0,
    tags: Sequence[str] = (),
    question_id: uuid.UUID | None = None,
    number: int = 1,
    key_fix_of: int | None = None,
) -> QuestionVersion:
    return QuestionVersion(
        question_id=question_id or uuid.uuid4(),
        version=number,
        course_id=COURSE,
        prompt="A question?",
        points=points,
        body=body,
        tags=tuple(tags),
        feedback="Because.",
        created_at=T0,
        key_fix_of=key_fix_of,
    )


def a_spec(slots: Sequence[Slot] = (), **changes: Any) -> QuizSpec:
    return replace(QuizSpec(title="Week 1", slots=tuple(slots)), **changes)


def a_quiz(slots: Sequence[Slot] = (), **changes: Any) -> Quiz:
    quiz = Quiz.create(COURSE, a_spec(slots, **changes), T0)
    return quiz


def fixed_quiz(versions: Sequence[QuestionVersion], **changes: Any) -> Quiz:
    return a_quiz([FixedSlot(v.question_id) for v in versions], **changes)


def by_id(versions: Sequence[QuestionVersion]) -> dict[uuid.UUID, QuestionVersion]:
    return {v.question_id: v for v in versions}


def by_ref(versions: Sequence[QuestionVersion]) -> dict[tuple[uuid.UUID, int], QuestionVersion]:
    return {(v.question_id, v.version): v for v in versions}


def draw(tags: Sequence[str], count: int, points: float | None = None) -> DrawSlot:
    return DrawSlot(tuple(tags), count, points)


LATE_10_PER_HOUR = LatePolicy(deduction_percent=10.0, per=LateUnit.HOUR)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


# -- the service on the fakes -------------------------------------------------------------


@dataclass
class Course:
    """A published course with an instructor, a teaching assistant and two enrolled learners."""

    platform: AssessmentPlatform
    id: uuid.UUID
    instructor: Principal
    assistant: Principal
    ada: Principal
    bob: Principal

    async def question(self, body: Any, *, points: float = 1.0, tags: Sequence[str] = ()) -> uuid.UUID:
        cmd = QuestionInput(prompt="A question?", points=points, body=body, tags=list(tags), feedback="Because.")
        return (await self.platform.service.create_question(self.instructor, self.id, cmd)).id

    async def quiz(self, questions: Sequence[uuid.UUID], *, publish: bool = True, **settings: Any) -> uuid.UUID:
        slots = [FixedSlotInput(question_id=q) for q in questions]
        cmd = QuizSettings(title=settings.pop("title", "Week 1"), slots=slots, **settings)
        quiz = await self.platform.service.create_quiz(self.instructor, self.id, cmd)
        if publish:
            await self.platform.service.publish_quiz(self.instructor, quiz.id)
        return quiz.id


def a_course(platform: AssessmentPlatform, *, published: bool = True) -> Course:
    course_id = platform.course(published=published)
    return Course(
        platform,
        course_id,
        platform.instructor(course_id),
        platform.assistant(course_id),
        platform.learner(course_id, name="Ada"),
        platform.learner(course_id, name="Bob"),
    )
