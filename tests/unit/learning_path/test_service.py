"""Learning path use cases on the fakes: authoring, publishing, enrolling, the progress projection."""

from __future__ import annotations

import uuid

import pytest

from elearning_core.auth.model import Grant, Role
from elearning_core.learning_path.commands import CreatePath, PartInput, SetStructure, UpdatePath
from elearning_core.learning_path.events import PathCompleted, PathCourseEnrollmentRefused, PathEnrolled, PathPublished
from elearning_core.learning_path.model import CourseOutcomeStatus, PartKind, PathStatus
from elearning_core.learning_path.service import LearningPathService
from elearning_core.shared.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.ports import ANONYMOUS, Principal
from tests.fakes import ADMIN, T0
from tests.learning_path_fakes import PathStore, a_path_service

LEARNER_ID = uuid.UUID(int=7)
LEARNER = Principal(subject="user:7", user_id=LEARNER_ID, grants=(Grant(Role.LEARNER),), email_verified=True)
INSTRUCTOR = Principal(subject="user:8", user_id=uuid.UUID(int=8), grants=(Grant(Role.INSTRUCTOR),))


async def _published_path(
    service: LearningPathService, store: PathStore, *, prerequisites: list[uuid.UUID] | None = None
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A published path: one required course, then any 1 of 2 electives."""
    courses = [store.add_course(title=f"Course {i}") for i in range(3)]
    path = await service.create(ADMIN, CreatePath(title="Data engineering", slug="data-engineering"))
    await service.set_structure(
        ADMIN,
        path.id,
        SetStructure(
            parts=[
                PartInput(kind=PartKind.REQUIRED, course_ids=courses[:1]),
                PartInput(kind=PartKind.ELECTIVE, course_ids=courses[1:], required_count=1, title="Pick one"),
            ],
            prerequisites=prerequisites or [],
        ),
    )
    await service.publish(ADMIN, path.id)
    return path.id, courses


async def test_authoring_and_publishing_records_path_published() -> None:
    service, store = a_path_service()
    path_id, courses = await _published_path(service, store)
    path = await service.get(LEARNER, path_id)
    assert path.status is PathStatus.PUBLISHED
    assert [type(e) for e in store.outbox] == [PathPublished]
    published = store.outbox[0]
    assert isinstance(published, PathPublished)
    assert published.course_ids == courses
    assert (await service.get_by_slug(ANONYMOUS, "data-engineering")).id == path_id


async def test_platform_instructors_author_and_learners_do_not() -> None:
    service, _ = a_path_service()
    made = await service.create(INSTRUCTOR, CreatePath(title="By an instructor", slug="by-an-instructor"))
    assert made.status is PathStatus.DRAFT
    with pytest.raises(PermissionDenied):
        await service.create(LEARNER, CreatePath(title="No", slug="not-mine"))
    with pytest.raises(NotFound):  # a draft does not exist for learners
        await service.get(LEARNER, made.id)


async def test_slugs_are_unique() -> None:
    service, _ = a_path_service()
    first = await service.create(ADMIN, CreatePath(title="One", slug="same-slug"))
    with pytest.raises(Conflict, match="slug"):
        await service.create(ADMIN, CreatePath(title="Two", slug="same-slug"))
    other = await service.create(ADMIN, CreatePath(title="Three", slug="other-slug"))
    with pytest.raises(Conflict, match="slug"):
        await service.update(ADMIN, other.id, UpdatePath(slug="same-slug"))
    assert (await service.update(ADMIN, first.id, UpdatePath(title="Renamed"))).title == "Renamed"


async def test_unknown_courses_are_named_by_field() -> None:
    service, store = a_path_service()
    path = await service.create(ADMIN, CreatePath(title="P", slug="p-path"))
    known = store.add_course()
    with pytest.raises(ValidationFailed) as refused:
        await service.set_structure(
            ADMIN, path.id, SetStructure(parts=[PartInput(kind=PartKind.REQUIRED, course_ids=[known, uuid.uuid4()])])
        )
    assert refused.value.errors[0].field == "parts.0.course_ids.1"


async def test_publishing_needs_published_courses_and_parts() -> None:
    service, store = a_path_service()
    path = await service.create(ADMIN, CreatePath(title="P", slug="p-path"))
    with pytest.raises(Conflict, match="at least one part"):
        await service.publish(ADMIN, path.id)
    draft_course = store.add_course(published=False)
    await service.set_structure(
        ADMIN, path.id, SetStructure(parts=[PartInput(kind=PartKind.REQUIRED, course_ids=[draft_course])])
    )
    with pytest.raises(Conflict, match=str(draft_course)):
        await service.publish(ADMIN, path.id)
    assert store.outbox == []


async def test_a_published_structure_is_frozen_and_only_drafts_are_deleted() -> None:
    service, store = a_path_service()
    path_id, courses = await _published_path(service, store)
    with pytest.raises(Conflict, match="only a draft"):
        await service.set_structure(
            ADMIN, path_id, SetStructure(parts=[PartInput(kind=PartKind.REQUIRED, course_ids=courses)])
        )
    with pytest.raises(Conflict, match="only a draft"):
        await service.delete(ADMIN, path_id)
    assert (await service.archive(ADMIN, path_id)).status is PathStatus.ARCHIVED
    with pytest.raises(Conflict, match="published path"):
        await service.enroll(LEARNER, path_id)


async def test_listing_shows_drafts_to_authors_only() -> None:
    service, store = a_path_service()
    published, _ = await _published_path(service, store)
    draft = await service.create(ADMIN, CreatePath(title="Draft", slug="a-draft"))
    assert [p.id for p in (await service.list_paths(ANONYMOUS)).items] == [published]
    assert {p.id for p in (await service.list_paths(ADMIN)).items} == {published, draft.id}
    assert [p.id for p in (await service.list_paths(ADMIN, PathStatus.DRAFT)).items] == [draft.id]
    first = await service.list_paths(ADMIN, limit=1)
    assert first.next_cursor is not None
    second = await service.list_paths(ADMIN, cursor=first.next_cursor, limit=1)
    assert [p.id for p in first.items + second.items] == sorted([published, draft.id])


async def test_enrolling_names_the_courses_not_yet_completed_once() -> None:
    service, store = a_path_service()
    path_id, courses = await _published_path(service, store)
    await service.course_completed(LEARNER_ID, courses[1], T0)
    enrollment, created = await service.enroll(LEARNER, path_id)
    again, created_again = await service.enroll(LEARNER, path_id)
    assert created
    assert not created_again
    assert again.id == enrollment.id
    enrolled = [e for e in store.outbox if isinstance(e, PathEnrolled)]
    assert len(enrolled) == 1
    assert enrolled[0].course_ids == [courses[0], courses[2]]
    assert enrolled[0].aggregate_id == enrollment.id


async def test_prerequisites_must_be_completed_before_enrolling() -> None:
    service, store = a_path_service()
    before = store.add_course()
    path_id, _ = await _published_path(service, store, prerequisites=[before])
    with pytest.raises(Conflict, match=str(before)):
        await service.enroll(LEARNER, path_id)
    await service.course_completed(LEARNER_ID, before, T0)
    assert (await service.enroll(LEARNER, path_id))[1]


async def test_a_service_account_cannot_enroll() -> None:
    service, store = a_path_service()
    path_id, _ = await _published_path(service, store)
    with pytest.raises(Unauthenticated):
        await service.enroll(ADMIN, path_id)


async def test_refusals_are_recorded_reported_and_shown() -> None:
    service, store = a_path_service()
    path_id, courses = await _published_path(service, store)
    enrollment, _ = await service.enroll(LEARNER, path_id)
    await service.record_course_outcome(enrollment.id, courses[0], CourseOutcomeStatus.ENROLLED)
    await service.record_course_outcome(
        enrollment.id,
        courses[1],
        CourseOutcomeStatus.REFUSED,
        reason="course_full",
        detail="the course is full (1 seats)",
    )
    refused = [e for e in store.outbox if isinstance(e, PathCourseEnrollmentRefused)]
    assert [(e.course_id, e.reason) for e in refused] == [(courses[1], "course_full")]
    progress = await service.progress(LEARNER, path_id)
    states = {c.course_id: c for part in progress.parts for c in part.courses}
    assert states[courses[0]].enrollment == "enrolled"
    assert states[courses[0]].refusal_reason is None
    assert states[courses[1]].enrollment == "refused"
    assert states[courses[1]].refusal_reason == "course_full"
    assert states[courses[2]].enrollment is None


async def test_completions_complete_the_path_once() -> None:
    service, store = a_path_service()
    path_id, courses = await _published_path(service, store)
    enrollment, _ = await service.enroll(LEARNER, path_id)
    assert await service.course_completed(LEARNER_ID, courses[2], T0) == []
    assert await service.course_completed(LEARNER_ID, courses[0], T0) == [path_id]
    assert await service.course_completed(LEARNER_ID, courses[1], T0) == []  # the other elective: already complete
    assert await service.course_completed(LEARNER_ID, courses[0], T0) == []  # a redelivery
    assert [e.aggregate_id for e in store.outbox if isinstance(e, PathCompleted)] == [enrollment.id]
    progress = await service.progress(LEARNER, path_id)
    assert progress.completed_at == T0
    assert progress.rules_satisfied
    assert progress.parts_satisfied == 2
    mine = await service.my_paths(LEARNER)
    assert [p.path_id for p in mine.items] == [path_id]


async def test_a_reset_removes_the_fact_but_keeps_a_recorded_completion() -> None:
    service, store = a_path_service()
    path_id, courses = await _published_path(service, store)
    await service.enroll(LEARNER, path_id)
    await service.course_completed(LEARNER_ID, courses[0], T0)
    await service.progress_reset(LEARNER_ID, courses[0])
    await service.course_completed(LEARNER_ID, courses[1], T0)
    progress = await service.progress(LEARNER, path_id)
    assert not progress.rules_satisfied
    assert progress.completed_at is None
    await service.course_completed(LEARNER_ID, courses[0], T0)
    await service.progress_reset(LEARNER_ID, courses[0])
    progress = await service.progress(LEARNER, path_id)
    assert progress.completed_at == T0
    assert not progress.rules_satisfied


async def test_an_enrollment_whose_courses_were_all_done_completes_at_once() -> None:
    service, store = a_path_service()
    path_id, courses = await _published_path(service, store)
    for course in courses[:2]:
        await service.course_completed(LEARNER_ID, course, T0)
    enrollment, _ = await service.enroll(LEARNER, path_id)
    assert await service.check_completion(enrollment.id, T0)
    assert not await service.check_completion(enrollment.id, T0)
    assert sum(isinstance(e, PathCompleted) for e in store.outbox) == 1


async def test_progress_of_a_path_one_does_not_follow_is_not_found() -> None:
    service, store = a_path_service()
    path_id, _ = await _published_path(service, store)
    with pytest.raises(NotFound):
        await service.progress(LEARNER, path_id)
