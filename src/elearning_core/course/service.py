"""Course use cases: one method per use case, each one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal, TypeVar

from elearning_core.auth.model import Grant, ResourceRef, Role, ScopeKind
from elearning_core.course.commands import (
    AddLesson,
    AddSection,
    CourseRef,
    CourseSpec,
    CreateCourse,
    LessonSpec,
    RemoveLesson,
    RemoveSection,
    RenameLesson,
    RenameSection,
    ReorderLessons,
    ReorderSections,
    SetLessonContent,
    UpdateCourse,
)
from elearning_core.course.model import (
    Attachment,
    Course,
    CourseStatus,
    LessonContent,
    check_slug,
    check_title,
    escaped_text_html,
    first_free_slug,
    slugify,
)
from elearning_core.course.ports import CourseUnitOfWork, MarkdownRenderer
from elearning_core.course.queries import (
    CatalogFilter,
    CatalogKey,
    CatalogQueries,
    CourseOutline,
    CourseSummary,
    LessonView,
    SectionView,
    TeachingCourse,
    TeachingScope,
    VersionSummary,
    outline_of,
    with_html,
)
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.ids import CourseId, LessonId, SectionId, UserId
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of
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


_K = TypeVar("_K", uuid.UUID, str)


class _EscapingRenderer:
    def render(self, markdown: str) -> str:
        return escaped_text_html(markdown)


class CourseService:
    def __init__(
        self,
        uow: Callable[[], CourseUnitOfWork],
        queries: CatalogQueries,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        renderer: MarkdownRenderer | None = None,
    ) -> None:
        self._uow, self._queries, self._clock, self._policy, self._cursors = uow, queries, clock, policy, cursors
        # Without a renderer (library callers, tests), text is escaped rather than rendered: still safe.
        self._renderer: MarkdownRenderer = renderer or _EscapingRenderer()

    # -- writes ------------------------------------------------------------------

    async def create(self, actor: Principal, cmd: CreateCourse) -> Course:
        # Creating in an organization needs the right there (an organization's instructor may);
        # otherwise on the platform.
        where = ResourceRef(ScopeKind.ORGANIZATION, cmd.organization_id) if cmd.organization_id else None
        require(self._policy, actor, CREATE, where)
        if cmd.owner_id is not None and cmd.owner_id != actor.user_id:
            # The owner holds an implicit instructor grant on the course: naming someone else as owner
            # grants them a role, which needs role.grant there (an instructor creates only for themselves).
            require(self._policy, actor, GRANT, where)
        base = None if cmd.slug is not None else slugify(check_title(cmd.title))
        for attempt in range(1, SLUG_ATTEMPTS + 1):
            async with self._uow() as uow:
                if base is None:
                    slug = cmd.slug
                    assert slug is not None
                    if await uow.courses.slug_taken(check_slug(slug)):
                        raise _slug_conflict(slug)
                else:
                    # The first free ``base-N`` as this transaction sees it; a concurrent create that took the
                    # same one first makes the commit fail on the unique slug, and the next attempt looks again.
                    slug = first_free_slug(base, await uow.courses.slugs_starting_with(base))
                course = Course.create(
                    title=cmd.title,
                    slug=slug,
                    at=self._clock.now(),
                    summary=cmd.summary,
                    description=cmd.description,
                    language=cmd.language,
                    level=cmd.level,
                    tags=cmd.tags,
                    owner_id=_owner(cmd.owner_id or actor.user_id),
                    organization_id=cmd.organization_id,
                )
                uow.courses.add(course)
                try:
                    await uow.commit()
                except Conflict:
                    if base is None or attempt == SLUG_ATTEMPTS:
                        raise
                    continue
            return course
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def update(self, actor: Principal, cmd: UpdateCourse) -> Course:
        _refuse_anonymous(self._policy, actor, EDIT)
        async with self._uow() as uow:
            course = await self._load(uow, cmd.course_id)
            require(self._policy, actor, EDIT, course)
            if cmd.expected_version is not None and cmd.expected_version != course.version:
                raise Conflict(f"course changed since version {cmd.expected_version} (now {course.version}); reload it")
            changes = cmd.changes()
            if "slug" in changes and changes["slug"] != course.slug:
                slug = check_slug(str(changes["slug"]))
                if await uow.courses.slug_taken(slug, excluding=course.id):
                    raise _slug_conflict(slug)
            course.change_details(self._clock.now(), **changes)
            await uow.commit()
        return course

    async def delete(self, actor: Principal, cmd: CourseRef) -> None:
        _refuse_anonymous(self._policy, actor, DELETE)
        async with self._uow() as uow:
            course = await self._load(uow, cmd.course_id)
            require(self._policy, actor, DELETE, course)
            course.mark_deleted(self._clock.now())
            uow.courses.remove(course)
            await uow.commit()

    async def add_section(self, actor: Principal, cmd: AddSection) -> SectionView:
        async with self._uow() as uow:
            course = await self._editable(uow, actor, cmd.course_id)
            section = course.add_section(cmd.title, self._clock.now(), cmd.position)
            await uow.commit()
        return next(s for s in outline_of(course).sections if s.id == section.id)

    async def rename_section(self, actor: Principal, cmd: RenameSection) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.rename_section(cmd.section_id, cmd.title, at))

    async def reorder_sections(self, actor: Principal, cmd: ReorderSections) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.reorder_sections(cmd.section_ids, at))

    async def remove_section(self, actor: Principal, cmd: RemoveSection) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.remove_section(cmd.section_id, at))

    async def add_lesson(self, actor: Principal, cmd: AddLesson) -> LessonView:
        async with self._uow() as uow:
            course = await self._editable(uow, actor, cmd.course_id)
            lesson = course.add_lesson(cmd.section_id, cmd.title, self._clock.now(), cmd.position)
            await uow.commit()
        section = next(s for s in outline_of(course).sections if s.id == cmd.section_id)
        return next(item for item in section.lessons if item.id == lesson.id)

    async def rename_lesson(self, actor: Principal, cmd: RenameLesson) -> Course:
        return await self._edit(
            actor, cmd.course_id, lambda c, at: c.rename_lesson(cmd.section_id, cmd.lesson_id, cmd.title, at)
        )

    async def reorder_lessons(self, actor: Principal, cmd: ReorderLessons) -> Course:
        return await self._edit(
            actor, cmd.course_id, lambda c, at: c.reorder_lessons(cmd.section_id, cmd.lesson_ids, at)
        )

    async def remove_lesson(self, actor: Principal, cmd: RemoveLesson) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.remove_lesson(cmd.section_id, cmd.lesson_id, at))

    async def set_lesson_content(self, actor: Principal, cmd: SetLessonContent) -> LessonView:
        """Replace a lesson's content in the draft; learners see it once the course is published again."""
        content = _content_of(cmd)
        async with self._uow() as uow:
            course = await self._editable(uow, actor, cmd.course_id)
            course.set_lesson_content(cmd.section_id, cmd.lesson_id, content, self._clock.now())
            await uow.commit()
        section = next(s for s in outline_of(course).sections if s.id == cmd.section_id)
        lesson = next(item for item in section.lessons if item.id == cmd.lesson_id)
        return (
            replace(lesson, body_html=self._renderer.render(content.body_markdown)) if content.body_markdown else lesson
        )

    async def publish(self, actor: Principal, cmd: CourseRef) -> Course:
        """Publish the draft as the course's next version (the first, or N+1 after edits)."""
        render = self._renderer.render
        return await self._edit(
            actor,
            cmd.course_id,
            lambda c, at: c.publish(at, by=actor.user_id, render=render),
            permission=PUBLISH,
        )

    async def unpublish(self, actor: Principal, cmd: CourseRef) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.unpublish(at), permission=PUBLISH)

    async def archive(self, actor: Principal, cmd: CourseRef) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.archive(at), permission=PUBLISH)

    async def import_courses(
        self,
        actor: Principal,
        specs: Sequence[CourseSpec],
        on_progress: Callable[[int], None] | None = None,
        *,
        as_copy: bool = False,
    ) -> list[Course]:
        """Create every course of ``specs`` in one transaction, or none of them.

        Every record is built and checked (values, slugs unique in the file
        and in the catalog, publishability) before anything is written; the
        first bad record is reported by its index and slug.

        ``as_copy``: each record becomes a new course beside what is stored: new ids (course, sections,
        lessons, attachments) and the first free slug derived from the record's (``intro`` -> ``intro-2``).
        """
        require(self._policy, actor, CREATE)
        at = self._clock.now()
        async with self._uow() as uow:
            if as_copy:
                specs = await _copies(uow, specs)
            courses = [
                _build_from_spec(index, spec, at, actor.user_id, self._renderer.render)
                for index, spec in enumerate(specs)
            ]
            seen: dict[str, int] = {}
            seen_ids: dict[uuid.UUID, int] = {}
            for index, course in enumerate(courses):
                if course.slug in seen:
                    raise _record_error(index, course.slug, f"slug duplicates record {seen[course.slug]}", "slug")
                if course.id in seen_ids:
                    raise _record_error(index, course.slug, f"id duplicates record {seen_ids[course.id]}", "id")
                seen[course.slug] = index
                seen_ids[course.id] = index
            taken_slugs, taken_ids = await uow.courses.taken(seen, seen_ids)
            for index, course in enumerate(courses):
                if course.slug in taken_slugs or course.id in taken_ids:
                    raise _record_error(index, course.slug, "a course with this slug or id already exists", "slug")
            for index, course in enumerate(courses):
                uow.courses.add(course)
                if on_progress is not None:
                    on_progress(index + 1)
            await uow.commit()
        return courses

    async def import_clashes(self, actor: Principal, specs: Sequence[CourseSpec]) -> dict[int, list[str]]:
        """For each record whose slug or id a stored course already uses: what clashes (one query)."""
        require(self._policy, actor, CREATE)
        async with self._uow() as uow:
            slugs, ids = await uow.courses.taken({s.slug for s in specs}, {s.id for s in specs if s.id is not None})
        clashes: dict[int, list[str]] = {}
        for index, spec in enumerate(specs):
            if spec.slug in slugs:
                clashes.setdefault(index, []).append("slug: a course with this slug already exists")
            if spec.id is not None and spec.id in ids:
                clashes.setdefault(index, []).append("id: a course with this id already exists")
        return clashes

    # -- reads -------------------------------------------------------------------

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

    async def get_outline(self, actor: Principal, course_id: uuid.UUID, version: VersionRef = None) -> CourseOutline:
        """The course as ``actor`` may see it: learners only ever get a published version, never the draft.

        By default staff (``course.view_unpublished``) get the draft, everyone
        else the latest published version; ``version`` asks for the latest
        published version or a numbered one (public while the course is published).
        """
        return await self._read(actor, course_id, version, self._queries.outline, self._queries.published_outline)

    async def get_outline_by_slug(self, actor: Principal, slug: str, version: VersionRef = None) -> CourseOutline:
        return await self._read(
            actor, slug, version, self._queries.outline_by_slug, self._queries.published_outline_by_slug
        )

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
        draft_of: Callable[[_K], Awaitable[CourseOutline | None]],
        published_of: Callable[[_K, int | None], Awaitable[CourseOutline | None]],
    ) -> CourseOutline:
        number = version if isinstance(version, int) else None
        # The learners' read comes first: one query, the published snapshot with the course's live status.
        published = await published_of(key, number)
        if published is not None:
            staff = self._may_see_drafts(actor, published)
            if version is not None or not staff:
                if published.status is not CourseStatus.PUBLISHED and not staff:
                    raise NotFound("course", key)
                return published if staff else replace(published, has_unpublished_changes=False)
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

    def _may_see_drafts(self, actor: Principal, outline: CourseOutline) -> bool:
        return self._policy.authorize(actor, VIEW_UNPUBLISHED, outline).allowed

    # -- helpers -----------------------------------------------------------------

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
    )


