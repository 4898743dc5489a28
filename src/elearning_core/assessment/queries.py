"""Assessment read models and the query port: listings, the grading queue, the gradebook's inputs,
and the per-item scores behind item statistics. Reads skip the aggregates."""

from __future__ import annotations

import csv
import io
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from elearning_core.assessment.model import (
    AttemptStatus,
    Category,
    QuestionKind,
    QuizStatus,
)
from elearning_core.shared.spreadsheet import spreadsheet_text


@dataclass(frozen=True, slots=True)
class QuestionSummary:
    id: uuid.UUID
    course_id: uuid.UUID
    version: int
    kind: QuestionKind
    prompt: str
    points: float
    tags: tuple[str, ...]
    archived: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class QuizSummary:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    category: str
    status: QuizStatus
    opens_at: datetime | None
    due_at: datetime | None
    closes_at: datetime | None
    max_attempts: int | None
    time_limit_seconds: int | None
    missing_grade_percent: float | None
    """From the late policy: the grade of a learner with no submitted attempt after the close."""


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    id: uuid.UUID
    quiz_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    status: AttemptStatus
    started_at: datetime
    submitted_at: datetime | None
    late_seconds: int
    score: float | None
    max_score: float
    percent: float | None
    passed: bool | None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One item waiting for a person's grade."""

    attempt_id: uuid.UUID
    quiz_id: uuid.UUID
    quiz_title: str
    user_id: uuid.UUID
    question_id: uuid.UUID
    position: int
    note: str | None
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class Learner:
    user_id: uuid.UUID
    display_name: str
    email: str


@dataclass(frozen=True, slots=True)
class GradeCell:
    user_id: uuid.UUID
    quiz_id: uuid.UUID
    percent: float | None
    attempts: int
    pending: int


@dataclass(frozen=True, slots=True)
class GradebookInputs:
    """Everything the gradebook is computed from, read in a few queries."""

    quizzes: list[QuizSummary]
    """The course's published quizzes (the graded items), by due date then title."""
    learners: list[Learner]
    """Learners with an active or completed enrollment, by display name."""
    grades: list[GradeCell]
    categories: list[Category]
    extended_closes: dict[tuple[uuid.UUID, uuid.UUID], datetime | None]
    """(quiz id, user id) -> the close an extension gives that learner (missing work waits for it)."""


@dataclass(frozen=True, slots=True)
class ItemScore:
    attempt_id: uuid.UUID
    question_id: uuid.UUID
    score: float
    points: float


@dataclass(frozen=True, slots=True)
class AttemptItemView:
    """One question of an attempt as its reader may see it."""

    position: int
    question_id: uuid.UUID
    version: int
    points: float
    question: dict[str, Any]
    """``present(...)``: prompt, kind, options in the attempt's order; the key only when revealed."""
    response: dict[str, Any] | None
    saved_at: datetime | None
    score: float | None
    """None until graded, and hidden from a learner before answers may be reviewed."""
    needs_grading: bool
    feedback: str | None


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempt: AttemptSummary
    time_ends_at: datetime | None
    """When saving stops counting (time limit end, or the window's close), without the grace."""
    items: list[AttemptItemView]
    feedback: str | None
    review: bool
    """Whether the answer key and per-item scores are shown."""


@dataclass(frozen=True, slots=True)
class RegradeChange:
    attempt_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    item_before: float | None
    item_after: float
    percent_before: float | None
    percent_after: float | None
    passed_before: bool | None
    passed_after: bool | None


@dataclass(frozen=True, slots=True)
class RegradeReport:
    question_id: uuid.UUID
    dry_run: bool
    new_version: int | None
    """The key-fix version written (None in a dry run)."""
    attempts: int
    """Attempts looked at (submitted or graded, with this question)."""
    changes: list[RegradeChange]
    """Only the attempts whose item score changes."""


@dataclass(frozen=True, slots=True)
class GradebookRow:
    user_id: uuid.UUID
    display_name: str
    email: str
    cells: dict[uuid.UUID, float | None]
    """Quiz id -> grade in percent (the late deduction applied; missing work per the late policy)."""
    categories: dict[str, float | None]
    """Category -> percent after drop-lowest; None when the learner has no grade in it."""
    total: float | None
    """Weighted over the categories the learner has grades in."""


@dataclass(frozen=True, slots=True)
class Gradebook:
    course_id: uuid.UUID
    quizzes: list[QuizSummary]
    categories: list[Category]
    rows: list[GradebookRow]


class AssessmentQueries(Protocol):
    async def questions(
        self, course_id: uuid.UUID, tag: str | None, include_archived: bool, after: uuid.UUID | None, limit: int
    ) -> list[QuestionSummary]:
        """The course's bank in id order after ``after`` (optionally one tag)."""
        ...

    async def quizzes(self, course_id: uuid.UUID, published_only: bool) -> list[QuizSummary]: ...

    async def attempts(
        self, quiz_id: uuid.UUID, user_id: uuid.UUID | None, after: uuid.UUID | None, limit: int
    ) -> list[AttemptSummary]:
        """A quiz's attempts (one learner's when given) in id order after ``after``."""
        ...

    async def grading_queue(
        self, course_id: uuid.UUID, quiz_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID, int] | None, limit: int
    ) -> list[QueueEntry]:
        """Items needing a person's grade in the course's submitted attempts, oldest submission first
        (key: submitted_at, attempt id, position)."""
        ...

    async def gradebook_inputs(self, course_id: uuid.UUID) -> GradebookInputs: ...

    async def learner_grades(self, course_id: uuid.UUID, user_id: uuid.UUID) -> GradebookInputs:
        """The same inputs restricted to one learner (``learners`` has them alone, or nobody)."""
        ...

    async def item_scores(self, quiz_id: uuid.UUID) -> list[ItemScore]:
        """Every scored item of the quiz's graded attempts (for item statistics)."""
        ...


