"""Video events. ``video.upload_completed.v1`` is what starts the media pipeline."""

from __future__ import annotations

import uuid

from elearning_core.shared.events import DomainEvent


class VideoCreated(DomainEvent):
    type = "video.created.v1"
    course_id: uuid.UUID
    title: str


class VideoUploadCompleted(DomainEvent):
    """The source is complete in storage: the ``video-processing`` consumer transcodes it.

    ``reprocess`` is true when an administrator asked for the same source to be processed again.
    """

    type = "video.upload_completed.v1"
    course_id: uuid.UUID
    source_key: str
    size: int
    sha256: str
    reprocess: bool = False


class VideoProcessingProgress(DomainEvent):
    type = "video.processing_progress.v1"
    percent: int


class VideoReady(DomainEvent):
    type = "video.ready.v1"
    course_id: uuid.UUID
    duration_seconds: float
    renditions: list[str]


class VideoFailed(DomainEvent):
    type = "video.failed.v1"
    course_id: uuid.UUID
    reason: str


class VideoDeleted(DomainEvent):
    type = "video.deleted.v1"
    course_id: uuid.UUID
