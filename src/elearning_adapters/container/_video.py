"""The video module's wiring: media storage, playback signing, ffprobe/ffmpeg, the service and its pipeline."""

from __future__ import annotations

import functools
from datetime import timedelta

from dependency_injector import providers

from elearning_adapters.container._shared import close_store
from elearning_adapters.container._wiring import Closer, ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.media.ffmpeg import FfmpegTranscoder, FfprobeMediaProber
from elearning_adapters.media.processor import VideoProcessor, video_processing_subscription
from elearning_adapters.media.signer import HmacPlaybackSigner
from elearning_adapters.media.workspace import LocalWorkspace, StoreWorkspace
from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.upload_parts import SqlUploadStates
from elearning_adapters.storage import LocalFileStorage
from elearning_core.course.gating import PublishedOutlines
from elearning_core.course.requirements import LearnerFactsReader
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.scheduling.model import Job, Period, Schedule
from elearning_core.shared.clock import Clock
from elearning_core.shared.storage import ObjectStore
from elearning_core.video.media import MediaUrlLifetime
from elearning_core.video.ports import MediaWorkspace
from elearning_core.video.service import VideoConfig, VideoService
from elearning_core.video.uploads import StoredUploadConfig, StoredUploads

UPLOADS_CLEANUP = "video.uploads-cleanup"


def _playback_signer(settings: Settings) -> HmacPlaybackSigner:
    return HmacPlaybackSigner(settings.resolved_secret())


def _video_config(settings: Settings) -> VideoConfig:
    return VideoConfig(
        max_upload_bytes=settings.video_max_upload_bytes,
        playback_ttl=timedelta(seconds=settings.playback_url_ttl_seconds),
        transcode_timeout_seconds=settings.transcode_timeout_seconds,
        media_urls=MediaUrlLifetime(
            minimum=timedelta(seconds=settings.s3_presign_expiry_seconds),
            margin=timedelta(seconds=settings.playback_media_url_margin_seconds),
        ),
    )


def _workspace(settings: Settings, store: ObjectStore, local: LocalFileStorage) -> MediaWorkspace:
    """ffmpeg works in the media directory (local store), or stages through a temporary directory (S3)."""
    if settings.storage_backend == "local":
        return LocalWorkspace(local)
    return StoreWorkspace(store)


def _stored_uploads(
    settings: Settings, store: ObjectStore, database: Database, service: VideoService, clock: Clock
) -> StoredUploads | None:
    """The tus upload path onto the object store when one is configured; None: the local file path (write_at)."""
    if settings.storage_backend == "local":
        return None
    config = StoredUploadConfig(
        part_size=settings.s3_part_size_bytes,
        lease=timedelta(seconds=settings.upload_lease_seconds),
        orphan_age=timedelta(hours=settings.upload_orphan_hours),
    )
    return StoredUploads(store, SqlUploadStates(database), service, clock, config)


def _jobs(settings: Settings, uploads: StoredUploads | None) -> list[Job]:
    if uploads is None:
        return []

    async def cleanup(period: Period) -> str:
        del period  # by state: what has expired or is older than the cut-off now
        return await uploads.collect()

    every = Schedule(timedelta(minutes=settings.upload_cleanup_minutes))
    description = "forgets expired tus uploads; aborts abandoned multipart uploads and deletes staged pieces"
    return [Job(UPLOADS_CLEANUP, every, cleanup, description=description)]


def _processor(settings: Settings, service: providers.Provider[VideoService]) -> VideoProcessor:
    # The subscription (built early: the transport needs it) holds the processor, which needs the service,
    # which needs the unit of work, which needs the transport: the service is resolved at the first run.
    return VideoProcessor(service, settings.transcode_concurrency)


def _subscriptions(processor: VideoProcessor) -> list[Subscription]:
    return [video_processing_subscription(processor)]


def _closers(processor: VideoProcessor, store: ObjectStore) -> list[Closer]:
    """The pipeline, and the shared object store's client (its thread pool) after it: media is its main user."""
    return [processor.aclose, functools.partial(close_store, store)]


class VideoWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check (the entitlement module's wiring): paid courses open to learners with access only."""
    outlines: providers.Dependency[PublishedOutlines] = providers.Dependency()
    learner_facts: providers.Dependency[LearnerFactsReader] = providers.Dependency()
    """What learners have done (the course module's wiring picks the reader): conditional release gates material."""
    """The course module's published outlines (its catalog reads): content gating finds the lessons showing a video."""

    media_storage = shared.local_media
    playback_signer = providers.Singleton(_playback_signer, settings)
    media_prober = providers.Singleton(FfprobeMediaProber)
    transcoder = providers.Singleton(FfmpegTranscoder)
    workspace = providers.Singleton(_workspace, settings, shared.object_store, media_storage)

    service = providers.Singleton(
        VideoService,
        uow=shared.unit_of_work.provider,
        storage=media_storage,
        media=shared.object_store,
        workspace=workspace,
        resources=shared.resources,
        enrollments=shared.enrollment_lookup,
        signer=playback_signer,
        prober=media_prober,
        transcoder=transcoder,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        config=providers.Singleton(_video_config, settings),
        outlines=outlines,
        learner_facts=learner_facts,
        access=access,
    )
    processor = providers.Singleton(_processor, settings, service.provider)
    stored_uploads = providers.Singleton(
        _stored_uploads, settings, shared.object_store, shared.database, service, shared.clock
    )
    jobs = providers.Singleton(_jobs, settings, stored_uploads)

    subscriptions = providers.Singleton(_subscriptions, processor)
    closers = providers.Singleton(_closers, processor, shared.object_store)
