"""The video aggregate, its status machine, captions, playback positions and the rules on their inputs.

A video moves ``draft -> uploading -> processing -> ready | failed``. A new
upload may replace the source of a failed or ready video (back to
``uploading``), and an administrator may send a video with a complete source
back to ``processing``; every other move is refused, so a late event from an
old pipeline run cannot turn a re-uploaded video ``ready`` with stale output.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import new_uuid
from elearning_core.video import events as ev

TITLE_MAX = 200
REASON_MAX = 1000
CAPTION_MAX_BYTES = 1024 * 1024
CAPTION_LABEL_MAX = 100
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,4}$")


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}", [FieldError(name, message)])


def check_title(value: str) -> str:
    title = " ".join(value.split())
    if not title or len(title) > TITLE_MAX:
        raise _invalid("title", f"must be 1 to {TITLE_MAX} characters")
    return title


def check_language(value: str) -> str:
    """A BCP 47 language tag (``en``, ``pt-BR``, ``zh-Hant-TW``); kept as written."""
    if len(value) > 35 or not _LANGUAGE.match(value):
        raise _invalid("language", "must be a BCP 47 language tag such as en or pt-BR")
    return value


class VideoStatus(enum.StrEnum):
    DRAFT = "draft"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


S = VideoStatus
TRANSITIONS: dict[VideoStatus, frozenset[VideoStatus]] = {
    S.DRAFT: frozenset({S.UPLOADING}),
    S.UPLOADING: frozenset({S.UPLOADING, S.DRAFT, S.PROCESSING, S.FAILED}),
    S.PROCESSING: frozenset({S.READY, S.FAILED, S.PROCESSING}),
    S.READY: frozenset({S.UPLOADING, S.PROCESSING}),
    S.FAILED: frozenset({S.UPLOADING, S.PROCESSING}),
}
"""Which status may follow which (a status may follow itself where the move restarts the step)."""


@dataclass(frozen=True, slots=True)
class VideoSource:
    """The uploaded original, complete in storage."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Rendition:
    name: str  # "360p"
    width: int
    height: int
    bandwidth: int  # bits per second, as the master playlist announces it
    playlist: str  # relative to the video's hls directory: "360p/index.m3u8"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "bandwidth": self.bandwidth,
            "playlist": self.playlist,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rendition:
        return cls(data["name"], int(data["width"]), int(data["height"]), int(data["bandwidth"]), data["playlist"])


@dataclass(frozen=True, slots=True)
class Rung:
    """One step of the encoding ladder."""

    name: str
    height: int
    video_bitrate: int
    audio_bitrate: int = 128_000


LADDER: tuple[Rung, ...] = (Rung("360p", 360, 800_000, 96_000), Rung("720p", 720, 2_800_000))


