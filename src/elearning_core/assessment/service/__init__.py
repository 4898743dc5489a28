"""Assessment use cases: the bank, quizzes, attempts, grading, regrading and the gradebook.

Access:
- authoring (questions, quizzes, extensions, the grading scheme, regrades)
  needs ``course.edit`` on the quiz's course: the course's instructors;
- grading (the queue, manual grades, feedback), the gradebook, every
  learner's attempts and item statistics need ``grade.view_all`` (reading) or
  ``grade.edit`` (writing) on the course: instructors and teaching assistants;
- taking a quiz needs an enrollment in the course (``EnrollmentLookup``) and
  a published quiz of a published course; learners read only their own
  attempts, and the answer key only when the quiz's ``answer_review`` allows
  it. Staff (``course.edit`` or ``grade.view_all``) may also take any quiz of
  their course, drafts included: a preview attempt counts like any other, but
  the window and the attempt limit do not hold them back (a preview is most
  needed before the quiz opens).
A course the actor may not see is "not found", as in the other modules; so is
another learner's attempt (no hint that it exists), a draft quiz for anyone
who is not the course's staff, and the question bank for anyone who is not.
A learner's own attempts stay theirs to read, answer and submit whatever
happens to the quiz or their enrollment meanwhile: their work is never
taken away, only new attempts are refused.

What a learner sees of their attempt: its totals (score, percent, passed) as
soon as it is graded; the per-item scores, the per-item feedback and the
answer key only once review is allowed (``after_submit``: once submitted;
``after_due``: from their extended due date, or the close when there is no
due date, or at once when there is neither; ``never``: never). The attempt's
overall feedback is theirs as soon as a grader writes it. Staff see everything.

Rules change, attempts stay. An attempt keeps the questions it drew, and its
time ends when it was set to at its start. It is scored by the rules in force
when it is submitted: the (extended) due date then, the late policy and pass
mark then; a later change of the late policy reaches later submissions only.
A learner's quiz grade (combined over graded attempts) always follows the
quiz's current grading policy and pass mark: changing either recomputes the
stored grades of every learner of the quiz in the same transaction.

Times come from the ``Clock``. Expired in-progress attempts are submitted
(reason ``time_up``) by ``close_expired`` (run by the worker and the CLI), and
lazily whenever one is touched, so a learner who walks away still gets a
grade for what they saved.
"""

from __future__ import annotations

from elearning_core.assessment.service._authoring import _Authoring, quiz_settings
from elearning_core.assessment.service._grading import _Grading
from elearning_core.assessment.service._taking import SWEEP_MAX, _Taking
from elearning_core.assessment.service._views import attempt_summary, attempt_view, quiz_summary, review_allowed


class AssessmentService(_Authoring, _Taking, _Grading):
    """The module's use cases, one async method each (grouped by who uses them in the private parts)."""


__all__ = [
    "SWEEP_MAX",
    "AssessmentService",
    "attempt_summary",
    "attempt_view",
    "quiz_settings",
    "quiz_summary",
    "review_allowed",
]