def _refuse_anonymous(policy: Policy, actor: Principal, permission: str) -> None:
    """Before loading anything: the anonymous learn nothing, not even which course ids exist.

    Whether a signed-in caller may act on the course is decided once it is
    loaded, since the grant that allows it may be on that very course.
    """
    if actor.is_anonymous:
        require(policy, actor, permission)


def _owner(user_id: uuid.UUID | None) -> UserId | None:
    return UserId(user_id) if user_id is not None else None


def _slug_conflict(slug: str) -> Conflict:
    return Conflict(f"slug {slug!r} is already taken by another course")


def _record_error(index: int, slug: str, message: str, field: str) -> ValidationFailed:
    return ValidationFailed(f"record {index} ({slug}): {message}", [FieldError(f"[{index}].{field}", message)])


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


def _build_from_spec(
    index: int, spec: CourseSpec, at: datetime, by: uuid.UUID | None, render: Callable[[str], str]
) -> Course:
    """Build a course from an import record through the aggregate's own behaviour."""
    try:
        course = Course.create(
            title=spec.title,
            slug=spec.slug,
            at=at,
            summary=spec.summary,
            description=spec.description,
            language=spec.language,
            level=spec.level,
            tags=spec.tags,
            owner_id=UserId(spec.owner_id) if spec.owner_id else None,
            course_id=CourseId(spec.id) if spec.id else None,
            organization_id=spec.organization_id,
        )
        for section_spec in spec.sections:
            section = course.add_section(
                section_spec.title, at, section_id=SectionId(section_spec.id) if section_spec.id else None
            )
            for lesson_spec in section_spec.lessons:
                lesson = course.add_lesson(
                    section.id, lesson_spec.title, at, lesson_id=LessonId(lesson_spec.id) if lesson_spec.id else None
                )
                if lesson_spec.content is not None:
                    content = _content_of(
                        SetLessonContent(
                            course_id=course.id,
                            section_id=section.id,
                            lesson_id=lesson.id,
                            **lesson_spec.content.model_dump(),
                        )
                    )
                    course.set_lesson_content(section.id, lesson.id, content, at)
        if spec.status is CourseStatus.PUBLISHED:
            course.publish(at, by=by, render=render)
        elif spec.status is CourseStatus.ARCHIVED:
            course.archive(at)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"record {index} ({spec.slug}): {exc.detail}",
            [FieldError(f"[{index}].{e.field}", e.message) for e in exc.errors],
        ) from None
    except Conflict as exc:
        raise _record_error(index, spec.slug, exc.detail, "status") from None
    return course


async def _copies(uow: CourseUnitOfWork, specs: Sequence[CourseSpec]) -> list[CourseSpec]:
    """The records as new courses: no ids (fresh ones are made) and the first slugs free in the catalog and the file."""
    chosen: set[str] = set()
    copies = []
    for index, spec in enumerate(specs):
        try:
            base = check_slug(spec.slug)
        except ValidationFailed as exc:
            raise _record_error(index, spec.slug, exc.errors[0].message, "slug") from None
        slug = first_free_slug(base, chosen | await uow.courses.slugs_starting_with(base))
        chosen.add(slug)
        copies.append(
            spec.model_copy(
                update={
                    "id": None,
                    "slug": slug,
                    "sections": [
                        section.model_copy(
                            update={
                                "id": None,
                                "lessons": [_lesson_copy(lesson) for lesson in section.lessons],
                            }
                        )
                        for section in spec.sections
                    ],
                }
            )
        )
    return copies


def _lesson_copy(lesson: LessonSpec) -> LessonSpec:
    content = lesson.content
    if content is not None and content.attachments:
        content = content.model_copy(
            update={"attachments": [a.model_copy(update={"id": None}) for a in content.attachments]}
        )
    return lesson.model_copy(update={"id": None, "content": content})


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
