#!/usr/bin/env python
"""Benchmark of ``elearning progress rebuild``: seconds to rebuild the derived progress of N activity facts.

One command::

    python benchmarks/progress_rebuild.py                    # about 100,000 facts (10,000 learners)
    python benchmarks/progress_rebuild.py --learners 100000  # about 1 million (the issue's figure: < 2 minutes)

A throwaway PostgreSQL database (``catalog.py``'s ``throwaway_database``) migrated by the platform, one
published course of 12 lessons (9 videos of 150 s, 3 texts: ``_progress_workload``), then, inserted by SQL
in bulk, per learner a ``progress_courses`` row and about 10 facts (a watched union per video, view and done
marks per text lesson; half the videos watched past the completion threshold). Then the CLI's code path,
``elearning_adapters.progress.rebuild(..., from_scratch=True)`` (chunks of learners, one set-wise
``project`` per chunk), is timed; it prints facts, learners, seconds, facts/s and how often the progress
callback moved. Nothing is asserted; quote the load average printed with the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog import DEFAULT_ADMIN_URL, log, throwaway_database

HERE = Path(__file__).resolve().parent
INSERT_ROWS = 5_000


async def seed(platform: Any, learners: int, rng: random.Random) -> tuple[uuid.UUID, int]:
    """The course and the learners' facts; returns (course id, fact rows)."""
    from elearning_adapters.sql.progress import course_progress, lesson_marks, video_watches
    from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
    from elearning_core.course.values import LessonKind
    from elearning_core.shared.ports import SYSTEM

    lessons = [
        LessonSpec(
            title=f"Video {n}",
            content=LessonContentSpec(kind=LessonKind.VIDEO, video_id=uuid.uuid4(), duration_seconds=150),
        )
        for n in range(9)
    ] + [LessonSpec(title=f"Reading {n}", content=LessonContentSpec(body_markdown="Read.")) for n in range(3)]
    [course] = await platform.courses.import_courses(
        SYSTEM,
        [
            CourseSpec(
                slug="rebuild",
                title="Rebuild",
                status="published",
                sections=[SectionSpec(title=f"P{n}", lessons=lessons[n * 4 : n * 4 + 4]) for n in range(3)],
            )
        ],
    )
    outline = await platform.courses.get_outline(SYSTEM, course.id)
    views = [x for s in outline.sections for x in s.lessons]
    now = datetime.now(UTC)
    progress: list[dict[str, Any]] = []
    watches: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for _ in range(learners):
        user_id = uuid.uuid4()
        progress.append({"course_id": course.id, "user_id": user_id})
        for lesson in views:
            if lesson.video_id is not None:
                seconds = 150.0 if rng.random() < 0.5 else rng.uniform(0, 130)
                watches.append(
                    {
                        "course_id": course.id,
                        "user_id": user_id,
                        "video_id": lesson.video_id,
                        "intervals": [[0.0, seconds]],
                        "watched_seconds": seconds,
                        "updated_at": now,
                    }
                )
            else:
                done = now if rng.random() < 0.3 else None
                marks.append(
                    {
                        "course_id": course.id,
                        "user_id": user_id,
                        "lesson_id": lesson.id,
                        "viewed_at": now,
                        "done_at": done,
                    }
                )
    for table, rows in ((course_progress, progress), (video_watches, watches), (lesson_marks, marks)):
        await _insert(platform, table, rows)
    return course.id, len(watches) + len(marks)


async def _insert(platform: Any, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), INSERT_ROWS):
        async with platform.database.write() as conn, conn.begin():
            await conn.execute(table.insert(), list(rows[start : start + INSERT_ROWS]))


async def run(url: str, args: argparse.Namespace) -> None:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.progress import rebuild
    from elearning_adapters.settings import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        platform = await bootstrap(Settings(database_url=url, data_dir=Path(data_dir)))
        try:
            began = time.monotonic()
            _, facts = await seed(platform, args.learners, random.Random(3))
            log(f"{facts} facts of {args.learners} learners inserted in {time.monotonic() - began:.1f} s")
            moves: list[int] = []
            load = os.getloadavg()
            began = time.monotonic()
            courses, learners = await rebuild(
                platform.database,
                platform.container.progress.projector(),
                from_scratch=True,
                progress=lambda done, _total: moves.append(done),
                chunk_size=args.chunk,
            )
            seconds = time.monotonic() - began
        finally:
            await platform.aclose()
    print(
        f"rebuild of {facts} facts ({learners} learners, {courses} course): {seconds:.1f} s,"
        f" {facts / seconds:,.0f} facts/s, {learners / seconds:,.0f} learners/s;"
        f" the progress callback moved {len(moves)} times (chunks of {args.chunk} learners)"
    )
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (a busy machine skews every figure)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=10_000, help="about 10 facts each")
    parser.add_argument("--chunk", type=int, default=1_000, help="learners per transaction")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL, help="server for the throwaway database")
    args = parser.parse_args(argv)
    if args.learners < 1 or args.chunk < 1:
        parser.error("--learners and --chunk must be at least 1")
    sys.path.insert(0, str(HERE.parent / "src"))
    with throwaway_database(args.postgres_url) as url:
        asyncio.run(run(url, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