def build_gradebook(course_id: uuid.UUID, inputs: GradebookInputs, now: datetime) -> Gradebook:
    """Every learner x every published quiz: the stored quiz grades; missing work (no submitted
    attempt once the learner's close has passed) at the quiz's ``missing_grade_percent`` when set;
    per category the mean after dropping the learner's ``drop_lowest`` lowest grades (never all);
    the total weighted over the categories the learner has grades in (renormalised)."""
    categories = _effective_categories(inputs.categories, inputs.quizzes)
    # Everything that does not depend on the learner is settled once, so the per-cell work is a dict
    # lookup: a 500-learner course is recomputed on every gradebook view and export.
    grades = {(cell.user_id, cell.quiz_id): cell for cell in inputs.grades}
    quiz_closes = [(quiz.id, quiz.missing_grade_percent, quiz.closes_at or quiz.due_at) for quiz in inputs.quizzes]
    members: dict[str, list[uuid.UUID]] = {category.name: [] for category in categories}
    for quiz in inputs.quizzes:
        members[quiz.category].append(quiz.id)
    counted = [
        (category.name, members[category.name], max(category.drop_lowest, 0), max(category.weight, 0.0))
        for category in categories
        if members[category.name]
    ]
    extended_closes = inputs.extended_closes

    rows: list[GradebookRow] = []
    for learner in inputs.learners:
        user_id = learner.user_id
        raw: dict[uuid.UUID, float | None] = {}
        for quiz_id, missing_percent, quiz_close in quiz_closes:
            grade = grades.get((user_id, quiz_id))
            percent = grade.percent if grade is not None else None
            if percent is None and missing_percent is not None and (grade is None or grade.attempts == 0):
                extended = extended_closes.get((quiz_id, user_id))
                close = extended if extended is not None else quiz_close
                # At the close itself the quiz no longer takes attempts, so the work is already missing.
                if close is not None and now >= close:
                    percent = missing_percent
            raw[quiz_id] = percent

        by_category: dict[str, float | None] = {category.name: None for category in categories}
        weighted = 0.0
        weights = 0.0
        for name, quiz_ids, drop_lowest, weight in counted:
            graded = sorted(p for quiz_id in quiz_ids if (p := raw[quiz_id]) is not None)
            if not graded:
                continue
            kept = graded[min(drop_lowest, len(graded) - 1) :]
            percent = math.fsum(kept) / len(kept)
            by_category[name] = round(percent, 2)
            weighted += weight * percent
            weights += weight
        rows.append(
            GradebookRow(
                user_id=user_id,
                display_name=learner.display_name,
                email=learner.email,
                cells={quiz_id: None if p is None else round(p, 2) for quiz_id, p in raw.items()},
                categories=by_category,
                # Totals come from the unrounded category means: rounding twice could move a total by a cent.
                total=round(weighted / weights, 2) if weights > 0 else None,
            )
        )
    return Gradebook(course_id=course_id, quizzes=list(inputs.quizzes), categories=categories, rows=rows)


def gradebook_csv(gradebook: Gradebook) -> str:
    """The gradebook as CSV (RFC 4180): user id, name, email, one column per quiz, one per category,
    total; numbers with 2 decimals, blanks for no grade. Text cells that a spreadsheet would run as
    a formula (starting with = + - @ tab or CR) are prefixed with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends, whatever the platform
    writer.writerow(
        [
            "user_id",
            "name",
            "email",
            *(spreadsheet_text(quiz.title) for quiz in gradebook.quizzes),
            *(spreadsheet_text(f"category: {category.name}") for category in gradebook.categories),
            "total",
        ]
    )
    for row in gradebook.rows:
        writer.writerow(
            [
                str(row.user_id),
                spreadsheet_text(row.display_name),
                spreadsheet_text(row.email),
                *(_number_cell(row.cells.get(quiz.id)) for quiz in gradebook.quizzes),
                *(_number_cell(row.categories.get(category.name)) for category in gradebook.categories),
                _number_cell(row.total),
            ]
        )
    return out.getvalue()


def _number_cell(value: float | None) -> str:
    # ``+ 0.0`` turns a -0.0 into 0.0, which would otherwise print as "-0.00".
    return "" if value is None else f"{value + 0.0:.2f}"


def _effective_categories(scheme: list[Category], quizzes: list[QuizSummary]) -> list[Category]:
    """The scheme's categories, then one of weight 1 per quiz category the scheme does not list (so a
    course without a scheme weighs its categories equally). A repeated scheme name keeps its first entry
    rather than counting twice."""
    categories: dict[str, Category] = {}
    for category in scheme:
        categories.setdefault(category.name, category)
    for quiz in quizzes:
        if quiz.category not in categories:
            categories[quiz.category] = Category(name=quiz.category, weight=1.0)
    return list(categories.values())
