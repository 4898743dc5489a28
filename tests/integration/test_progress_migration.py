"""Revision 0014 turns the enrollments completed before progress existed into completions by override (with
their audit row), so prerequisites answered by progress keep holding; downgrade and upgrade again work."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text

from elearning_adapters.sql import migrate
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.progress import SqlCourseCompletions, SqlProgressRepository


async def test_completed_enrollments_become_completions_by_override(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'before-progress.db'}")
    course, other, ada = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        await migrate.upgrade(db, "0013")
        async with db.write() as conn:
            for course_id, status, completed_at in (
                (course, "completed", "2026-03-01 10:00:00.000000"),
                (other, "active", None),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO enrollments (id, course_id, user_id, cohort_id, status, source, enrolled_at,"
                        " completed_at, unenrolled_at) VALUES (:id, :c, :u, NULL, :s, 'self',"
                        " '2026-01-01 10:00:00.000000', :done, NULL)"
                    ),
                    {"id": uuid.uuid4().hex, "c": course_id.hex, "u": ada.hex, "s": status, "done": completed_at},
                )
            await conn.commit()

        await migrate.upgrade(db)
        assert await SqlCourseCompletions(db).completed(ada, [course, other]) == {course}
        async with db.read() as conn:
            repo = SqlProgressRepository(conn)
            audit = await repo.audit(course, ada)
            state = await repo.progress(course, ada)
        assert [(a.kind, a.by) for a in audit] == [("override", None)]
        assert state is not None
        assert state.completion_source is not None
        assert state.completion_source.value == "override"

        await migrate.downgrade(db, "0013")
        await migrate.upgrade(db)
        assert await SqlCourseCompletions(db).completed(ada, [course]) == {course}
    finally:
        await db.dispose()
