"""Random event histories for the aggregates' tests: a few learners in two courses (one in an organization's
time zone far from the platform's, one without an organization), over six weeks that cross month starts and
a daylight saving change, with heartbeats, quiz attempts graded and regraded, posts, and redeliveries; plus
the reference figures (``elearning_core.analytics.aggregating``) of a set of statements."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from elearning_core.analytics.aggregate_figures import course_aggregates, platform_aggregates
from elearning_core.analytics.aggregates import CourseAggregates, PlatformAggregates
from elearning_core.analytics.aggregating import Zones, collect
from elearning_core.analytics.mapping import StatementMapper
from elearning_core.analytics.vocabulary import PlatformIris
from elearning_core.assessment import events as assessment
from elearning_core.discussion import events as discussion
from elearning_core.enrollment.events import Enrolled
from elearning_core.identity.events import UserRegistered
from elearning_core.progress import events as progress
from elearning_core.shared.events import DomainEvent

BASE = "https://learn.example.org"
MAPPER = StatementMapper(PlatformIris(BASE))
LEARNERS = [uuid.UUID(int=0x100 + n) for n in range(2)]
COURSES = [uuid.UUID(int=0x200 + n) for n in range(2)]
LESSONS = [uuid.UUID(int=0x300 + n) for n in range(4)]
VIDEOS = [uuid.UUID(int=0x400 + n) for n in range(2)]
QUIZ = uuid.UUID(int=0x500)
ORGANIZATION = uuid.UUID(int=0x600)
PLATFORM_ZONE = "America/New_York"
COURSE_ZONE = "Pacific/Auckland"
LESSON_COUNT = 4
ZONES = Zones(PLATFORM_ZONE, {COURSES[0]: COURSE_ZONE})
START = datetime(2026, 3, 1, 3, 30, tzinfo=UTC)  # spans New York's DST change (8 March) and Auckland's (5 April)
SINCE, UNTIL = date(2026, 1, 1), date(2026, 12, 31)

KINDS = (
    "registered",
    "enrolled",
    "viewed",
    "lesson",
    "course",
    "video",
    "attempted",
    "submitted",
    "graded",
    "regraded",
    "post",
)


def build(kind: str, who: int, where: int, minute: int, number: int, extra: float, lesson: int) -> DomainEvent:
    # Attempts start and end within four hours of each other mostly, so their times are not all at the cap.
    at = START + timedelta(minutes=minute % 240 if kind in ("attempted", "submitted") else minute)
    user, course = LEARNERS[who], COURSES[where]
    learner = {"course_id": course, "user_id": user, "aggregate_id": progress.progress_key(course, user)}
    attempt = {"aggregate_id": uuid.UUID(int=number), "quiz_id": QUIZ, "course_id": course, "user_id": user}
    percent = round(extra * 100, 1)
    match kind:
        case "registered":
            return UserRegistered(
                occurred_at=at, aggregate_id=user, email="x@example.org", display_name="X", source="password"
            )
        case "enrolled":
            return Enrolled(
                occurred_at=at,
                aggregate_id=uuid.UUID(int=who * 16 + where),
                course_id=course,
                user_id=user,
                cohort_id=None,
                source="self",
            )
        case "viewed":
            return progress.LessonViewed(occurred_at=at, **learner, lesson_id=LESSONS[lesson])
        case "lesson":
            return progress.LessonCompleted(occurred_at=at, **learner, lesson_id=LESSONS[lesson], kind="text")
        case "course":
            return progress.CourseCompleted(
                occurred_at=at, **learner, version_number=1, source="rules", grade_percent=None
            )
        case "video":
            start = round(extra * 50, 2)
            return progress.VideoWatched(
                occurred_at=at,
                **learner,
                lesson_id=LESSONS[lesson],
                video_id=VIDEOS[lesson % 2],
                start_seconds=start,
                end_seconds=start + number % 17,
                position_seconds=start + number % 17,
                state=("playing", "paused", "seeking", "ended")[number % 4],
                playback_rate=1.0,
                player_session_id="s",
                duration_seconds=None if number % 5 == 0 else 60.0,
                watched_seconds=None,
            )
        case "attempted":
            return assessment.AttemptStarted(occurred_at=at, **attempt, number=number % 3)
        case "submitted":
            return assessment.AttemptSubmitted(
                occurred_at=at, **attempt, number=number % 3, reason="learner", late_seconds=0, needs_grading=False
            )
        case "graded":
            passed = None if number % 5 == 0 else extra >= 0.5
            return assessment.AttemptGraded(
                occurred_at=at,
                **attempt,
                number=number % 3,
                score=percent,
                max_score=100,
                percent=percent,
                passed=passed,
            )
        case "regraded":
            return assessment.AttemptRegraded(
                occurred_at=at,
                **attempt,
                number=number % 3,
                previous_percent=0,
                percent=percent,
                passed=extra >= 0.5,
                reason="manual",
            )
    thread = uuid.UUID(int=0x700 + number)
    return discussion.ThreadCreated(
        occurred_at=at, aggregate_id=thread, course_id=course, thread_id=thread, lesson_id=None, cohort_id=None,
        kind="question", title="t", excerpt="e", author_id=user, anonymous=False,
    )  # fmt: skip


one_event = st.builds(
    build,
    st.sampled_from([*KINDS, "enrolled", "lesson", "lesson", "video", "graded", "regraded", "attempted", "submitted"]),
    st.integers(0, len(LEARNERS) - 1),
    st.integers(0, len(COURSES) - 1),
    st.one_of(st.sampled_from([0, 600, 1439, 1440]), st.integers(0, 60 * 24 * 42)),  # ties, and any minute
    st.integers(1, 12),
    st.floats(0, 1, allow_nan=False),
    st.integers(0, len(LESSONS) - 1),
)


@st.composite
def histories(draw: st.DrawFn, max_events: int = 60) -> list[list[DomainEvent]]:
    """Batches of events in a random order, some delivered twice (in the same or another batch)."""
    events = draw(st.lists(one_event, min_size=8, max_size=max_events))
    again = draw(st.lists(st.sampled_from(events), max_size=len(events) // 2))
    ordered = draw(st.permutations(events + again))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(ordered) - 1)), max_size=6)))
    bounds = [0, *cuts, len(ordered)]
    return [ordered[a:b] for a, b in itertools.pairwise(bounds) if ordered[a:b]]


def statements_of(events: Sequence[DomainEvent]) -> list[dict[str, Any]]:
    """The statements of the distinct events (as the store keeps them: a redelivery adds nothing)."""
    unique = {event.event_id: event for event in events}
    return [s.as_json() for event in unique.values() for s in MAPPER.map(event)]


def reference(
    statements: Sequence[dict[str, Any]], *, videos: int | None = None
) -> tuple[list[CourseAggregates], PlatformAggregates]:
    delta = collect(statements, ZONES)
    courses = [
        course_aggregates(delta, c, SINCE, UNTIL, zones=ZONES, lesson_count=LESSON_COUNT, videos=videos)
        for c in COURSES
    ]
    return courses, platform_aggregates(delta, SINCE, UNTIL, zones=ZONES)
