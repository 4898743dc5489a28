"""The gradebook read progress uses for a course's minimum grade: the learner's total, or None."""

from __future__ import annotations

import uuid

from elearning_adapters.progress import AssessmentCourseGrades
from elearning_core.assessment.queries import GradebookInputs
from elearning_core.shared.clock import FixedClock
from tests.unit.assessment.test_gradebook import COURSE, T0, a_grade, a_learner, a_quiz, inputs


class Reads:
    """The one read ``AssessmentCourseGrades`` makes of the assessment queries."""

    def __init__(self, answer: GradebookInputs) -> None:
        self.answer = answer

    async def learner_grades(self, course_id: uuid.UUID, user_id: uuid.UUID) -> GradebookInputs:
        assert course_id == COURSE
        return self.answer


async def test_the_course_grade_is_the_gradebook_total_of_the_learner() -> None:
    ada, quiz = a_learner(1), a_quiz(1, "quizzes")
    grades = AssessmentCourseGrades(Reads(inputs([quiz], [ada], [a_grade(ada, quiz, 72.5)])), FixedClock(T0))  # type: ignore[arg-type]
    assert await grades.course_grade(COURSE, ada.user_id) == 72.5
    nothing = AssessmentCourseGrades(Reads(inputs([quiz], [ada])), FixedClock(T0))  # type: ignore[arg-type]
    assert await nothing.course_grade(COURSE, ada.user_id) is None
    assert await nothing.course_grade(COURSE, uuid.uuid4()) is None
