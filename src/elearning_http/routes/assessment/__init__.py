"""Assessment routes under ``/api/v1``: the question bank, quizzes, attempts, grading and the gradebook.

Routes only translate; the use cases decide who may do what (``course.edit`` for authoring,
``grade.view_all``/``grade.edit`` for grading, an enrollment for taking a quiz). Refusals are problem
documents: 404 for what the caller may not see (another learner's attempt), 409 for a rule (outside
the window, attempts used up, already submitted), 422 with field paths for bad bodies and responses.
"""

from elearning_http.routes.assessment._authoring import QuestionController, QuizController
from elearning_http.routes.assessment._grading import GradebookController, GradingController
from elearning_http.routes.assessment._taking import AttemptController

ASSESSMENT_HANDLERS = [QuestionController, QuizController, AttemptController, GradingController, GradebookController]

__all__ = [
    "ASSESSMENT_HANDLERS",
    "AttemptController",
    "GradebookController",
    "GradingController",
    "QuestionController",
    "QuizController",
]
