"""The documents of a course and of a thread, read from the source tables on the handler's
connection: what the projection writes and what a reindex rebuilds (so both always agree).

A course is indexed while published, from its latest published version's snapshot (title, summary,
description, tags), with its instructors (owner and instructor grants) and its offer (free or paid);
each lesson of that version is a document too, readable by the course's members and staff (public
when it is a free preview). An unpublished course (a draft, or archived) is indexed from its draft,
it and its lessons readable by its staff alone (the ``staff:`` token: instructors, teaching assistants
and the owner; admins read everything). A thread is readable by the course's members, or only by its cohort and
the course's staff; it is indexed while its opening post is visible.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.course import course_lessons, course_sections, course_versions, courses
from elearning_adapters.sql.discussion._tables import discussion_posts, discussion_threads
from elearning_adapters.sql.entitlement import course_offers
from elearning_adapters.sql.identity import user_grants, users
from elearning_core.search.model import (
    PUBLIC,
    DocumentKind,
    SearchDocument,
    cohort_members,
    course_members,
    course_staff,
    duration_bucket,
)

_MARKUP = re.compile(r"[#*_`>\[\]()!|~-]+")
COURSE_KINDS = (DocumentKind.COURSE, DocumentKind.LESSON)


def plain(markdown: str) -> str:
    """Markdown as words to index (the punctuation of its syntax dropped)."""
    return " ".join(_MARKUP.sub(" ", markdown).split())


async def _instructors(conn: AsyncConnection, course_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each course's instructors (its owner and instructor grants) by name, in one statement for them all."""
    g, u = user_grants, users
    owners = (
        select(courses.c.id, u.c.display_name)
        .join(u, u.c.id == courses.c.owner_id)
        .where(courses.c.id.in_(list(course_ids)), u.c.status != "deleted")
    )
    granted = (
        select(g.c.scope_id, u.c.display_name)
        .join(u, u.c.id == g.c.user_id)
        .where(
            g.c.scope_kind == "course",
            g.c.scope_id.in_(list(course_ids)),
            g.c.role == "instructor",
            u.c.status != "deleted",
        )
    )
    names: dict[uuid.UUID, set[str]] = {course_id: set() for course_id in course_ids}
    if course_ids:
        for course_id, name in (await conn.execute(union_all(owners, granted))).all():
            names[course_id].add(name)
    return {course_id: ", ".join(sorted(found)) for course_id, found in names.items()}


async def course_documents(conn: AsyncConnection, course_id: uuid.UUID) -> list[SearchDocument]:
    """The course's documents now: none unless it is published."""
    return (await courses_documents(conn, [course_id]))[course_id]


async def courses_documents(
    conn: AsyncConnection, course_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SearchDocument]]:
    """The documents of each of the courses now (none for one gone): a published course's from its published
    version, an unpublished one's (a draft, or archived) from its draft, lessons included, readable by its
    staff only. Two statements for them all, a third when some are unpublished."""
    c, v = courses, course_versions
    query = (
        select(
            c.c.id,
            c.c.status,
            c.c.updated_at,
            c.c.published_at,
            v.c.snapshot,
            course_offers.c.paid,
            *(c.c[name] for name in _DRAFT_FIELDS),
        )
        .select_from(
            c.outerjoin(v, and_(v.c.course_id == c.c.id, v.c.number == c.c.published_version)).outerjoin(
                course_offers, course_offers.c.course_id == c.c.id
            )
        )
        .where(c.c.id.in_(list(course_ids)))
    )
    rows = [r for r in (await conn.execute(query)).all() if r.status != "published" or r.snapshot is not None]
    people = await _instructors(conn, [row.id for row in rows])
    drafts = await _draft_lessons(conn, [row.id for row in rows if row.status != "published"])
    found: dict[uuid.UUID, list[SearchDocument]] = {course_id: [] for course_id in course_ids}
    for row in rows:
        free = not bool(row.paid)
        if row.status != "published":
            snap = {name: row._mapping[name] for name in _DRAFT_FIELDS} | {"sections": [{"lessons": drafts[row.id]}]}
            found[row.id] = _documents(row.id, snap, row.updated_at, free, people[row.id], draft=True)
        else:
            found[row.id] = _documents(row.id, row.snapshot, row.published_at, free, people[row.id])
    return found


_DRAFT_FIELDS = ("title", "summary", "description", "tags", "language", "level")
"""While a course is unpublished, its row holds the draft's details (``courses.draft_details`` is for a
published course's pending changes, which stay out of the index until published)."""


