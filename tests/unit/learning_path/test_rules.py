"""The path model's rules: part validation, the structure checks, N-of-M evaluation (with Hypothesis)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.learning_path.model import PartKind, PathPart, check_structure, evaluate
from elearning_core.shared.errors import ValidationFailed

COURSES = [uuid.UUID(int=i) for i in range(1, 13)]


def test_a_required_part_needs_every_course() -> None:
    part = PathPart.make(PartKind.REQUIRED, COURSES[:3])
    assert part.required_count == 3
    assert not part.satisfied(set(COURSES[:2]))
    assert part.satisfied(set(COURSES[:3]))


@pytest.mark.parametrize("n", [0, 5, None])
def test_an_elective_part_needs_n_between_1_and_m(n: int | None) -> None:
    with pytest.raises(ValidationFailed) as refused:
        PathPart.make(PartKind.ELECTIVE, COURSES[:4], n, where="parts.1")
    assert refused.value.errors[0].field == "parts.1.required_count"
    assert "between 1 and 4" in refused.value.errors[0].message


def test_any_2_of_4() -> None:
    part = PathPart.make(PartKind.ELECTIVE, COURSES[:4], 2)
    assert not part.satisfied({COURSES[0]})
    assert part.satisfied({COURSES[0], COURSES[3]})


def test_a_course_twice_in_a_part_or_across_parts_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="must not name a course twice"):
        PathPart.make(PartKind.REQUIRED, [COURSES[0], COURSES[0]])
    parts = [PathPart.make(PartKind.REQUIRED, COURSES[:2]), PathPart.make(PartKind.ELECTIVE, COURSES[1:4], 1)]
    with pytest.raises(ValidationFailed) as refused:
        check_structure(parts, [])
    assert refused.value.errors[0].field == "parts.1.course_ids"


def test_a_prerequisite_cannot_be_a_course_of_the_path() -> None:
    parts = [PathPart.make(PartKind.REQUIRED, COURSES[:2])]
    with pytest.raises(ValidationFailed) as refused:
        check_structure(parts, [COURSES[5], COURSES[1]])
    assert refused.value.errors[0].field == "prerequisites.1"
    assert check_structure(parts, [COURSES[5], COURSES[5]]) == (COURSES[5],)


def test_a_path_without_parts_is_never_complete() -> None:
    assert not evaluate([], COURSES).complete


@st.composite
def paths(draw: st.DrawFn) -> list[PathPart]:
    pool = draw(st.permutations(COURSES))
    parts, start = [], 0
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, 3))
        chunk = pool[start : start + size]
        if not chunk:
            break
        start += size
        if draw(st.booleans()):
            parts.append(PathPart.make(PartKind.REQUIRED, chunk))
        else:
            parts.append(PathPart.make(PartKind.ELECTIVE, chunk, draw(st.integers(1, len(chunk)))))
    return parts


@given(paths(), st.lists(st.sampled_from(COURSES)), st.lists(st.sampled_from(COURSES)))
def test_evaluation_is_monotone(parts: list[PathPart], before: list[uuid.UUID], more: list[uuid.UUID]) -> None:
    """More completed courses never un-satisfy a part, nor un-complete the path."""
    earlier, later = evaluate(parts, before), evaluate(parts, before + more)
    for a, b in zip(earlier.parts, later.parts, strict=True):
        assert not a.satisfied or b.satisfied
        assert set(a.completed) <= set(b.completed)
    assert not earlier.complete or later.complete


@given(paths(), st.lists(st.sampled_from(COURSES)), st.randoms(use_true_random=False))
def test_evaluation_ignores_order_and_repeats(parts: list[PathPart], done: list[uuid.UUID], rnd: object) -> None:
    shuffled = list(done) * 2
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert evaluate(parts, done) == evaluate(parts, shuffled)


@given(paths(), st.lists(st.sampled_from(COURSES)))
def test_complete_exactly_when_every_part_has_its_n(parts: list[PathPart], done: list[uuid.UUID]) -> None:
    outcome = evaluate(parts, done)
    expected = all(len(set(p.course_ids) & set(done)) >= p.required_count for p in parts)
    assert outcome.complete is expected
