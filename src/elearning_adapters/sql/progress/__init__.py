"""Progress tables: the facts (compact), the derived rows the projection keeps, and their reads.

Facts: one row per learner and lesson for the view/done marks, one per learner and video for the
merged watched intervals (not one per heartbeat), one per learner and assessment for the quiz
outcome, an audit row per staff override or reset, a rules row per course. Derived: one row per
learner and course (percentages, completion, and the last activity the commands touch) and one per
completed lesson. Every fact write is a union or a maximum, so writing it twice changes nothing.
"""

from elearning_adapters.sql.progress._queries import (
    SqlCourseCompletions,
    SqlLearnerFactsReader,
    SqlProgressQueries,
)
from elearning_adapters.sql.progress._repository import SqlProgressRepository
from elearning_adapters.sql.progress._tables import (
    PROGRESS_TABLES,
    audit_trail,
    completion_rules,
    course_progress,
    lesson_completions,
    lesson_marks,
    quiz_outcomes,
    video_watches,
)

__all__ = [
    "PROGRESS_TABLES",
    "SqlCourseCompletions",
    "SqlLearnerFactsReader",
    "SqlProgressQueries",
    "SqlProgressRepository",
    "audit_trail",
    "completion_rules",
    "course_progress",
    "lesson_completions",
    "lesson_marks",
    "quiz_outcomes",
    "video_watches",
]
