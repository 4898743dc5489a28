"""In-memory doubles for the progress ports (kept apart from tests/fakes.py, which is already long).

``InMemoryProgressRepository`` follows the SQL adapter's semantics (the contract suite in
tests/contract/test_progress_store.py runs on both): fact writes are set unions and maxima, a
reset clears the learner's facts and derived state but not the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from elearning_core.course.queries import CourseOutline
from elearning_core.course.requirements import LearnerFacts
from elearning_core.progress.model import (
    CompletionRules,
    CourseProgress,
    Interval,
    LastActivity,
    LearnerFactsInCourse,
    Override,
    QuizOutcome,
    Watch,
    WatchKey,
    covered_seconds,
    default_rules,
    merge_watches,
)
from elearning_core.progress.ports import ProgressRepository, ProgressUnitOfWork
from elearning_core.progress.queries import LearnerCourseRead, LearnerProgressRow, ProgressFilter, ProgressQueries
from elearning_core.shared.events import DomainEvent
from elearning_core.video.model import PlaybackPosition
from elearning_core.video.ports import PlaybackPositionRepository

Pair = tuple[uuid.UUID, uuid.UUID]  # (course id, user id)


@dataclass
class ProgressStore:
    viewed: dict[Pair, set[uuid.UUID]] = field(default_factory=dict)
    done: dict[Pair, set[uuid.UUID]] = field(default_factory=dict)
    intervals: dict[tuple[uuid.UUID, uuid.UUID, uuid.UUID], tuple[Interval, ...]] = field(default_factory=dict)
    quizzes: dict[tuple[uuid.UUID, uuid.UUID, uuid.UUID], QuizOutcome] = field(default_factory=dict)
    last: dict[Pair, LastActivity] = field(default_factory=dict)
    audit: dict[Pair, list[Override]] = field(default_factory=dict)
    rules: dict[uuid.UUID, CompletionRules] = field(default_factory=dict)
    progress: dict[Pair, CourseProgress] = field(default_factory=dict)
    enrolled: dict[Pair, datetime] = field(default_factory=dict)
    positions: dict[tuple[uuid.UUID, uuid.UUID], PlaybackPosition] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)


class InMemoryProgressRepository(ProgressRepository):
    def __init__(self, store: ProgressStore) -> None:
        self._s = store
        self.pending: list[DomainEvent] = []

    async def mark_viewed(self, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None:
        self._s.viewed.setdefault((course_id, user_id), set()).add(lesson_id)

    async def mark_done(self, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None:
        self._s.done.setdefault((course_id, user_id), set()).add(lesson_id)

    async def add_watched(
        self,
        course_id: uuid.UUID,
        user_id: uuid.UUID,
        video_id: uuid.UUID,
        interval: Interval,
        duration: float | None,
        at: datetime,
    ) -> float:
        watch = Watch(course_id, user_id, video_id, interval, duration, at)
        return (await self.add_watched_many([watch]))[watch.key]

    async def add_watched_many(self, watches: Sequence[Watch]) -> dict[WatchKey, float]:
        merged = merge_watches(self._s.intervals, watches)
        self._s.intervals.update(merged)
        return {key: covered_seconds(union) for key, union in merged.items()}

    async def record_quiz(
        self, course_id: uuid.UUID, user_id: uuid.UUID, assessment_id: uuid.UUID, outcome: QuizOutcome, at: datetime
    ) -> None:
        key = (course_id, user_id, assessment_id)
        self._s.quizzes[key] = self._s.quizzes.get(key, QuizOutcome()).merged(outcome)

    async def touch(self, course_id: uuid.UUID, user_id: uuid.UUID, last: LastActivity) -> None:
        current = self._s.last.get((course_id, user_id))
        if current is None or current.at <= last.at:
            self._s.last[(course_id, user_id)] = last

    async def touch_many(self, entries: Sequence[tuple[uuid.UUID, uuid.UUID, LastActivity]]) -> None:
        for course_id, user_id, last in entries:
            await self.touch(course_id, user_id, last)

    async def facts(self, course_id: uuid.UUID, user_id: uuid.UUID) -> LearnerFactsInCourse:
        pair = (course_id, user_id)
        return LearnerFactsInCourse(
            viewed=frozenset(self._s.viewed.get(pair, ())),
            done=frozenset(self._s.done.get(pair, ())),
            watched={v: covered_seconds(i) for (c, u, v), i in self._s.intervals.items() if (c, u) == pair},
            quizzes={a: o for (c, u, a), o in self._s.quizzes.items() if (c, u) == pair},
        )

    async def clear_facts(self, course_id: uuid.UUID, user_id: uuid.UUID) -> None:
        pair = (course_id, user_id)
        for table in (self._s.viewed, self._s.done, self._s.last, self._s.progress):
            table.pop(pair, None)  # type: ignore[attr-defined]
        for keyed in (self._s.intervals, self._s.quizzes):
            for key in [k for k in keyed if k[:2] == pair]:
                del keyed[key]  # type: ignore[attr-defined]

    async def add_audit(self, course_id: uuid.UUID, user_id: uuid.UUID, entry: Override) -> None:
        self._s.audit.setdefault((course_id, user_id), []).append(entry)

    async def audit(self, course_id: uuid.UUID, user_id: uuid.UUID) -> list[Override]:
        return sorted(self._s.audit.get((course_id, user_id), []), key=lambda o: o.at)

    async def rules(self, course_id: uuid.UUID) -> CompletionRules:
        return self._s.rules.get(course_id) or default_rules(course_id)

    async def save_rules(self, rules: CompletionRules) -> None:
        self._s.rules[rules.course_id] = rules

    async def progress(self, course_id: uuid.UUID, user_id: uuid.UUID) -> CourseProgress | None:
        return self._s.progress.get((course_id, user_id))

    async def save_progress(self, progress: CourseProgress) -> None:
        self._s.progress[(progress.course_id, progress.user_id)] = progress

    async def facts_of(self, pairs: Collection[Pair]) -> dict[Pair, LearnerFactsInCourse]:
        return {pair: await self.facts(*pair) for pair in pairs}

    async def progress_of(self, pairs: Collection[Pair]) -> dict[Pair, CourseProgress]:
        return {pair: self._s.progress[pair] for pair in pairs if pair in self._s.progress}

    async def audits_of(self, pairs: Collection[Pair]) -> dict[Pair, list[Override]]:
        return {pair: await self.audit(*pair) for pair in pairs if self._s.audit.get(pair)}

    async def save_progress_many(self, states: Sequence[CourseProgress]) -> None:
        for state in states:
            await self.save_progress(state)

    def _pairs(self) -> set[Pair]:
        pairs: set[Pair] = set(self._s.enrolled) | set(self._s.progress) | set(self._s.viewed) | set(self._s.done)
        pairs |= {k[:2] for k in self._s.intervals} | {k[:2] for k in self._s.quizzes}
        return pairs

    async def learners(self, course_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        users = sorted({u for c, u in self._pairs() if c == course_id and (after is None or u > after)})
        return users[:limit]

    async def courses(self, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        return sorted({c for c, _ in self._pairs() if after is None or c > after})[:limit]

    def record(self, events: Sequence[DomainEvent]) -> None:
        self.pending.extend(events)


class InMemoryPlaybackPositions(PlaybackPositionRepository):
    def __init__(self, store: ProgressStore) -> None:
        self._s = store

    async def save(self, position: PlaybackPosition) -> PlaybackPosition:
        key = (position.user_id, position.video_id)
        current = self._s.positions.get(key)
        if current is None or current.updated_at <= position.updated_at:
            self._s.positions[key] = position
        return self._s.positions[key]

    async def get(self, user_id: uuid.UUID, video_id: uuid.UUID) -> PlaybackPosition | None:
        return self._s.positions.get((user_id, video_id))

    async def keep(self, positions: Sequence[PlaybackPosition]) -> None:
        for position in positions:
            await self.save(position)  # every video exists here


class FakeProgressUnitOfWork(ProgressUnitOfWork):
    """Writes at once (the fake's facts are idempotent unions); commit moves the events to the outbox."""

    def __init__(self, store: ProgressStore) -> None:
        self._store = store
        self.committed = False

    async def __aenter__(self) -> Self:
        self.progress = InMemoryProgressRepository(self._store)
        self.playback_positions = InMemoryPlaybackPositions(self._store)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        assert isinstance(self.progress, InMemoryProgressRepository)
        self._store.outbox.extend(self.progress.pending)
        self.progress.pending.clear()
        self.committed = True

    async def rollback(self) -> None:
        return None


class InMemoryProgressQueries(ProgressQueries):
    def __init__(self, store: ProgressStore) -> None:
        self._s = store

    async def course_state(self, course_id: uuid.UUID, user_id: uuid.UUID) -> LearnerCourseRead:
        repo = InMemoryProgressRepository(self._s)
        return LearnerCourseRead(
            rules=await repo.rules(course_id),
            facts=await repo.facts(course_id, user_id),
            progress=self._s.progress.get((course_id, user_id)),
            last=self._s.last.get((course_id, user_id)),
        )

    def _row(self, p: CourseProgress) -> LearnerProgressRow:
        last = self._s.last.get((p.course_id, p.user_id))
        return LearnerProgressRow(
            course_id=p.course_id,
            user_id=p.user_id,
            percent=p.percent,
            required_lessons=p.required_lessons,
            required_completed=p.required_completed,
            completed_at=p.completed_at,
            completion_source=p.completion_source.value if p.completion_source else None,
            last_lesson_id=last.lesson_id if last else None,
            last_activity_at=last.at if last else None,
        )

    async def my_courses(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[LearnerProgressRow]:
        rows = [self._row(p) for (c, u), p in self._s.progress.items() if u == user_id and (after is None or c > after)]
        return sorted(rows, key=lambda r: r.course_id)[:limit]

    async def learners(
        self, course_id: uuid.UUID, where: ProgressFilter, after: uuid.UUID | None, limit: int
    ) -> list[LearnerProgressRow]:
        rows = [
            self._row(p)
            for (c, u), p in self._s.progress.items()
            if c == course_id
            and (after is None or u > after)
            and (where.completed is None or p.completed == where.completed)
        ]
        return sorted(rows, key=lambda r: r.user_id)[:limit]

    async def lesson_counts(self, course_id: uuid.UUID) -> dict[uuid.UUID, int]:
        counts: dict[uuid.UUID, int] = {}
        for (c, _), p in self._s.progress.items():
            if c == course_id:
                for lesson_id in p.completed_lesson_ids:
                    counts[lesson_id] = counts.get(lesson_id, 0) + 1
        return counts


class FixedOutlines:
    """``PublishedOutlines`` over a dict (a test publishes a version by replacing the entry)."""

    def __init__(self) -> None:
        self.outlines: dict[uuid.UUID, CourseOutline] = {}

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        return self.outlines.get(course_id)


class StoreEnrollments:
    def __init__(self, store: ProgressStore) -> None:
        self._s = store

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        return self._s.enrolled.get((course_id, user_id))


class FixedGrades:
    def __init__(self) -> None:
        self.grades: dict[Pair, float] = {}

    async def course_grade(self, course_id: uuid.UUID, user_id: uuid.UUID) -> float | None:
        return self.grades.get((course_id, user_id))


def uow_factory(store: ProgressStore) -> Callable[[], FakeProgressUnitOfWork]:
    return lambda: FakeProgressUnitOfWork(store)


class FakeLearnerFacts:
    """``LearnerFactsReader`` and ``PrerequisiteChecker`` over the store (as the SQL reads answer them)."""

    def __init__(self, store: ProgressStore) -> None:
        self._s = store

    async def learner_facts(self, user_id: uuid.UUID, course_id: uuid.UUID) -> LearnerFacts:
        progress = self._s.progress.get((course_id, user_id))
        quizzes = {a: o for (c, u, a), o in self._s.quizzes.items() if (c, u) == (course_id, user_id)}
        return LearnerFacts(
            completed_lesson_ids=progress.completed_lesson_ids if progress else frozenset(),
            best_quiz_percent={a: o.best_percent for a, o in quizzes.items() if o.best_percent is not None},
            passed_quiz_ids=frozenset(a for a, o in quizzes.items() if o.passed),
        )

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        return {
            c
            for c in course_ids
            if (p := self._s.progress.get((c, user_id))) is not None and p.completed_at is not None
        }
