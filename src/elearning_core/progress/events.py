"""Progress events: the ``elearning.progress`` topic's contract.

Every event carries the course and the learner; the aggregate is the learner's
progress in that course (``progress_key``), so all of one learner's facts in one
course share a Kafka key and keep their order.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from elearning_core.shared.events import DomainEvent

_PROGRESS_NAMESPACE = uuid.UUID("8f0c1d7e-4b8a-5c52-9a53-2f6c7e1f0b11")


def progress_key(course_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID:
    """The aggregate id of one learner's progress in one course (stable: a UUIDv5 of the pair)."""
    return uuid.uuid5(_PROGRESS_NAMESPACE, f"{course_id}:{user_id}")


class LessonViewed(DomainEvent):
    type: ClassVar[str] = "progress.lesson_viewed.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    lesson_id: uuid.UUID


class LessonMarkedDone(DomainEvent):
    type: ClassVar[str] = "progress.lesson_marked_done.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    lesson_id: uuid.UUID


class VideoWatched(DomainEvent):
    """One player heartbeat: the interval watched since the previous one, and the player's state.

    This is the payload analytics reads (the xAPI video profile's played/paused/seeked segments).
    """

    type: ClassVar[str] = "progress.video_watched.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    lesson_id: uuid.UUID
    video_id: uuid.UUID
    start_seconds: float
    end_seconds: float
    position_seconds: float
    state: str  # "playing", "paused", "seeking" or "ended"
    playback_rate: float
    player_session_id: str
    duration_seconds: float | None = None
    """The video's length when the lesson knows it (added later with a default, so older messages still decode)."""
    watched_seconds: float | None = None
    """Seconds of the video this learner has watched in the course, counting this heartbeat (the union of
    intervals once its group commit merged it); None on older messages."""


class LessonCompleted(DomainEvent):
    type: ClassVar[str] = "progress.lesson_completed.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    lesson_id: uuid.UUID
    kind: str  # the lesson kind: "text", "video", "assessment", ...


class CourseCompleted(DomainEvent):
    """The learner completed the course: by its rules, or by a staff override (who and why)."""

    type: ClassVar[str] = "progress.course_completed.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    version_number: int | None
    source: str  # "rules" or "override"
    by: uuid.UUID | None = None
    reason: str | None = None
    grade_percent: float | None = None


class ProgressReset(DomainEvent):
    """Staff reset the learner's progress in the course (an earlier completion no longer stands)."""

    type: ClassVar[str] = "progress.reset.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    by: uuid.UUID | None
    reason: str


class CompletionRulesChanged(DomainEvent):
    """Staff replaced the course's completion rules: every learner's state is recomputed under them
    (completions already recorded stand). The aggregate is the course."""

    type: ClassVar[str] = "progress.completion_rules_changed.v1"
    course_id: uuid.UUID
    by: uuid.UUID | None
