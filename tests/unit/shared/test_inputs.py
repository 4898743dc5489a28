"""The shared input rules: every string an input model takes is storable text, every integer fits its column."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from elearning_core.assessment.commands import ManualGrade, SaveAnswer
from elearning_core.course.commands import CourseSpec, CreateCourse, UpdateCourse
from elearning_core.course.model import check_text
from elearning_core.enrollment.commands import CreateCohort
from elearning_core.identity.commands import RegisterUser
from elearning_core.identity.model import check_bio, check_display_name, check_org_name
from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.inputs import (
    INT32_MAX,
    NUL_MESSAGE,
    InputModel,
    Int32,
    NonNegativeInt32,
    PositiveInt32,
    json_text_problem,
    text_problem,
)


class Note(InputModel):
    text: str


class Sample(InputModel):
    """Every shape a string can take inside an input model."""

    title: str = Field(default="t", max_length=1000)
    optional: str | None = None
    tags: list[str] = []
    labels: dict[str, str] = {}
    note: Note | None = None
    notes: list[Note] = []
    free: dict[str, Any] = {}
    count: NonNegativeInt32 = 0


def errors_of(model: type[InputModel], data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(str(part) for part in error["loc"]), error["msg"]) for error in caught.value.errors()]


without_nul = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200)  # any text, NUL aside


@given(before=st.text(max_size=50), after=st.text(max_size=50))
def test_any_string_with_a_nul_is_refused(before: str, after: str) -> None:
    value = before + "\x00" + after
    assert text_problem(value) == NUL_MESSAGE
    assert errors_of(Sample, {"title": value}) == [("title", NUL_MESSAGE)]


@given(value=without_nul)
def test_any_string_without_a_nul_passes(value: str) -> None:
    assert text_problem(value) is None
    sample = Sample.model_validate({"title": value, "tags": [value], "labels": {value: value}, "free": {"v": [value]}})
    assert sample.title == value
    assert sample.tags == [value]


def test_the_rule_reaches_every_string_and_names_it_by_its_json_path() -> None:
    data = {
        "optional": "a\x00",
        "tags": ["fine", "b\x00"],
        "labels": {"k": "c\x00"},
        "note": {"text": "\x00"},
        "notes": [{"text": "fine"}, {"text": "d\x00"}],
        "free": {"answer": [{"deep": "e\x00"}]},
    }
    assert {path for path, _ in errors_of(Sample, data)} == {
        "optional",
        "tags.1",
        "labels.k",
        "note.text",
        "notes.1.text",
        "free.answer",
    }
    # A key is text too.
    assert ("labels.k\x00.[key]", NUL_MESSAGE) in errors_of(Sample, {"labels": {"k\x00": "v"}})


def test_defaults_and_literals_are_data_not_schemas() -> None:
    class Odd(InputModel):
        shape: dict[str, Any] = {"type": "str"}  # looks like a core schema; must stay a plain default

    assert Odd().shape == {"type": "str"}


def test_the_rule_does_not_change_the_json_schema() -> None:
    schema = Sample.model_json_schema()
    assert schema["properties"]["title"] == {"default": "t", "maxLength": 1000, "title": "Title", "type": "string"}
    assert schema["properties"]["count"]["maximum"] == INT32_MAX
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (CreateCourse, {"title": "x", "description": "a\x00"}, "description"),
        (UpdateCourse, {"course_id": str(uuid.uuid4()), "summary": "\x00"}, "summary"),
        (CourseSpec, {"slug": "abc", "title": "t", "sections": [{"title": "\x00"}]}, "sections.0.title"),
        (CreateCohort, {"name": "Spring\x00"}, "name"),
        (RegisterUser, {"email": "a@b.org", "password": "p" * 12, "display_name": "\x00"}, "display_name"),
        (SaveAnswer, {"response": {"text": "\x00"}}, "response.text"),
        (ManualGrade, {"feedback": "\x00"}, "feedback"),
    ],
)
def test_every_modules_commands_apply_the_rule(model: type[InputModel], data: dict[str, Any], field: str) -> None:
    assert (field, NUL_MESSAGE) in errors_of(model, data)


def test_json_text_problem_finds_a_nul_anywhere() -> None:
    assert json_text_problem({"a": [1, {"b": "x\x00"}]}) == NUL_MESSAGE
    assert json_text_problem({"a\x00": 1}) == NUL_MESSAGE
    assert json_text_problem({"a": [1, 2.5, None, True, {"b": "fine"}]}) is None


class Bounded(InputModel):
    any32: Int32 = 0
    non_negative: NonNegativeInt32 = 0
    positive: PositiveInt32 = 1


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("any32", -(2**31), True),
        ("any32", -(2**31) - 1, False),
        ("any32", 2**31 - 1, True),
        ("any32", 2**31, False),
        ("non_negative", 0, True),
        ("non_negative", -1, False),
        ("non_negative", 2**63, False),
        ("positive", 0, False),
        ("positive", INT32_MAX, True),
    ],
)
def test_integer_types_match_their_column(field: str, value: int, ok: bool) -> None:
    if ok:
        assert getattr(Bounded.model_validate({field: value}), field) == value
    else:
        assert [path for path, _ in errors_of(Bounded, {field: value})] == [field]


def test_course_positions_and_versions_fit_an_int4_column() -> None:
    course_id = str(uuid.uuid4())
    assert errors_of(UpdateCourse, {"course_id": course_id, "expected_version": 2**31})[0][0] == "expected_version"
    assert (
        UpdateCourse.model_validate({"course_id": course_id, "expected_version": INT32_MAX}).expected_version
        == INT32_MAX
    )


def _platform_models() -> set[type[BaseModel]]:
    """Every pydantic model defined in the core and the HTTP layer (their modules imported first)."""
    import importlib
    import pkgutil

    import elearning_core
    import elearning_http

    for package in (elearning_core, elearning_http):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)

    def subclasses(cls: type[BaseModel]) -> set[type[BaseModel]]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    return {
        cls
        for cls in subclasses(BaseModel)
        if cls.__module__.startswith(("elearning_core.", "elearning_http.")) and "[" not in cls.__name__
    }


def test_every_input_model_of_the_platform_derives_from_input_model() -> None:
    """The convention, executable: a new module's commands or request bodies cannot skip the rules."""
    from elearning_core.shared.envelope import EventEnvelope
    from elearning_core.shared.events import DomainEvent

    ours = {
        cls
        for cls in _platform_models()
        # outputs, not inputs: events, and the models their payloads nest (defined in the events modules)
        if not issubclass(cls, DomainEvent | EventEnvelope) and not cls.__module__.endswith(".events")
    }
    assert len(ours) > 40
    assert [cls.__qualname__ for cls in ours if not issubclass(cls, InputModel)] == []


