"""What every course use case shares: the permission names, the wiring, loading and editing a course."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Literal

from elearning_core.course.commands import (
    SetLessonContent,
)
from elearning_core.course.gating import (
    OUTSIDER,
    EnrollmentDates,
    Viewer,
    with_verdict,
)
from elearning_core.course.model import (
    Attachment,
    Course,
    LessonContent,
    escaped_text_html,
)
from elearning_core.course.ports import CourseUnitOfWork, MarkdownRenderer
from elearning_core.course.queries import (
    CatalogQueries,
    CourseOutline,
)
from elearning_core.course.requirements import LearnerFactsReader, NoFactsReader, has_requirements
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import NotFound
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Policy, Principal, require

# Permission names, checked by the use cases themselves.
CREATE = "course.create"
EDIT = "course.edit"
PUBLISH = "course.publish"
DELETE = "course.delete"
VIEW_UNPUBLISHED = "course.view_unpublished"
GRANT = "role.grant"

SLUG_ATTEMPTS = 20
"""Tries of a create that derives its slug. Each round of colliding creates lets one of them commit,
so N creates of one title at the same instant need N tries at most."""

# Which version of a course a read asks for: the default (the draft for staff, the latest
# published version for everyone else), the latest published version, or version N.
VersionRef = Literal["published"] | int | None
# ``learner``: staff read as an enrolled learner would (see ``CourseService.get_outline``).
ViewAs = Literal["learner"] | None


class _EscapingRenderer:
    def render(self, markdown: str) -> str:
        return escaped_text_html(markdown)


class _Base:
    def __init__(
        self,
        uow: Callable[[], CourseUnitOfWork],
        queries: CatalogQueries,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        renderer: MarkdownRenderer | None = None,
        enrollments: EnrollmentDates | None = None,
        facts: LearnerFactsReader | None = None,
        access: AccessCheck | None = None,
    ) -> None:
        self._uow, self._queries, self._clock, self._policy, self._cursors = uow, queries, clock, policy, cursors
        # Without the enrollment read (library callers, tests), nobody counts as enrolled: learners see
        # the preview lessons only. The platform wires the (cached) enrollment read.
        self._enrollments = enrollments
        # What learners have done, for conditional release: the progress module's read. Without it
        # (library callers, tests), nobody has done anything yet: lessons behind requirements stay locked.
        self._facts: LearnerFactsReader = facts or NoFactsReader()
        # Whether an enrolled learner has access to the (paid) course now: the entitlement check. Without it
        # (library callers, tests), every course is free.
        self._access = access
        # Without a renderer (library callers, tests), text is escaped rather than rendered: still safe.
        self._renderer: MarkdownRenderer = renderer or _EscapingRenderer()

    def _may_see_drafts(self, actor: Principal, outline: CourseOutline) -> bool:
        return self._policy.authorize(actor, VIEW_UNPUBLISHED, outline).allowed

    async def _viewer(self, actor: Principal, outline: CourseOutline, *, as_learner: bool = False) -> Viewer:
        """The gating viewer of a non-staff read: the enrollment and the entitlement check read together (one
        cache round trip on a hit; without a cache an indexed enrollment query and the offer's), and one read
        of the learner's facts when the course has requirements (conditional release) and the learner has
        access.

        ``as_learner``: staff reading as a learner, enrolled since their own enrollment, or since now.
        """
        if actor.user_id is None or self._enrollments is None:
            return Viewer(enrolled_at=self._clock.now()) if as_learner else OUTSIDER
        if self._access is not None and not as_learner:  # staff reading as a learner are staff: no check
            # The enrollment and the check read together: one cache round trip on a hit.
            enrolled_at, verdict = await self._access.enrolled_verdict(actor.user_id, outline.id)
            viewer = Viewer(enrolled_at=enrolled_at)
            if enrolled_at is None:
                return viewer
            viewer = with_verdict(viewer, verdict)
        else:
            enrolled_at = await self._enrollments.enrolled_since(actor.user_id, outline.id)
            if as_learner and enrolled_at is None:
                enrolled_at = self._clock.now()
            viewer = Viewer(enrolled_at=enrolled_at)
            if enrolled_at is None:
                return viewer
        if viewer.refusal is not None or not has_requirements(outline):
            return viewer
        return replace(viewer, facts=await self._facts.learner_facts(actor.user_id, outline.id))

    @staticmethod
    async def _load(uow: CourseUnitOfWork, course_id: uuid.UUID) -> Course:
        course = await uow.courses.get(course_id)
        if course is None:
            raise NotFound("course", course_id)
        return course

    async def _editable(
        self, uow: CourseUnitOfWork, actor: Principal, course_id: uuid.UUID, permission: str = EDIT
    ) -> Course:
        _refuse_anonymous(self._policy, actor, permission)
        course = await self._load(uow, course_id)
        require(self._policy, actor, permission, course)
        return course

    async def _edit(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        change: Callable[[Course, datetime], object],
        permission: str = EDIT,
    ) -> Course:
        async with self._uow() as uow:
            course = await self._editable(uow, actor, course_id, permission)
            change(course, self._clock.now())
            await uow.commit()
        return course


def _content_of(cmd: SetLessonContent) -> LessonContent:
    """The checked content of the command (a ValidationFailed names the offending field)."""
    attachments = [
        Attachment.checked(
            name=a.name,
            size_bytes=a.size_bytes,
            content_type=a.content_type,
            url=a.url,
            storage_key=a.storage_key,
            attachment_id=a.id,
            field_prefix=f"attachments.{index}",
        )
        for index, a in enumerate(cmd.attachments)
    ]
    return LessonContent.checked(
        kind=cmd.kind,
        body_markdown=cmd.body_markdown,
        video_id=cmd.video_id,
        assessment_id=cmd.assessment_id,
        attachments=attachments,
        duration_seconds=cmd.duration_seconds,
        preview=cmd.preview,
    )


def _refuse_anonymous(policy: Policy, actor: Principal, permission: str) -> None:
    """Before loading anything: the anonymous learn nothing, not even which course ids exist.

    Whether a signed-in caller may act on the course is decided once it is
    loaded, since the grant that allows it may be on that very course.
    """
    if actor.is_anonymous:
        require(policy, actor, permission)
