"""The progress projection's workload for ``projection.py --progress``: a published course, enrolled learners,
their activity facts already recorded (a backlog: the commands ran, the consumer is behind) and the stream of
progress events those commands recorded, interleaved across learners as concurrent viewers produce them.

Per learner, a session through the course from a random lesson: a text lesson is viewed (and sometimes marked
done), a video lesson is watched in 25-second heartbeats from a random point to the end or partway. A few
learners go through the whole course (their course completes). Most events are heartbeats.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

LESSONS_VIDEO = 9
LESSONS_TEXT = 3
VIDEO_SECONDS = 150
BEAT_SECONDS = 25.0
FINISHERS = 0.02  # share of learners who go through the whole course


@dataclass
class Workload:
    course_id: uuid.UUID
    learners: list[uuid.UUID]
    events: list[Any]  # DomainEvents in production order
    mix: dict[str, int]


async def build(platform: Any, learners: int, events: int, seed: int = 7) -> Workload:
    """The course, the learners (enrolled through the services) and ``events`` activity events, whose facts
    are written to the progress tables in bulk (what the commands would have written)."""
    from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
    from elearning_core.course.values import LessonKind
    from elearning_core.identity.commands import CreateUser
    from elearning_core.shared.ports import SYSTEM

    rng = random.Random(seed)
    specs = [
        LessonSpec(
            title=f"Video {n}",
            content=LessonContentSpec(kind=LessonKind.VIDEO, video_id=uuid.uuid4(), duration_seconds=VIDEO_SECONDS),
        )
        for n in range(LESSONS_VIDEO)
    ] + [
        LessonSpec(title=f"Reading {n}", content=LessonContentSpec(body_markdown="Read me."))
        for n in range(LESSONS_TEXT)
    ]
    rng.shuffle(specs)
    sections = [SectionSpec(title=f"Part {n}", lessons=specs[n * 4 : n * 4 + 4]) for n in range(len(specs) // 4)]
    [course] = await platform.courses.import_courses(
        SYSTEM, [CourseSpec(slug="bench-progress", title="Bench progress", status="published", sections=sections)]
    )
    outline = await platform.courses.get_outline(SYSTEM, course.id)
    lessons = [lesson for section in outline.sections for lesson in section.lessons]
    users = []
    for n in range(learners):
        user = await platform.identity.create_user(
            SYSTEM, CreateUser(email=f"learner{n}@bench.example", display_name=f"Learner {n}")
        )
        await platform.enrollments.enroll(SYSTEM, course.id, user.id)
        users.append(user.id)
    sessions = [_session(rng, course.id, user_id, lessons, whole=rng.random() < FINISHERS) for user_id in users]
    stream = _interleave(rng, sessions, events)
    await _record_facts(platform, stream)
    mix: dict[str, int] = {}
    for _, event in stream:
        mix[event.type] = mix.get(event.type, 0) + 1
    return Workload(course.id, users, [event for _, event in stream], mix)


def _session(rng: random.Random, course_id: uuid.UUID, user_id: uuid.UUID, lessons: list[Any], *, whole: bool) -> Any:
    from elearning_core.progress.events import LessonMarkedDone, LessonViewed, VideoWatched, progress_key

    key = progress_key(course_id, user_id)
    start = 0 if whole else rng.randrange(len(lessons))
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 600))
    out: list[tuple[datetime, Any]] = []
    common = {"aggregate_id": key, "course_id": course_id, "user_id": user_id}
    for lesson in lessons[start:]:
        if lesson.video_id is None:
            out.append((now, LessonViewed(occurred_at=now, lesson_id=lesson.id, **common)))
            if whole or rng.random() < 0.3:
                now += timedelta(seconds=rng.uniform(20, 90))
                out.append((now, LessonMarkedDone(occurred_at=now, lesson_id=lesson.id, **common)))
        else:
            position = 0.0 if whole else rng.choice([0.0, 0.0, rng.uniform(0, VIDEO_SECONDS)])
            stop = VIDEO_SECONDS if whole or rng.random() < 0.5 else rng.uniform(position, VIDEO_SECONDS)
            session = uuid.uuid4().hex
            while position < stop:
                end = min(stop, position + BEAT_SECONDS)
                now += timedelta(seconds=end - position)
                beat = VideoWatched(
                    occurred_at=now,
                    lesson_id=lesson.id,
                    video_id=lesson.video_id,
                    start_seconds=position,
                    end_seconds=end,
                    position_seconds=end,
                    state="playing" if end < VIDEO_SECONDS else "ended",
                    playback_rate=1.0,
                    player_session_id=session,
                    **common,
                )
                out.append((now, beat))
                position = end
        now += timedelta(seconds=rng.uniform(5, 60))
    return out


def _interleave(rng: random.Random, sessions: list[Any], limit: int) -> list[tuple[datetime, Any]]:
    """Every learner's events in time order, as concurrent learners produce them; at most ``limit``."""
    merged = sorted((event for session in sessions for event in session), key=lambda te: te[0])
    return merged[:limit]


