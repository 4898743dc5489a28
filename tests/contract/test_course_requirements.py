"""Conditional release through every course backend (fake, SQLite, PostgreSQL): the draft's requirements
survive the repository, the draft outline read and the published version's snapshot, and their changes reach
the outbox."""

from __future__ import annotations

import uuid
from datetime import timedelta

from elearning_adapters.cache import CatalogCodec
from elearning_core.course.gating import Viewer, gate_outline
from elearning_core.course.model import Course, LessonContent
from elearning_core.course.queries import outline_of
from elearning_core.course.requirements import Requirement, RequirementKind
from tests.contract.conftest import Backend
from tests.fakes import T0, a_course, minutes

QUIZ = uuid.UUID(int=77)


def gated() -> tuple[Course, dict[str, object]]:
    """Two sections of two lessons: 1.2 shows a quiz; 1.2 requires the previous lesson; section 2 requires
    the previous section and a 75 % pass of the quiz; 2.2 requires lesson 1.1."""
    course = a_course(sections=2, lessons=2)
    (s0, s1) = course.sections
    a, b = s0.lessons
    _, d = s1.lessons
    course.set_lesson_content(s0.id, b.id, LessonContent.checked(kind="assessment", assessment_id=QUIZ), T0)
    course.set_lesson_requirements(s0.id, b.id, [Requirement(RequirementKind.PREVIOUS)], T0)
    section_reqs = [
        Requirement(RequirementKind.PREVIOUS),
        Requirement(RequirementKind.QUIZ, assessment_id=QUIZ, min_percent=75.0),
    ]
    course.set_section_requirements(s1.id, section_reqs, T0)
    course.set_lesson_requirements(s1.id, d.id, [Requirement(RequirementKind.LESSON, lesson_id=a.id)], T0)
    expected = {
        "sections": [(), tuple(section_reqs)],
        "lessons": [
            [(), (Requirement(RequirementKind.PREVIOUS),)],
            [(), (Requirement(RequirementKind.LESSON, lesson_id=a.id),)],
        ],
    }
    return course, expected


def stored_shape(course: Course) -> dict[str, object]:
    return {
        "sections": [s.requirements for s in course.sections],
        "lessons": [[x.requirements for x in s.lessons] for s in course.sections],
    }


def view_shape(outline: object) -> dict[str, object]:
    sections = outline.sections  # type: ignore[attr-defined]
    return {
        "sections": [tuple(s.requirements) for s in sections],
        "lessons": [[tuple(x.requirements) for x in s.lessons] for s in sections],
    }


async def test_requirements_round_trip_through_the_repository_and_the_reads(backend: Backend) -> None:
    course, expected = gated()
    async with backend.uow() as uow:
        uow.courses.add(course)
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        assert stored_shape(loaded) == expected
        loaded.publish(T0 + minutes(1))
        await uow.commit()
    draft = await backend.queries.outline(course.id)
    assert draft is not None
    assert view_shape(draft) == expected
    published = await backend.queries.published_outline(course.id)
    assert published is not None
    assert view_shape(published) == expected
    assert "course.requirements_changed.v1" in await backend.outbox_types()


async def test_clearing_and_pruning_requirements_is_stored(backend: Backend) -> None:
    course, _ = gated()
    async with backend.uow() as uow:
        uow.courses.add(course)
        await uow.commit()
    s0, s1 = course.sections
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.set_section_requirements(s1.id, [], T0 + minutes(1))
        loaded.remove_lesson(s0.id, s0.lessons[0].id, T0 + minutes(1))  # 2.2 required it: pruned
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.courses.get(course.id)
        assert again is not None
        assert [s.requirements for s in again.sections] == [(), ()]
        assert [[x.requirements for x in s.lessons] for s in again.sections] == [
            [(Requirement(RequirementKind.PREVIOUS),)],
            [(), ()],
        ]
    draft = await backend.queries.outline(course.id)
    assert draft is not None
    assert [[x.requirements for x in s.lessons] for s in draft.sections] == [
        [[Requirement(RequirementKind.PREVIOUS)]],
        [[], []],
    ]
    async with backend.uow() as uow:
        first_now = await uow.courses.get(course.id)
        assert first_now is not None
        first_now.publish(T0 + minutes(2))  # a ``previous`` left on what became the first lesson is harmless
        await uow.commit()
    published = await backend.queries.published_outline(course.id)
    assert published is not None
    assert published.sections[0].lessons[0].requirements == [Requirement(RequirementKind.PREVIOUS)]


def test_the_catalog_cache_codec_keeps_requirements_and_reasons_exactly() -> None:
    """Cached outlines carry requirements (and a gated copy its reasons): msgspec decodes them back equal."""
    course, _ = gated()
    outline = gate_outline(outline_of(course), Viewer(enrolled_at=T0 - timedelta(days=1)), T0)
    assert outline.sections[1].lessons[0].unmet_requirements  # something to keep
    codec = CatalogCodec()
    assert codec.decode_outline(codec.encode_outline(outline)) == outline
