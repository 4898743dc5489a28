"""The course's reads: the catalog, what a caller teaches, an outline, a lesson, the versions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from elearning_core.auth.model import Grant, Role, ScopeKind
from elearning_core.course.gating import (
    Decision,
    find_lesson,
    gate_outline,
    require_open,
)
from elearning_core.course.model import (
    CourseStatus,
)
from elearning_core.course.queries import (
    CatalogFilter,
    CatalogKey,
    CourseOutline,
    CourseSummary,
    LessonView,
    TeachingCourse,
    TeachingScope,
    VersionSummary,
    with_html,
)
from elearning_core.course.service._base import VIEW_UNPUBLISHED, VersionRef, ViewAs, _Base
from elearning_core.shared.errors import FieldError, NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal, require

_K = TypeVar("_K", uuid.UUID, str)


class _Reads(_Base):
    async def catalog_version(self) -> int | None:
        """The catalog listing's version token (``CatalogQueries.list_version``): None without a cache."""
        return await self._queries.list_version()

    async def list_courses(
        self,
        actor: Principal,
        where: CatalogFilter | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[CourseSummary]:
        """Courses newest first. Anyone may list published ones; other statuses need a permission."""
        where = where or CatalogFilter()
        if where.status is not CourseStatus.PUBLISHED:
            require(self._policy, actor, VIEW_UNPUBLISHED)
        check_page_size(limit)
        after: CatalogKey | None = None
        if cursor:
            raw_at, raw_id = _cursor_key(self._cursors.decode(where.scope(), cursor))
            after = (raw_at, raw_id)
        rows = await self._queries.list_courses(where, after, limit + 1)
        items, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more:
            last = items[-1]
            sort_at = last.published_at if where.status is CourseStatus.PUBLISHED else last.created_at
            assert sort_at is not None
            next_cursor = self._cursors.encode(where.scope(), [sort_at.isoformat(), str(last.id)])
        return Page(items=items, next_cursor=next_cursor)

    async def list_teaching(
        self, actor: Principal, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[TeachingCourse]:
        """The courses ``actor`` teaches, drafts included, newest created first, with the actor's role on each.

        Teaching means owning the course (its implicit instructor), an instructor or teaching assistant
        grant on the course, or a teaching assistant grant on its organization. Administrators are not
        listed every course: they administer, they do not teach.
        """
        if actor.user_id is None:
            raise Unauthenticated("listing one's teaching needs a user's sign-in (a service account teaches nothing)")
        check_page_size(limit)
        roles, organizations = _teaching_grants(actor)
        where = TeachingScope(actor.user_id, frozenset(roles), frozenset(organizations))
        listing = f"teaching:{actor.user_id}"
        after = _cursor_key(self._cursors.decode(listing, cursor)) if cursor else None
        rows = await self._queries.teaching(where, after, limit + 1)
        items, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more:
            last = items[-1]
            next_cursor = self._cursors.encode(listing, [last.created_at.isoformat(), str(last.id)])
        return Page(
            items=[
                TeachingCourse(
                    course=item,
                    role="owner"
                    if item.owner_id == actor.user_id
                    else roles.get(item.id, Role.TEACHING_ASSISTANT.value),
                )
                for item in items
            ],
            next_cursor=next_cursor,
        )

    async def get_outline(
        self, actor: Principal, course_id: uuid.UUID, version: VersionRef = None, view_as: ViewAs = None
    ) -> CourseOutline:
        """The course as ``actor`` may see it: learners only ever get a published version, never the draft.

        By default staff (``course.view_unpublished``) get the draft, everyone
        else the latest published version; ``version`` asks for the latest
        published version or a numbered one (public while the course is published).
        Learners' reads are gated (``elearning_core.course.gating``): every title, the
        content of what they may open. ``view_as="learner"`` gives staff the latest
        published version as an enrolled learner sees it (enrolled now, unless they are).
        """
        return await self._read(
            actor, course_id, version, view_as, self._queries.outline, self._queries.published_outline
        )

    async def get_outline_by_slug(
        self, actor: Principal, slug: str, version: VersionRef = None, view_as: ViewAs = None
    ) -> CourseOutline:
        return await self._read(
            actor, slug, version, view_as, self._queries.outline_by_slug, self._queries.published_outline_by_slug
        )

    async def get_lesson(
        self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID, view_as: ViewAs = None
    ) -> LessonView:
        """One lesson with its content, when the caller may open it.

        Gated as the outline is: a lesson of the course the caller may not open yet is
        ``ContentLocked`` (403, saying why); an unknown lesson, or one only in the draft, NotFound.
        """
        outline = await self.get_outline(actor, course_id, None, view_as)
        lesson = find_lesson(outline, lesson_id).lesson
        require_open(Decision(lesson.access, lesson.available_at, tuple(lesson.unmet_requirements), lesson.refusal))
        return lesson

    async def list_versions(
        self, actor: Principal, course_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[VersionSummary]:
        """The published versions, newest first: for those who may see the draft. Every publish adds
        one, so they come a page at a time."""
        limit = check_page_size(limit)
        listing = scope_of("course-versions", course_id)
        before = self._cursors.after(listing, cursor, _number_key)
        outline = await self._queries.outline(course_id)
        if outline is None:
            raise NotFound("course", course_id)
        if not self._may_see_drafts(actor, outline):
            if outline.status is not CourseStatus.PUBLISHED:
                raise NotFound("course", course_id)
            require(self._policy, actor, VIEW_UNPUBLISHED, outline)
        rows = await self._queries.versions(course_id, before, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda v: [v.number])

    async def _read(
        self,
        actor: Principal,
        key: _K,
        version: VersionRef,
        view_as: ViewAs,
        draft_of: Callable[[_K], Awaitable[CourseOutline | None]],
        published_of: Callable[[_K, int | None], Awaitable[CourseOutline | None]],
    ) -> CourseOutline:
        number = version if isinstance(version, int) else None
        if view_as is not None and version is None:
            version = "published"  # a learner never reads the draft
        # The learners' read comes first: one query, the published snapshot with the course's live status.
        published = await published_of(key, number)
        if published is not None:
            staff = self._may_see_drafts(actor, published)
            if version is not None or not staff:
                if published.status is not CourseStatus.PUBLISHED and not staff:
                    raise NotFound("course", key)
                if staff and view_as is None:
                    return published
                viewer = await self._viewer(actor, published, as_learner=staff)
                return gate_outline(replace(published, has_unpublished_changes=False), viewer, self._clock.now())
        elif version is not None:
            # No such version: staff learn so much; for others it looks like any unknown course.
            draft = await draft_of(key)
            if draft is not None and self._may_see_drafts(actor, draft):
                raise NotFound("version", version)
            raise NotFound("course", key)
        # The draft, for those who may see it (the published version above was for learners).
        draft = await draft_of(key)
        if draft is None or not self._may_see_drafts(actor, draft):
            # A never-published course: unpublished courses look absent, so ids do not leak.
            raise NotFound("course", key)
        return with_html(draft, self._renderer.render)


def _number_key(key: list[object]) -> int:
    (number,) = key
    if not isinstance(number, int):
        raise ValueError("not a version number")
    return number


def _cursor_key(key: list[object]) -> tuple[datetime, uuid.UUID]:
    try:
        raw_at, raw_id = key
        return datetime.fromisoformat(str(raw_at)), uuid.UUID(str(raw_id))
    except (ValueError, TypeError):
        raise ValidationFailed("cursor is invalid or was altered", [FieldError("cursor", "invalid cursor")]) from None


def _teaching_grants(actor: Principal) -> tuple[dict[uuid.UUID, str], set[uuid.UUID]]:
    """The actor's course roles by course (instructor wins over assistant) and the organizations it assists."""
    roles: dict[uuid.UUID, str] = {}
    organizations: set[uuid.UUID] = set()
    for grant in actor.grants:
        if not isinstance(grant, Grant) or grant.scope.id is None:
            continue
        if grant.scope.kind is ScopeKind.COURSE and grant.role in (Role.INSTRUCTOR, Role.TEACHING_ASSISTANT):
            if roles.get(grant.scope.id) != Role.INSTRUCTOR.value:
                roles[grant.scope.id] = grant.role.value
        elif grant.scope.kind is ScopeKind.ORGANIZATION and grant.role is Role.TEACHING_ASSISTANT:
            organizations.add(grant.scope.id)
    return roles, organizations