def test_every_integer_field_of_an_input_model_is_bounded() -> None:
    """An integer without a maximum could overflow its column: each one states its range in the schema."""

    def unbounded(node: Any, path: str) -> list[str]:
        if isinstance(node, dict):
            here = [path] if node.get("type") == "integer" and not {"minimum", "maximum"} <= node.keys() else []
            return here + [p for key, value in node.items() for p in unbounded(value, f"{path}.{key}")]
        if isinstance(node, list):
            return [p for i, value in enumerate(node) for p in unbounded(value, f"{path}.{i}")]
        return []

    models = [cls for cls in _platform_models() if issubclass(cls, InputModel) and cls is not InputModel]
    found = [p for cls in models for p in unbounded(cls.model_json_schema(), cls.__qualname__)]
    assert found == []


@pytest.mark.parametrize(
    ("check", "field"),
    [
        (lambda v: check_display_name(v), "display_name"),  # also fed by an identity provider's claims
        (lambda v: check_bio(v), "bio"),
        (lambda v: check_org_name(v), "name"),
        (lambda v: check_text(v, "description", 100), "description"),
    ],
)
def test_aggregates_apply_the_same_rule_for_callers_that_skip_the_commands(check: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check("Ada\x00 Lovelace")
    assert [(e.field, e.message) for e in refused.value.errors] == [(field, NUL_MESSAGE)]
    assert check("Ada Lovelace") == "Ada Lovelace"
