"""``ContentGate.lesson``: who may open one lesson of the published version (and so its attachments), decided as
the course's own lesson read decides it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from elearning_core.course.commands import CourseRef
from elearning_core.course.gating import ContentGate
from elearning_core.shared.errors import NotFound
from tests.fakes import (
    ADMIN,
    T0,
    CourseStore,
    InMemoryCatalogQueries,
    InMemoryEnrollmentDates,
    SettableClock,
    a_service,
)
from tests.unit.course.test_gating import author, gated_course

DAY = timedelta(days=1)
USER = uuid.UUID(int=7)


async def test_a_lesson_opens_as_the_course_gates_it() -> None:
    store, enrollments = CourseStore(), InMemoryEnrollmentDates()
    service = a_service(store, clock=SettableClock(T0), enrollments=enrollments)
    course = gated_course(store)  # section 1: a preview and a plain lesson; 2: opens at T0 + 3 days; 3: 7 days in
    await author(service, course)
    gate = ContentGate(InMemoryCatalogQueries(store), enrollments)
    preview, plain = course.sections[0].lessons
    dated, self_paced = course.sections[1].lessons[0], course.sections[2].lessons[0]

    async def access(user: uuid.UUID | None, lesson_id: uuid.UUID, days: int = 0) -> tuple[str, object]:
        decision = await gate.lesson(course.id, lesson_id, user, T0 + days * DAY)
        return decision.access.value, decision.available_at

    assert await access(None, preview.id) == ("open", None)
    assert await access(None, plain.id) == ("enrollment_required", None)
    assert await access(USER, plain.id) == ("enrollment_required", None)
    enrollments.enroll(USER, course.id, T0)
    assert await access(USER, plain.id) == ("open", None)
    assert await access(USER, dated.id) == ("not_yet_released", T0 + 3 * DAY)
    assert await access(USER, dated.id, days=3) == ("open", None)
    assert await access(USER, self_paced.id, days=6) == ("not_yet_released", T0 + 7 * DAY)
    with pytest.raises(NotFound):
        await gate.lesson(course.id, uuid.uuid4(), USER, T0)
    await service.unpublish(ADMIN, CourseRef(course_id=course.id))
    with pytest.raises(NotFound):  # a course no longer published: its lessons are a draft to learners
        await gate.lesson(course.id, plain.id, USER, T0)
