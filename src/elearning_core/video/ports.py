"""What the video module needs from outside: storage for bytes, a prober and a transcoder, an
enrollment read, a playback URL signer, and its repositories."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from elearning_core.shared.ports import UnitOfWork
from elearning_core.shared.storage import ObjectStore
from elearning_core.video.model import Caption, PlaybackPosition, ProbeResult, Rendition, Rung, Video, VideoUpload


class BlobStorage(ObjectStore, Protocol):
    """The object store plus what the local pipeline still needs of a filesystem: the video pipeline's
    tus uploads write at offsets, and ffmpeg reads and writes files (``local_path``). The local adapter
    is the one that offers it; moving those callers onto the plain ``ObjectStore`` is later work.
    Keys are checked like the object store's (``..`` and absolute keys are refused).
    """

    async def write_at(self, key: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Write the stream at ``offset`` of the (possibly new) object, dropping anything after it;
        returns the new size. Bytes received before the stream broke are kept."""
        ...

    async def truncate(self, key: str, size: int) -> None: ...

    async def sha256(self, key: str) -> str:
        """Hex SHA-256 of the whole object (computed off the event loop)."""
        ...

    async def move(self, source: str, target: str) -> None:
        """Rename an object or a prefix (``a/``), replacing the target."""
        ...

    def local_path(self, key: str) -> Path: ...

    def lock(self, key: str) -> StorageLock:
        """An exclusive, non-blocking lock on ``key`` that holds across processes (one writer per upload)."""
        ...


class StorageLock(Protocol):
    def acquire(self) -> bool:
        """True when taken; False when another writer holds it."""
        ...

    def release(self) -> None: ...


class MediaError(Exception):
    """The source cannot be turned into a playable video; ``reason`` is shown to the course staff as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaProber(Protocol):
    async def probe(self, source: Path) -> ProbeResult:
        """What the source holds; ``MediaError`` when it is not a video or cannot be read."""
        ...


ProgressCallback = Callable[[float], Awaitable[None]]
"""Called with the fraction (0..1) of the source transcoded so far."""


class Transcoder(Protocol):
    async def transcode(
        self, source: Path, target: Path, probe: ProbeResult, ladder: Sequence[Rung], progress: ProgressCallback
    ) -> list[Rendition]:
        """Write the HLS ladder into ``target`` (``master.m3u8``, ``<name>/index.m3u8`` with its segments,
        ``thumbnail.jpg``); ``MediaError`` when the source breaks on the way."""
        ...


class TranscodeRun(Protocol):
    """One run of the pipeline on this host's disk: ffprobe and ffmpeg want file paths."""

    source: Path
    """The video's source as a local file."""
    output: Path
    """An empty directory for the ladder (``Transcoder.transcode``'s target)."""

    async def publish(self) -> None:
        """Put what ``output`` holds under the run's prefix in the store, replacing the previous ladder."""
        ...


class MediaWorkspace(Protocol):
    """Where the pipeline's files live while ffmpeg works: the media directory itself (local store), or a
    temporary directory of the worker's host, staged from and published to the object store (S3), so the
    worker needs no disk shared with the API."""

    def run(self, source_key: str, target_prefix: str) -> AbstractAsyncContextManager[TranscodeRun]:
        """Files for one run: the source under ``source_key`` (``ObjectNotFound`` when the store has none),
        an output published under ``target_prefix`` (``a/``); what the run left is removed on exit."""
        ...


class EnrollmentLookup(Protocol):
    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        """Whether the user holds an active or completed enrollment in the course."""
        ...

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        """When that enrollment started (relative release dates count from it); None without one."""
        ...


@dataclass(frozen=True, slots=True)
class SignedPrefix:
    token: str
    expires_at: datetime


class PlaybackSigner(Protocol):
    """Signs a storage prefix for one user until a time, as a token that goes into the media URL path."""

    def sign(self, prefix: str, user_id: uuid.UUID, expires_at: datetime) -> SignedPrefix: ...

    def verify(self, token: str, prefix: str, at: datetime) -> uuid.UUID | None:
        """The user the token was issued to, when it signs ``prefix`` and has not expired; else None."""
        ...


class VideoRepository(Protocol):
    async def get(self, video_id: uuid.UUID) -> Video | None: ...

    def add(self, video: Video) -> None: ...

    async def remove(self, video: Video) -> None: ...

    async def list(self, course_id: uuid.UUID | None, after: uuid.UUID | None, limit: int) -> builtins.list[Video]:
        """Videos in id order (of one course, or all)."""
        ...


class UploadRepository(Protocol):
    async def get(self, upload_id: uuid.UUID) -> VideoUpload | None: ...

    async def add(self, upload: VideoUpload) -> None: ...

    async def set_offset(self, upload_id: uuid.UUID, offset: int) -> None: ...

    async def delete(self, upload_id: uuid.UUID) -> None: ...

    async def of_video(self, video_id: uuid.UUID) -> builtins.list[VideoUpload]: ...


class CaptionRepository(Protocol):
    async def put(self, caption: Caption) -> bool:
        """Insert or replace; True when it was new."""
        ...

    async def get(self, video_id: uuid.UUID, language: str) -> Caption | None: ...

    async def of_video(self, video_id: uuid.UUID) -> builtins.list[Caption]: ...

    async def delete(self, video_id: uuid.UUID, language: str) -> bool: ...


class PlaybackPositionRepository(Protocol):
    async def save(self, position: PlaybackPosition) -> PlaybackPosition:
        """Upsert; a write older than the stored one loses. Returns what is stored afterwards."""
        ...

    async def get(self, user_id: uuid.UUID, video_id: uuid.UUID) -> PlaybackPosition | None: ...

    async def keep(self, positions: Sequence[PlaybackPosition]) -> None:
        """``save`` for a group of the players' heartbeats (the progress module's hot path): nothing is read
        back, a video deleted since the lesson was published is skipped rather than refused, and per learner
        and video the latest position wins."""
        ...


class VideoUnitOfWork(UnitOfWork, Protocol):
    videos: VideoRepository
    video_uploads: UploadRepository
    video_captions: CaptionRepository
    playback_positions: PlaybackPositionRepository
