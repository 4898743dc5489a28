"""A synthetic enrollment history (``elearning_core.recommendation.synthetic``) written into a platform's
database: its courses imported (published, titled and tagged from their cluster), its learners'
enrollments written straight to the table in batches (the service would take minutes for a million, and
training reads the table, not how the rows got there). For the CLI tests and benchmarks/recommendations.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import insert

from elearning_adapters.container import Platform
from elearning_adapters.sql.enrollment import enrollments
from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
from elearning_core.recommendation.synthetic import History
from elearning_core.shared.ports import SYSTEM

BATCH = 10_000


async def load_history(
    platform: Platform,
    history: History,
    *,
    users: dict[int, uuid.UUID] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[int, uuid.UUID], dict[int, uuid.UUID]]:
    """The courses' and learners' ids by their synthetic numbers. ``users``: ids to use for some learners
    (real accounts, for ``show``); the others get ids of no account (enrollments need none)."""
    tag = uuid.uuid4().hex[:6]
    section = SectionSpec(title="Part", lessons=[LessonSpec(title="Lesson")])
    specs = [
        CourseSpec(
            slug=f"syn-{d.course_id}-{tag}",
            title=d.title,
            summary=d.text,
            tags=list(d.tags),
            status="published",
            sections=[section],
        )
        for d in history.documents
    ]
    courses: dict[int, uuid.UUID] = {}
    for start in range(0, len(specs), 1_000):
        imported = await platform.courses.import_courses(SYSTEM, specs[start : start + 1_000])
        courses.update((start + n, c.id) for n, c in enumerate(imported))
    learners = dict(users or {})
    rows = []
    for i in history.interactions:
        user = learners.setdefault(int(i.user_id), uuid.uuid4())  # type: ignore[call-overload]
        rows.append(
            {
                "id": uuid.uuid4(),
                "course_id": courses[i.course_id],
                "user_id": user,
                "cohort_id": None,
                "status": "completed" if i.completed else "active",
                "source": "self",
                "enrolled_at": i.at,
                "completed_at": i.at if i.completed else None,
                "unenrolled_at": None,
            }
        )
    written = 0
    for start in range(0, len(rows), BATCH):
        async with platform.database.write() as conn:
            await conn.execute(insert(enrollments), rows[start : start + BATCH])
            await conn.commit()
        written += len(rows[start : start + BATCH])
        if progress is not None:
            progress(written)
    return courses, learners
