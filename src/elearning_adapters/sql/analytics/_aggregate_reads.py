"""``AggregateReads`` on the aggregates' tables only (never the statements): a course's dashboard is a handful
of indexed reads whatever its number of statements: its counters in the window, its learners grouped by funnel
state, its videos' difference arrays (at most two rows per second; only the most viewed videos' when the
caller draws only those), its attempts grouped by score bin.

A course's funnel thresholds use the course's published lesson count (``courses.lesson_count``) at read time,
so publishing a new version moves the 25/50/75 % stages without a rebuild.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from elearning_adapters.sql.analytics._aggregate_tables import (
    REACHED,
    WATCHED,
    analytics_attempts,
    analytics_counts,
    analytics_learners,
    analytics_revenue,
    analytics_video_marks,
    analytics_videos,
)
from elearning_adapters.sql.analytics._aggregate_writer import COURSES, ORGANIZATIONS
from elearning_adapters.sql.engine import Database
from elearning_core.analytics.aggregate_figures import (
    active_series,
    discussion_days,
    distribution_of,
    engagement_of,
    funnel_of,
    series,
    time_spent,
    top_courses,
)
from elearning_core.analytics.aggregates import (
    AggregateReads,
    CourseAggregates,
    PlatformAggregates,
    RevenueMonth,
    VideoEngagement,
    most_viewed,
)
from elearning_core.analytics.aggregating import (
    COMPLETED,
    ENROLLED,
    PLATFORM,
    POSTERS,
    POSTS,
    REGISTERED,
    TOP_PREFIX,
    VIDEO_MS,
)
from elearning_core.analytics.revenue import PLATFORM_SCOPE, revenue_months

c = analytics_counts


class SqlAggregateReads(AggregateReads):
    def __init__(self, database: Database, platform_zone: str) -> None:
        self._db, self._zone = database, platform_zone

    async def _counts(self, conn: Any, scope: str, since: date, until: date) -> dict[tuple[str, date], int]:
        rows = await conn.execute(
            select(c.c.metric, c.c.period, c.c.n).where(c.c.scope == scope, c.c.period.between(since, until))
        )
        return {(metric, period): int(n) for metric, period, n in rows}

    async def course(
        self, course_id: uuid.UUID, since: date, until: date, *, videos: int | None = None
    ) -> CourseAggregates | None:
        async with self._db.read() as conn:
            found = (
                await conn.execute(
                    select(COURSES.c.lesson_count, ORGANIZATIONS.c.time_zone)
                    .select_from(COURSES.outerjoin(ORGANIZATIONS, ORGANIZATIONS.c.id == COURSES.c.organization_id))
                    .where(COURSES.c.id == course_id)
                )
            ).first()
            if found is None:
                return None
            lesson_count, zone = int(found[0] or 0), found[1] or self._zone
            counts = await self._counts(conn, str(course_id), since, until)
            a = analytics_attempts
            quiz = await conn.execute(
                select(a.c.submitted_day, func.sum(a.c.seconds))
                .where(a.c.course_id == course_id, a.c.submitted_day.between(since, until))
                .group_by(a.c.submitted_day)
            )
            quiz_seconds = {day: int(n) for day, n in quiz if n}
            lr = analytics_learners
            groups = await conn.execute(
                select(lr.c.enrolled, lr.c.started, lr.c.completed, lr.c.lessons, func.count())
                .where(lr.c.course_id == course_id)
                .group_by(lr.c.enrolled, lr.c.started, lr.c.completed, lr.c.lessons)
            )
            funnel = funnel_of(((bool(e), bool(s), bool(d), int(n), int(k)) for e, s, d, n, k in groups), lesson_count)
            engagement = await self._videos(conn, course_id, videos)
            graded = await conn.execute(
                select(a.c.quiz_id, a.c.bin, a.c.success, func.count())
                .where(a.c.course_id == course_id, a.c.graded_at.is_not(None))
                .group_by(a.c.quiz_id, a.c.bin, a.c.success)
            )
            by_quiz: dict[uuid.UUID, list[tuple[int | None, bool | None, int]]] = defaultdict(list)
            for quiz_id, bin_, success, n in graded:
                by_quiz[quiz_id].append((bin_, None if success is None else bool(success), int(n)))
            learners = await conn.execute(
                select(a.c.quiz_id, func.count(a.c.learner.distinct()))
                .where(a.c.course_id == course_id, a.c.graded_at.is_not(None))
                .group_by(a.c.quiz_id)
            )
            people = {quiz_id: int(n) for quiz_id, n in learners}
            revenue = await self._revenue(conn, course_id, since, until)

        def metric(name: str) -> dict[date, int]:
            return {p: n for (m, p), n in counts.items() if m == name}

        return CourseAggregates(
            course_id=course_id,
            time_zone=zone,
            active_learners=active_series(counts, since, until),
            enrollments=series(metric(ENROLLED), since, until),
            completions=series(metric(COMPLETED), since, until),
            funnel=funnel,
            time_spent_seconds=time_spent(metric(VIDEO_MS), quiz_seconds, since, until),
            videos=engagement,
            assessments=[distribution_of(q, by_quiz[q], people.get(q, 0)) for q in sorted(by_quiz, key=str)],
            discussion=discussion_days(metric(POSTS), metric(POSTERS), since, until),
            revenue=revenue,
        )

    async def _revenue(self, conn: Any, scope: uuid.UUID, since: date, until: date) -> list[RevenueMonth]:
        r = analytics_revenue
        rows = await conn.execute(
            select(r.c.month, r.c.currency, r.c.net_minor, r.c.purchasers).where(
                r.c.course_id == scope, r.c.month.between(since, until)
            )
        )
        return revenue_months(((m, c, int(n), int(p)) for m, c, n, p in rows), since, until)

    async def _videos(self, conn: Any, course_id: uuid.UUID, limit: int | None) -> list[VideoEngagement]:
        v, m = analytics_videos, analytics_video_marks
        if limit is None:
            videos = (
                await conn.execute(
                    select(v.c.video_id, v.c.lesson_id, v.c.length_seconds).where(v.c.course_id == course_id)
                )
            ).all()
        else:
            # A video's viewers are its drop-off's count at second 0 (a learner's first move from nothing
            # watched adds 1 there, every later move past it: AggregateWriter._reach): one primary key read per
            # video ranks them, and only the chosen ones' marks are fetched (a course of 800 videos: 10 of them).
            at_zero = and_(m.c.video_id == v.c.video_id, m.c.series == REACHED, m.c.second == 0)
            ranked = (
                await conn.execute(
                    select(v.c.video_id, v.c.lesson_id, v.c.length_seconds, m.c.n)
                    .select_from(v.outerjoin(m, at_zero))
                    .where(v.c.course_id == course_id)
                )
            ).all()
            chosen = set(most_viewed(((row[0], int(row[3] or 0), int(row[2])) for row in ranked), limit))
            videos = [row[:3] for row in ranked if row[0] in chosen]
        if not videos:
            return []
        ids = [row[0] for row in videos]
        marks: dict[tuple[uuid.UUID, str], dict[int, int]] = defaultdict(dict)
        if conn.dialect.name == "postgresql":
            # One row per video and series, its seconds and counts as two arrays: 180 rows instead of 25,000 for
            # a course of 90 fifteen-minute videos (row by row, fetching them was most of the course read).
            rows = await conn.execute(
                select(
                    m.c.video_id,
                    m.c.series,
                    func.array_agg(aggregate_order_by(m.c.second, m.c.second)),
                    func.array_agg(aggregate_order_by(m.c.n, m.c.second)),
                )
                .where(m.c.video_id.in_(ids))
                .group_by(m.c.video_id, m.c.series)
            )
            for video, kind, seconds, counts in rows:
                marks[video, kind] = dict(zip(seconds, counts, strict=True))
        else:
            for video, kind, second, n in await conn.execute(
                select(m.c.video_id, m.c.series, m.c.second, m.c.n).where(m.c.video_id.in_(ids))
            ):
                marks[video, kind][int(second)] = int(n)
        return [
            engagement_of(video, lesson, int(length), marks[video, WATCHED], marks[video, REACHED])
            for video, lesson, length in sorted(videos, key=lambda row: str(row[0]))
        ]

    async def platform(self, since: date, until: date) -> PlatformAggregates:
        async with self._db.read() as conn:
            counts = await self._counts(conn, PLATFORM, since, until)
            top = await conn.execute(
                select(c.c.scope, func.sum(c.c.n))
                .where(c.c.metric == ENROLLED, c.c.period.between(since, until), c.c.scope.startswith(TOP_PREFIX))
                .group_by(c.c.scope)
            )
            ranked = top_courses((scope, int(n)) for scope, n in top)
            revenue = await self._revenue(conn, PLATFORM_SCOPE, since, until)

        def metric(name: str) -> dict[date, int]:
            return {p: n for (m, p), n in counts.items() if m == name}

        return PlatformAggregates(
            time_zone=self._zone,
            active_learners=active_series(counts, since, until),
            enrollments=series(metric(ENROLLED), since, until),
            completions=series(metric(COMPLETED), since, until),
            registrations=series(metric(REGISTERED), since, until),
            top_courses=ranked,
            revenue=revenue,
        )
