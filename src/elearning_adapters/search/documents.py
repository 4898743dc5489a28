"""The documents of a course and of a thread, read from the source tables on the handler's
connection: what the projection writes and what a reindex rebuilds (so both always agree).

A course is indexed while published, from its latest published version's snapshot (title, summary,
description, tags), with its instructors (owner and instructor grants) and its offer (free or paid);
each lesson of that version is a document too, readable by the course's members and staff (public
when it is a free preview). A thread is readable by the course's members, or only by its cohort and
the course's staff; it is indexed while its opening post is visible.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.course import course_versions, courses
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


async def _instructors(conn: AsyncConnection, course_id: uuid.UUID, owner_id: uuid.UUID | None) -> str:
    g = user_grants
    granted = select(g.c.user_id).where(g.c.scope_kind == "course", g.c.scope_id == course_id, g.c.role == "instructor")
    query = select(users.c.display_name).where(
        or_(users.c.id == owner_id, users.c.id.in_(granted)), users.c.status != "deleted"
    )
    names = sorted(set((await conn.execute(query)).scalars()))
    return ", ".join(names)


async def course_documents(conn: AsyncConnection, course_id: uuid.UUID) -> list[SearchDocument]:
    """The course's documents now: none unless it is published."""
    c, v = courses, course_versions
    query = (
        select(c.c.status, c.c.owner_id, c.c.published_at, v.c.snapshot, course_offers.c.paid)
        .select_from(
            c.join(v, and_(v.c.course_id == c.c.id, v.c.number == c.c.published_version)).outerjoin(
                course_offers, course_offers.c.course_id == c.c.id
            )
        )
        .where(c.c.id == course_id)
    )
    row = (await conn.execute(query)).first()
    if row is None or row.status != "published":
        return []
    snap: dict[str, Any] = row.snapshot
    free = not bool(row.paid)
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
            row.published_at,
            frozenset({PUBLIC}),
            tags,
            await _instructors(conn, course_id, row.owner_id),
            duration=duration_bucket(seconds),
            **common,  # type: ignore[arg-type]
        )
    ]
    for lesson in lessons:
        lesson_id = uuid.UUID(str(lesson["id"]))
        access = {PUBLIC} if lesson.get("preview") else {course_members(course_id)}
        docs.append(
            SearchDocument(
                DocumentKind.LESSON,
                lesson_id,
                course_id,
                str(lesson.get("title", "")),
                plain(str(lesson.get("body_markdown", ""))),
                f"/api/v1/courses/{course_id}/lessons/{lesson_id}",
                row.published_at,
                frozenset(access),
                tags,
                lesson_id=lesson_id,
                **common,  # type: ignore[arg-type]
            )
        )
    return docs


async def thread_document(conn: AsyncConnection, thread_id: uuid.UUID) -> SearchDocument | None:
    t, p = discussion_threads, discussion_posts
    query = (
        select(t, p.c.body, p.c.state, courses.c.language, courses.c.level)
        .select_from(t.join(p, p.c.id == t.c.id).join(courses, courses.c.id == t.c.course_id))
        .where(t.c.id == thread_id)
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None or row["state"] != "visible":
        return None
    course_id = row["course_id"]
    if row["cohort_id"] is None:
        access = {course_members(course_id)}
    else:
        access = {cohort_members(row["cohort_id"]), course_staff(course_id)}
    return SearchDocument(
        DocumentKind.THREAD,
        thread_id,
        course_id,
        row["title"],
        plain(row["body"]),
        f"/api/v1/threads/{thread_id}",
        row["created_at"],
        frozenset(access),
        language=row["language"],
        level=row["level"],
        lesson_id=row["lesson_id"],
    )
