"""Property tests for the aggregate's pure rules (no I/O)."""

from __future__ import annotations

import string
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.course import events as ev
from elearning_core.course.model import (
    SLUG_MAX,
    SLUG_MIN,
    TAG_MAX,
    TAGS_MAX,
    Course,
    check_slug,
    check_tags,
    slugify,
)
from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.events import DomainEvent
from tests.fakes import T0, a_course, minutes

PURE = settings(max_examples=200, deadline=None)
T1 = T0 + minutes(1)
SLUG_CHARS = string.ascii_lowercase + string.digits


def is_valid_slug(text: str) -> bool:
    """The documented rule, written independently of the implementation's regex."""
    words = text.split("-")
    return SLUG_MIN <= len(text) <= SLUG_MAX and all(word and all(ch in SLUG_CHARS for ch in word) for word in words)


def proposals(current: list[uuid.UUID]) -> st.SearchStrategy[list[uuid.UUID]]:
    """Exact permutations, and lists mixing current ids (maybe repeated, maybe missing) with unknown ones."""
    unknown = st.builds(uuid.uuid4)
    pool = st.sampled_from(current) | unknown if current else unknown
    return st.one_of(st.permutations(current), st.lists(pool, max_size=len(current) + 2))


def check_reorder(
    course: Course,
    current: list[uuid.UUID],
    proposed: list[uuid.UUID],
    reorder: Callable[[], None],
    order: Callable[[], list[uuid.UUID]],
    event_type: type[DomainEvent],
) -> None:
    is_permutation = len(proposed) == len(current) and sorted(proposed) == sorted(current)
    if not is_permutation:
        with pytest.raises(ValidationFailed):
            reorder()
        assert order() == current
        assert course.pending_events == []
        return
    reorder()
    assert order() == proposed
    events = course.pull_events()
    if proposed == current:
        assert events == []
    else:
        assert [type(e) for e in events] == [event_type]


@PURE
@given(sections=st.integers(min_value=0, max_value=6), data=st.data())
def test_reorder_sections_accepts_exactly_the_permutations_of_its_sections(sections: int, data: st.DataObject) -> None:
    course = a_course(sections=sections, lessons=1)
    current: list[uuid.UUID] = [s.id for s in course.sections]
    proposed = data.draw(proposals(current), label="section_ids")
    lessons_before = {s.id: [lesson.id for lesson in s.lessons] for s in course.sections}

    check_reorder(
        course,
        current,
        proposed,
        lambda: course.reorder_sections(proposed, T1),
        lambda: [s.id for s in course.sections],
        ev.SectionsReordered,
    )
    assert {s.id: [lesson.id for lesson in s.lessons] for s in course.sections} == lessons_before


@PURE
@given(lessons=st.integers(min_value=0, max_value=6), data=st.data())
def test_reorder_lessons_accepts_exactly_the_permutations_of_its_lessons(lessons: int, data: st.DataObject) -> None:
    course = a_course(sections=2, lessons=lessons)
    section, other = course.sections
    other_before: list[uuid.UUID] = [lesson.id for lesson in other.lessons]
    current: list[uuid.UUID] = [lesson.id for lesson in section.lessons]
    # Lessons of the other section are "unknown" here, like random ids.
    proposed = data.draw(
        proposals(current) | st.lists(st.sampled_from(current + other_before or [uuid.uuid4()]), max_size=lessons + 1),
        label="lesson_ids",
    )

    check_reorder(
        course,
        current,
        proposed,
        lambda: course.reorder_lessons(section.id, proposed, T1),
        lambda: [lesson.id for lesson in section.lessons],
        ev.LessonsReordered,
    )
    assert [lesson.id for lesson in other.lessons] == other_before


@PURE
@given(st.text())
def test_slugify_always_gives_a_valid_slug(text: str) -> None:
    slug = slugify(text)
    assert check_slug(slug) == slug
    assert is_valid_slug(slug)


@PURE
@given(st.text(alphabet=SLUG_CHARS + "-", max_size=SLUG_MAX + 5).filter(is_valid_slug))
def test_slugify_keeps_a_valid_slug_unchanged(slug: str) -> None:
    assert slugify(slug) == slug


slug_candidates = st.one_of(
    st.text(alphabet=SLUG_CHARS[:5] + "09-", min_size=0, max_size=12),
    st.text(alphabet=SLUG_CHARS + "-_ A\n\t.é٣ß", max_size=90),
    st.from_regex(r"[a-z0-9]{1,30}(-[a-z0-9]{1,30}){0,4}", fullmatch=True),
    st.text(max_size=90),
)


@PURE
@given(slug_candidates)
def test_check_slug_accepts_a_string_iff_it_follows_the_documented_rule(text: str) -> None:
    if is_valid_slug(text):
        assert check_slug(text) == text
    else:
        with pytest.raises(ValidationFailed) as info:
            check_slug(text)
        assert [e.field for e in info.value.errors] == ["slug"]


tag_text = st.text(alphabet="abcXYZ019 +#.-\t\u212a_/é", max_size=TAG_MAX + 3)


@PURE
@given(st.lists(tag_text, max_size=TAGS_MAX + 3))
def test_tag_normalisation_is_idempotent(tags: list[str]) -> None:
    try:
        normalised = check_tags(tags)
    except ValidationFailed:
        return  # invalid input; the unit tests cover what is refused
    assert check_tags(normalised) == normalised
    assert len(normalised) == len(set(normalised)) <= TAGS_MAX
    assert all(tag == tag.strip().lower() and 1 <= len(tag) <= TAG_MAX for tag in normalised)
