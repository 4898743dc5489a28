"""The progress module's video heartbeats as the xAPI video profile's statements.

A heartbeat reports the interval watched since the previous one, the position now and the player's
state. Each becomes, by its state:

- ``playing``: **played**, ``time`` = the interval's start, ``played-segments`` = the interval;
- ``paused``: **paused** at the position (with the interval watched before the pause, and ``progress``);
- ``seeking``: **seeked** from the interval's end to the position, after a **played** statement for
  the interval when one was watched before the seek (so no watched second is lost to the heatmap);
- ``ended``: **completed**, with ``progress`` and ``completion``.

``progress`` is the share of the video this learner has watched (the union of intervals, 0..1), given
when the heartbeat carries both the watched seconds and the video's length (heartbeats recorded before
those fields existed carry neither). ``length`` is a context extension, ``session-id`` the player
session (a UUID; another string is turned into a UUIDv5 of itself).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from elearning_core.analytics import vocabulary as v
from elearning_core.analytics.model import Activity, ActivityDefinition, Result
from elearning_core.progress.events import VideoWatched

if TYPE_CHECKING:
    from elearning_core.analytics.mapping import StatementMapper

PROFILE = Activity(id=v.VIDEO_PROFILE, definition=ActivityDefinition(type=v.PROFILE_TYPE))
"""The video profile's category activity, which every statement of the profile names."""
_SESSION_NAMESPACE = uuid.UUID("0b8e7f52-3c4d-5e6f-8a9b-1c2d3e4f5a6b")

Parts = tuple[uuid.UUID, v.VerbTerm, Activity, Result | None, Any]


def _session(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return str(uuid.uuid5(_SESSION_NAMESPACE, value))


def _seconds(value: float) -> float:
    return round(value, 3)


def _segment(e: VideoWatched) -> str | None:
    if e.end_seconds <= e.start_seconds:
        return None
    return f"{_seconds(e.start_seconds)}[.]{_seconds(e.end_seconds)}"


def _progress(e: VideoWatched) -> float | None:
    if e.watched_seconds is None or not e.duration_seconds:
        return None
    return round(min(1.0, max(0.0, e.watched_seconds / e.duration_seconds)), 4)


def video_drafts(mapper: StatementMapper, e: VideoWatched, registration: uuid.UUID | None) -> list[Parts]:
    video = mapper.activity("video", e.video_id, v.VIDEO_TYPE)
    context = mapper.context(
        registration,
        parent=mapper.lesson(e.lesson_id),
        grouping=mapper.course(e.course_id),
        category=PROFILE,
        extensions={
            v.VIDEO_SESSION_ID: _session(e.player_session_id),
            v.VIDEO_LENGTH: None if e.duration_seconds is None else _seconds(e.duration_seconds),
            v.VIDEO_SPEED: f"{e.playback_rate:g}x",
        },
    )
    segment = _segment(e)

    def extensions(**values: Any) -> dict[str, Any]:
        return {key: value for key, value in values.items() if value is not None}

    def played() -> Parts:
        ext = extensions(**{v.VIDEO_TIME: _seconds(e.start_seconds), v.VIDEO_PLAYED_SEGMENTS: segment})
        return (e.user_id, v.PLAYED, video, Result(extensions=ext), context)

    position = _seconds(e.position_seconds)
    if e.state == "paused":
        ext = extensions(**{v.VIDEO_TIME: position, v.VIDEO_PLAYED_SEGMENTS: segment, v.VIDEO_PROGRESS: _progress(e)})
        return [(e.user_id, v.PAUSED, video, Result(extensions=ext), context)]
    if e.state == "seeking":
        seeked = Result(extensions={v.VIDEO_TIME_FROM: _seconds(e.end_seconds), v.VIDEO_TIME_TO: position})
        before = [played()] if segment is not None else []
        return [*before, (e.user_id, v.SEEKED, video, seeked, context)]
    if e.state == "ended":
        ext = extensions(**{v.VIDEO_TIME: position, v.VIDEO_PLAYED_SEGMENTS: segment, v.VIDEO_PROGRESS: _progress(e)})
        return [(e.user_id, v.COMPLETED, video, Result(completion=True, extensions=ext), context)]
    return [played()]
