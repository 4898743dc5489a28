"""Inputs of the assessment use cases (unknown fields are refused, not ignored).

``QuizDocument`` is the import/export format (``elearning quizzes import|export``):
a quiz with the questions it uses, each question keyed by a document-local
``ref`` that the quiz's fixed slots name, so a document moves between courses
and platforms without carrying database ids.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from elearning_core.assessment.model import (
    CATEGORIES_MAX,
    CATEGORY_MAX,
    DRAW_MAX,
    POINTS_MAX,
    PROMPT_MAX,
    SLOTS_MAX,
    TAGS_MAX,
    TITLE_MAX,
    AnswerReview,
    GradingPolicy,
    LateUnit,
    QuestionBody,
)
from elearning_core.shared.inputs import InputModel, Int32


class _Command(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=PROMPT_MAX)


class QuestionInput(_Command):
    """A question (new, or the next version of one): its prompt (Markdown), points, kind-specific body."""

    prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    points: float = Field(default=1.0, gt=0, le=POINTS_MAX)
    body: QuestionBody
    tags: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    feedback: str | None = Field(default=None, max_length=PROMPT_MAX, description="Shown when answers are reviewed")


class FixedSlotInput(_Command):
    type: Literal["fixed"] = "fixed"
    question_id: uuid.UUID
    points: float | None = Field(default=None, gt=0, le=POINTS_MAX)


class DrawSlotInput(_Command):
    type: Literal["draw"] = "draw"
    tags: list[str] = Field(min_length=1, max_length=TAGS_MAX)
    count: int = Field(ge=1, le=DRAW_MAX)
    points: float | None = Field(default=None, gt=0, le=POINTS_MAX)


QuizSlot = Annotated[FixedSlotInput | DrawSlotInput, Field(discriminator="type")]
"""A slot of a quiz, tagged by ``type`` (required): a fixed question or a random draw."""


class LatePolicyInput(_Command):
    deduction_percent: float = Field(default=0.0, ge=0, le=100)
    per: LateUnit = LateUnit.DAY
    floor_percent: float = Field(default=0.0, ge=0, le=100)
    missing_grade_percent: float | None = Field(default=None, ge=0, le=100)


class QuizSettings(_Command):
    """A quiz's settings, replaced as a whole (omitted fields take their defaults)."""

    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=PROMPT_MAX)
    category: str = Field(default="quizzes", min_length=1, max_length=CATEGORY_MAX)
    slots: list[QuizSlot] = Field(default_factory=list, max_length=SLOTS_MAX)
    shuffle_questions: bool = False
    shuffle_options: bool = True
    time_limit_seconds: int | None = Field(default=None, ge=60, le=7 * 24 * 3600)
    grace_seconds: int = Field(default=30, ge=0, le=3600)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    opens_at: datetime | None = None
    due_at: datetime | None = None
    closes_at: datetime | None = None
    late_policy: LatePolicyInput = Field(default_factory=LatePolicyInput)
    grading_policy: GradingPolicy = GradingPolicy.HIGHEST
    pass_mark_percent: float | None = Field(default=None, ge=0, le=100)
    answer_review: AnswerReview = AnswerReview.AFTER_SUBMIT


class ExtensionInput(_Command):
    due_at: datetime | None = None
    closes_at: datetime | None = None
    extra_attempts: int = Field(default=0, ge=0, le=100)
    extra_time_seconds: int = Field(default=0, ge=0, le=7 * 24 * 3600)


class SaveAnswer(_Command):
    response: dict[str, Any]


class ManualGrade(_Command):
    """A person's grade of one item: the rubric level per criterion (essays), or points directly
    (any item: an override, e.g. after a regex timed out)."""

    rubric: dict[str, Int32] | None = None
    points: float | None = Field(default=None, ge=0, le=POINTS_MAX)
    feedback: str | None = Field(default=None, max_length=PROMPT_MAX)


class AttemptFeedback(_Command):
    feedback: str = Field(max_length=PROMPT_MAX)


class Regrade(_Command):
    """A corrected answer key for a question. ``dry_run`` (the default) reports what would change."""

    body: QuestionBody
    dry_run: bool = True


class CategoryInput(_Command):
    name: str = Field(min_length=1, max_length=CATEGORY_MAX)
    weight: float = Field(gt=0, le=1000)
    drop_lowest: int = Field(default=0, ge=0, le=50)


class GradingSchemeInput(_Command):
    categories: list[CategoryInput] = Field(default_factory=list, max_length=CATEGORIES_MAX)


class DocumentQuestion(QuestionInput):
    ref: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,60}$", description="Document-local key that slots name")


class DocumentFixedSlot(_Command):
    type: Literal["fixed"] = "fixed"
    ref: str
    points: float | None = Field(default=None, gt=0, le=POINTS_MAX)


DocumentSlot = Annotated[DocumentFixedSlot | DrawSlotInput, Field(discriminator="type")]


class DocumentQuiz(QuizSettings):
    slots: list[DocumentSlot] = Field(default_factory=list, max_length=SLOTS_MAX)  # type: ignore[assignment]


class QuizDocument(_Command):
    """The JSON format of ``elearning quizzes import|export`` (``format`` names its version)."""

    format: Literal["elearning.quiz.v1"] = "elearning.quiz.v1"
    quiz: DocumentQuiz
    questions: list[DocumentQuestion] = Field(default_factory=list, max_length=2000)