async def _draft_lessons(
    conn: AsyncConnection, course_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The draft lessons of each course, in outline order, shaped as a snapshot's."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = {course_id: [] for course_id in course_ids}
    if not course_ids:
        return found
    sec, les = course_sections, course_lessons
    query = (
        select(les.c.course_id, les.c.id, les.c.title, les.c.body_markdown, les.c.duration_seconds, les.c.preview)
        .join(sec, sec.c.id == les.c.section_id)
        .where(les.c.course_id.in_(list(course_ids)))
        .order_by(les.c.course_id, sec.c.position, les.c.position)
    )
    for row in (await conn.execute(query)).mappings():
        found[row["course_id"]].append(dict(row))
    return found


def _documents(
    course_id: uuid.UUID,
    snap: dict[str, Any],
    published_at: datetime,
    free: bool,
    instructors: str,
    *,
    draft: bool = False,
) -> list[SearchDocument]:
    """A course's documents from its snapshot; a draft's are its staff's alone (previews too)."""
    staff = frozenset({course_staff(course_id)})
    language, level = str(snap.get("language", "en")), str(snap.get("level", ""))
    tags = tuple(str(t) for t in snap.get("tags", []))
    lessons = [lesson for section in snap.get("sections", []) for lesson in section.get("lessons", [])]
    seconds = sum(int(lesson.get("duration_seconds") or 0) for lesson in lessons)
    common = {"language": language, "level": level or None, "free": free}
    docs = [
        SearchDocument(
            DocumentKind.COURSE,
            course_id,
            course_id,
            str(snap.get("title", "")),
            f"{snap.get('summary', '')}\n{plain(str(snap.get('description', '')))}",
            f"/api/v1/courses/{course_id}",
            published_at,
            staff if draft else frozenset({PUBLIC}),
            tags,
            instructors,
            duration=duration_bucket(seconds),
            **common,  # type: ignore[arg-type]
        )
    ]
    for lesson in lessons:
        lesson_id = uuid.UUID(str(lesson["id"]))
        access = staff if draft else {PUBLIC} if lesson.get("preview") else {course_members(course_id)}
        docs.append(
            SearchDocument(
                DocumentKind.LESSON,
                lesson_id,
                course_id,
                str(lesson.get("title", "")),
                plain(str(lesson.get("body_markdown", ""))),
                f"/api/v1/courses/{course_id}/lessons/{lesson_id}",
                published_at,
                frozenset(access),
                tags,
                lesson_id=lesson_id,
                **common,  # type: ignore[arg-type]
            )
        )
    return docs


async def thread_document(conn: AsyncConnection, thread_id: uuid.UUID) -> SearchDocument | None:
    return (await threads_documents(conn, [thread_id]))[thread_id]


async def threads_documents(
    conn: AsyncConnection, thread_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, SearchDocument | None]:
    """Each thread's document now (None while its opening post is not visible), its visible replies' text
    part of it, in two statements for them all."""
    t, p = discussion_threads, discussion_posts
    query = (
        select(t, p.c.body, p.c.state, courses.c.language, courses.c.level)
        .select_from(t.join(p, p.c.id == t.c.id).join(courses, courses.c.id == t.c.course_id))
        .where(t.c.id.in_(list(thread_ids)), p.c.state == "visible")
    )
    found: dict[uuid.UUID, SearchDocument | None] = dict.fromkeys(thread_ids)
    rows = (await conn.execute(query)).mappings().all() if thread_ids else []
    replies: dict[uuid.UUID, list[str]] = {row["id"]: [] for row in rows}
    if replies:
        answers = (
            select(p.c.thread_id, p.c.body)
            .where(p.c.thread_id.in_(list(replies)), p.c.id != p.c.thread_id, p.c.state == "visible")
            .order_by(p.c.thread_id, p.c.created_at, p.c.id)
        )
        for thread_id, body in (await conn.execute(answers)).all():
            replies[thread_id].append(plain(body))
    for row in rows:
        found[row["id"]] = _thread(row, replies[row["id"]])
    return found


def _thread(row: Any, replies: list[str]) -> SearchDocument:
    course_id = row["course_id"]
    if row["cohort_id"] is None:
        access = {course_members(course_id)}
    else:
        access = {cohort_members(row["cohort_id"]), course_staff(course_id)}
    return SearchDocument(
        DocumentKind.THREAD,
        row["id"],
        course_id,
        row["title"],
        "\n".join([plain(row["body"]), *replies]),
        f"/api/v1/threads/{row['id']}",
        row["created_at"],
        frozenset(access),
        language=row["language"],
        level=row["level"],
        lesson_id=row["lesson_id"],
    )