def choose_ladder(source_height: int, ladder: tuple[Rung, ...] = LADDER) -> list[Rung]:
    """The rungs at or below the source's height (never upscale), and always at least one.

    A source smaller than the lowest rung gets one rendition at its own height (rounded down to even).
    """
    if source_height <= 0:
        raise ValueError("the source height must be positive")
    rungs = [r for r in ladder if r.height <= source_height]
    if rungs:
        return rungs
    lowest = min(ladder, key=lambda r: r.height)
    height = max(2, source_height - source_height % 2)
    return [Rung(f"{height}p", height, lowest.video_bitrate, lowest.audio_bitrate)]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What the prober found in a source that holds a playable video stream."""

    duration_seconds: float
    width: int
    height: int
    has_audio: bool
    video_codec: str = ""


def _trim(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"


@dataclass(slots=True, eq=False)
class Video:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    status: VideoStatus
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None = None
    failure_reason: str = ""
    source: VideoSource | None = None
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    renditions: list[Rendition] = field(default_factory=list)
    progress: int = 0
    processing_started_at: datetime | None = None
    version: int = 0
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    # -- events --------------------------------------------------------------------------

    def _record(self, event_type: type[DomainEvent], at: datetime, **data: Any) -> None:
        self._events.append(event_type(occurred_at=at, aggregate_id=self.id, **data))

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    # -- behaviour -----------------------------------------------------------------------

    @classmethod
    def create(cls, *, course_id: uuid.UUID, title: str, at: datetime, created_by: uuid.UUID | None) -> Video:
        video = cls(
            id=new_uuid(),
            course_id=course_id,
            title=check_title(title),
            status=VideoStatus.DRAFT,
            created_at=at,
            updated_at=at,
            created_by=created_by,
        )
        video._record(ev.VideoCreated, at, course_id=course_id, title=video.title)
        return video

    def _move(self, to: VideoStatus, at: datetime, action: str) -> None:
        if to not in TRANSITIONS[self.status]:
            raise Conflict(f"cannot {action}: the video is {self.status.value}")
        self.status = to
        self.updated_at = at

    def start_upload(self, at: datetime) -> None:
        """A new source is on its way (it replaces the current one once complete)."""
        self._move(VideoStatus.UPLOADING, at, "start an upload")
        self.failure_reason = ""
        self.progress = 0

    def cancel_upload(self, at: datetime) -> None:
        """The upload in flight was terminated: back to draft, or to what the kept source allows."""
        if self.status is not VideoStatus.UPLOADING:
            return
        self.status = (
            VideoStatus.DRAFT if self.source is None else (VideoStatus.READY if self.renditions else VideoStatus.FAILED)
        )
        if self.status is VideoStatus.FAILED and not self.failure_reason:
            self.failure_reason = "the upload was terminated"
        self.updated_at = at

    def complete_upload(self, source: VideoSource, at: datetime) -> None:
        self._move(VideoStatus.PROCESSING, at, "complete an upload")
        self.source = source
        self._begin_processing(at)
        self._record(
            ev.VideoUploadCompleted,
            at,
            course_id=self.course_id,
            source_key=source.key,
            size=source.size,
            sha256=source.sha256,
        )

    def reprocess(self, at: datetime) -> None:
        """Run the pipeline again on the stored source (the output is replaced)."""
        if self.source is None:
            raise Conflict(f"cannot reprocess: the video has no complete upload (it is {self.status.value})")
        self._move(VideoStatus.PROCESSING, at, "reprocess")
        self._begin_processing(at)
        source = self.source
        self._record(
            ev.VideoUploadCompleted,
            at,
            course_id=self.course_id,
            source_key=source.key,
            size=source.size,
            sha256=source.sha256,
            reprocess=True,
        )

    def _begin_processing(self, at: datetime) -> None:
        self.progress = 0
        self.failure_reason = ""
        self.processing_started_at = at

    def report_progress(self, percent: int, at: datetime) -> bool:
        """Record progress while processing; False (nothing recorded) if it does not move forward."""
        percent = max(0, min(99, percent))
        if self.status is not VideoStatus.PROCESSING or percent <= self.progress:
            return False
        self.progress = percent
        self.updated_at = at
        self._record(ev.VideoProcessingProgress, at, percent=percent)
        return True

    def mark_ready(self, probe: ProbeResult, renditions: list[Rendition], at: datetime) -> None:
        if not renditions:
            raise ValueError("a ready video has at least one rendition")
        self._move(VideoStatus.READY, at, "mark the video ready")
        self.duration_seconds = probe.duration_seconds
        self.width, self.height = probe.width, probe.height
        self.renditions = list(renditions)
        self.progress = 100
        self.failure_reason = ""
        self._record(
            ev.VideoReady,
            at,
            course_id=self.course_id,
            duration_seconds=probe.duration_seconds,
            renditions=[r.name for r in renditions],
        )

    def fail(self, reason: str, at: datetime) -> None:
        self._move(VideoStatus.FAILED, at, "mark the video failed")
        self.failure_reason = _trim(reason) or "unknown failure"
        self._record(ev.VideoFailed, at, course_id=self.course_id, reason=self.failure_reason)

    def delete(self, at: datetime) -> None:
        self._record(ev.VideoDeleted, at, course_id=self.course_id)

    # -- storage layout ------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return video_prefix(self.id)

    @property
    def hls_prefix(self) -> str:
        return f"{self.prefix}hls/"


def video_prefix(video_id: uuid.UUID) -> str:
    return f"videos/{video_id}/"


def upload_key(upload_id: uuid.UUID) -> str:
    return f"uploads/{upload_id}"


def source_key(video_id: uuid.UUID) -> str:
    return f"{video_prefix(video_id)}source"


def caption_key(video_id: uuid.UUID, language: str) -> str:
    return f"{video_prefix(video_id)}captions/{language}.vtt"


@dataclass(slots=True)
class VideoUpload:
    """A resumable (tus) upload in flight: how long it will be and how much has arrived."""

    id: uuid.UUID
    video_id: uuid.UUID
    length: int
    offset: int
    created_at: datetime
    expires_at: datetime
    created_by: uuid.UUID | None = None
    expected_sha256: str | None = None

    @property
    def key(self) -> str:
        return upload_key(self.id)

    @property
    def complete(self) -> bool:
        return self.offset >= self.length


@dataclass(frozen=True, slots=True)
class Caption:
    video_id: uuid.UUID
    language: str
    label: str
    storage_key: str
    size: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PlaybackPosition:
    user_id: uuid.UUID
    video_id: uuid.UUID
    position_seconds: float
    updated_at: datetime

    @classmethod
    def within(cls, user_id: uuid.UUID, video: Video, seconds: float, at: datetime) -> PlaybackPosition:
        """The position, clamped to the video's duration when it is known.

        Clamped, not refused: a player reports its clock, which at the end of a video may run
        a frame past the duration the probe measured; refusing would fail the last save of every
        video watched to the end. A position past the end means "at the end".
        """
        duration = video.duration_seconds
        return cls(user_id, video.id, min(seconds, duration) if duration is not None else seconds, at)


# -- WebVTT ------------------------------------------------------------------------------

_TIMESTAMP = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_CUE_TIMING = re.compile(rf"^{_TIMESTAMP}[ \t]+-->[ \t]+{_TIMESTAMP}(?:[ \t]+.*)?$")
_HEADER = re.compile(r"^WEBVTT(?:[ \t].*)?$")


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _vtt_error(line: int, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid WebVTT at line {line}: {message}", [FieldError("body", f"line {line}: {message}")]
    )


def validate_webvtt(data: bytes) -> str:
    """The caption text if ``data`` is a WebVTT file we accept, else ``ValidationFailed`` naming the line.

    Checked: at most 1 MiB, UTF-8, the ``WEBVTT`` header, every cue timing line
    well formed (``[hh:]mm:ss.ttt --> [hh:]mm:ss.ttt [settings]``), each cue
    ending after it starts, and cues in order of their start times.
    """
    if len(data) > CAPTION_MAX_BYTES:
        raise ValidationFailed(
            f"the caption file is larger than {CAPTION_MAX_BYTES} bytes",
            [FieldError("body", f"must be at most {CAPTION_MAX_BYTES} bytes")],
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        raise _vtt_error(bad_line, "the file is not UTF-8 text") from None
    text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not _HEADER.match(lines[0]):
        raise _vtt_error(1, "a WebVTT file starts with the line 'WEBVTT'")
    if "\x00" in text:
        raise _vtt_error(text[: text.index("\x00")].count("\n") + 1, "NUL characters are not allowed")
    previous_start = -1.0
    cues = 0
    for number, line in enumerate(lines[1:], start=2):
        if "-->" not in line:
            continue
        match = _CUE_TIMING.match(line.strip())
        if match is None:
            raise _vtt_error(number, "a cue timing must read 'hh:mm:ss.ttt --> hh:mm:ss.ttt'")
        groups = match.groups()
        start, end = _seconds(*groups[:4]), _seconds(*groups[4:8])
        if end <= start:
            raise _vtt_error(number, "a cue must end after it starts")
        if start < previous_start:
            raise _vtt_error(number, "cues must be in order of their start times")
        previous_start = start
        cues += 1
    if cues == 0:
        raise ValidationFailed("the caption file has no cues", [FieldError("body", "must contain at least one cue")])
    return text
