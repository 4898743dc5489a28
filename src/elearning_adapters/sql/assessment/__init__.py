"""Assessment persistence: the tables, the repositories of the unit of work, and the read queries."""

from elearning_adapters.sql.assessment._queries import SqlAssessmentQueries
from elearning_adapters.sql.assessment._repositories import (
    ATTEMPT_CHANGED,
    ATTEMPT_EXISTS,
    QUESTION_CHANGED,
    QUIZ_CHANGED,
    SqlAttemptRepository,
    SqlGradeRepository,
    SqlQuestionRepository,
    SqlQuizRepository,
    is_attempt_key_violation,
)
from elearning_adapters.sql.assessment._tables import (
    ASSESSMENT_TABLES,
    attempt_items,
    attempts,
    grading_schemes,
    question_tags,
    question_versions,
    questions,
    quiz_extensions,
    quiz_grades,
    quizzes,
)

__all__ = [
    "ASSESSMENT_TABLES",
    "ATTEMPT_CHANGED",
    "ATTEMPT_EXISTS",
    "QUESTION_CHANGED",
    "QUIZ_CHANGED",
    "SqlAssessmentQueries",
    "SqlAttemptRepository",
    "SqlGradeRepository",
    "SqlQuestionRepository",
    "SqlQuizRepository",
    "attempt_items",
    "attempts",
    "grading_schemes",
    "is_attempt_key_violation",
    "question_tags",
    "question_versions",
    "questions",
    "quiz_extensions",
    "quiz_grades",
    "quizzes",
]
