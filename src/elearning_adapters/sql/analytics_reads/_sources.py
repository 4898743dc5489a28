"""The other modules' tables these reads join (read only: each module owns and writes its own)."""

from elearning_adapters.sql.assessment import attempts, quiz_extensions, quizzes
from elearning_adapters.sql.discussion import discussion_posts, discussion_threads
from elearning_adapters.sql.enrollment import cohorts, enrollments
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.progress import completion_rules, course_progress

__all__ = [
    "attempts",
    "cohorts",
    "completion_rules",
    "course_progress",
    "discussion_posts",
    "discussion_threads",
    "enrollments",
    "quiz_extensions",
    "quizzes",
    "users",
]
