"""Field paths of validation errors: pydantic's locations less the union members it inserts."""

from __future__ import annotations

import pytest

from elearning_core.assessment.commands import QuestionInput, QuizDocument, QuizSettings
from elearning_core.course.commands import LessonContentSpec
from elearning_http.field_paths import json_path


@pytest.mark.parametrize(
    ("model", "location", "expected"),
    [
        # a smart union names the member's class; a tagged one its tag: neither is in the JSON
        (QuizSettings, "slots.0.FixedSlotInput.question_id", "slots.0.question_id"),
        (QuizSettings, "slots.3.draw.count", "slots.3.count"),
        (QuestionInput, "body.single_choice.options.0.text", "body.options.0.text"),
        (QuestionInput, "body.essay.rubric.1.levels.0.points", "body.rubric.1.levels.0.points"),
        (QuizDocument, "questions.2.body.true_false.correct", "questions.2.body.correct"),
        (QuizDocument, "quiz.slots.1.fixed.ref", "quiz.slots.1.ref"),
        # plain fields, list items, optional values and unknown keys stay as they are
        (QuizSettings, "late_policy.per", "late_policy.per"),
        (LessonContentSpec, "attachments.0.url", "attachments.0.url"),
        (QuizSettings, "max_attempts", "max_attempts"),
        (QuizSettings, "colour", "colour"),
    ],
)
def test_union_members_leave_the_path(model: type, location: str, expected: str) -> None:
    assert ".".join(json_path(model, location.split("."))) == expected