async def _record_facts(platform: Any, stream: list[tuple[datetime, Any]]) -> None:
    """The facts the commands of ``stream`` recorded: the merged watched union per learner and video, the
    view and done marks per lesson (first time stands), in bulk."""
    from elearning_adapters.sql.progress import SqlProgressRepository, lesson_marks, video_watches
    from elearning_core.progress.model import covered_seconds, merge_intervals

    intervals: dict[tuple[uuid.UUID, uuid.UUID, uuid.UUID], list[tuple[float, float]]] = {}
    marks: dict[tuple[uuid.UUID, uuid.UUID, uuid.UUID], dict[str, datetime]] = {}
    course_id = None
    for at, event in stream:
        course_id = event.course_id
        if event.type == "progress.video_watched.v1":
            key = (event.course_id, event.user_id, event.video_id)
            intervals.setdefault(key, []).append((event.start_seconds, event.end_seconds))
        else:
            column = "done_at" if event.type == "progress.lesson_marked_done.v1" else "viewed_at"
            marks.setdefault((event.course_id, event.user_id, event.lesson_id), {}).setdefault(column, at)
    now = datetime.now(UTC)
    watches = []
    for (c, u, v), spans in intervals.items():
        merged = merge_intervals(spans, VIDEO_SECONDS)
        watches.append(
            {
                "course_id": c,
                "user_id": u,
                "video_id": v,
                "intervals": [list(i) for i in merged],
                "watched_seconds": covered_seconds(merged),
                "updated_at": now,
            }
        )
    rows = [
        {
            "course_id": c,
            "user_id": u,
            "lesson_id": lesson,
            "viewed_at": m.get("viewed_at"),
            "done_at": m.get("done_at"),
        }
        for (c, u, lesson), m in marks.items()
    ]
    async with platform.database.write() as conn, conn.begin():
        if watches:
            await conn.execute(video_watches.insert(), watches)
        if rows:
            await conn.execute(lesson_marks.insert(), rows)
        await SqlProgressRepository(conn).ensure_enrolled_rows(course_id)


async def reset_derived(platform: Any, course_id: uuid.UUID) -> None:
    """Before each round: no completion recorded yet (every round starts from the same state)."""
    from elearning_adapters.sql.progress import SqlProgressRepository

    async with platform.database.write() as conn, conn.begin():
        await SqlProgressRepository(conn).wipe_derived(course_id)


async def completions(platform: Any, after_id: int) -> tuple[int, int, int]:
    """(lesson completions, course completions) recorded in the outbox past ``after_id``, and the last id."""
    from sqlalchemy import func, select

    from elearning_adapters.sql.outbox import outbox

    async with platform.database.read() as conn:
        rows = dict(
            (
                await conn.execute(
                    select(outbox.c.event_type, func.count())
                    .where(outbox.c.id > after_id)
                    .group_by(outbox.c.event_type)
                )
            ).all()
        )
        last = (await conn.execute(select(func.coalesce(func.max(outbox.c.id), 0)))).scalar_one()
    return rows.get("progress.lesson_completed.v1", 0), rows.get("progress.course_completed.v1", 0), int(last)
