"""Video use cases: authoring (create, upload, captions), the media pipeline, and playback.

Course staff (``course.edit`` on the video's course) create videos, upload
them, reprocess them and manage captions. Whoever may watch (staff, who hold
``course.view_unpublished``, and learners with an active or completed
enrollment) gets signed playback URLs and keeps a playback position.

The pipeline (``process``) runs where the ``video-processing`` consumer runs:
it is called for ``video.upload_completed.v1`` and does its database work in
short units of work of its own, never inside a long transaction, since a
transcode can take minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from elearning_core.auth.model import ResourceRef
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.course.gating import ContentGate, PublishedOutlines, require_open
from elearning_core.course.requirements import LearnerFactsReader
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict, DomainError, FieldError, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Policy, Principal, require
from elearning_core.shared.storage import ObjectNotFound, ObjectStore
from elearning_core.video.commands import CreateVideo, SavePosition
from elearning_core.video.media import MediaFile, MediaUrlLifetime, Playback, SignedPlaylists, is_playlist
from elearning_core.video.model import (
    CAPTION_LABEL_MAX,
    Caption,
    PlaybackPosition,
    ProbeResult,
    Rendition,
    Video,
    VideoSource,
    VideoStatus,
    VideoUpload,
    caption_key,
    check_language,
    choose_ladder,
    source_key,
    validate_webvtt,
    video_prefix,
)
from elearning_core.video.ports import (
    BlobStorage,
    EnrollmentLookup,
    MediaError,
    MediaProber,
    MediaWorkspace,
    PlaybackSigner,
    Transcoder,
    VideoUnitOfWork,
)

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_VIEWER = uuid.UUID(int=0)
"""The user a service account's playback token is issued to (it has no user id of its own)."""


class UploadChecksumMismatch(DomainError):
    """The whole file's SHA-256 is not the one the client announced (tus answers 460)."""

    code = "checksum_mismatch"


@dataclass(frozen=True, slots=True)
class VideoConfig:
    max_upload_bytes: int = 5 * 1024**3
    upload_ttl: timedelta = timedelta(days=1)
    playback_ttl: timedelta = timedelta(hours=1)
    transcode_timeout_seconds: float = 3600.0
    progress_step: int = 5
    """Percent points between two progress events (and at most one per ``progress_interval_seconds``)."""
    progress_interval_seconds: float = 1.0
    media_urls: MediaUrlLifetime = field(default_factory=MediaUrlLifetime)


class VideoService:
    def __init__(
        self,
        uow: Callable[[], VideoUnitOfWork],
        storage: BlobStorage,
        media: ObjectStore,  # the source, the ladder, the captions (``storage``: local tus uploads)
        workspace: MediaWorkspace,
        resources: ResourceDirectory,
        enrollments: EnrollmentLookup,
        signer: PlaybackSigner,
        prober: MediaProber,
        transcoder: Transcoder,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        config: VideoConfig | None = None,
        outlines: PublishedOutlines | None = None,
        learner_facts: LearnerFactsReader | None = None,
        access: AccessCheck | None = None,
    ) -> None:
        self._uow, self._storage, self._resources, self._enrollments = uow, storage, resources, enrollments
        self._media, self._workspace, self._playlists = media, workspace, SignedPlaylists(media)
        # Who may watch is the course's gating decision, by the published lessons that show the video.
        # The lessons' requirements gate it too (conditional release), by the learner's facts.
        self._gate = ContentGate(outlines, enrollments, learner_facts, access)
        self._signer, self._prober, self._transcoder = signer, prober, transcoder
        self._clock, self._policy, self._cursors = clock, policy, cursors
        self.config = config or VideoConfig()

    # -- authorization -------------------------------------------------------------------

    async def _course(self, course_id: uuid.UUID) -> ResourceRef:
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        return ref

    async def _require_staff(self, actor: Principal, course_id: uuid.UUID) -> None:
        require(self._policy, actor, "course.edit", await self._course(course_id))

    async def _require_viewer(self, actor: Principal, video: Video) -> None:
        """Staff; anyone for a video a preview lesson shows; else enrolled learners once its section is released.

        The refusal says why (``ContentLocked``); a video of a course the caller cannot see is not found.
        """
        ref = await self._course(video.course_id)
        staff = self._policy.authorize(actor, "course.view_unpublished", ref).allowed
        decision = await self._gate.material(
            video.course_id, actor.user_id, self._clock.now(), staff=staff, video_id=video.id
        )
        require_open(decision, "video")

    @staticmethod
    async def _video(uow: VideoUnitOfWork, video_id: uuid.UUID) -> Video:
        video = await uow.videos.get(video_id)
        if video is None:
            raise NotFound("video", video_id)
        return video

    # -- authoring -----------------------------------------------------------------------

    async def create_video(self, actor: Principal, course_id: uuid.UUID, cmd: CreateVideo) -> Video:
        await self._require_staff(actor, course_id)
        async with self._uow() as uow:
            video = Video.create(course_id=course_id, title=cmd.title, at=self._clock.now(), created_by=actor.user_id)
            uow.videos.add(video)
            await uow.commit()
        return video

    async def get_video(self, actor: Principal, video_id: uuid.UUID) -> Video:
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
        await self._require_viewer(actor, video)
        return video

    async def list_videos(
        self,
        actor: Principal,
        course_id: uuid.UUID | None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[Video]:
        """Videos in id order (oldest first), of one course or (platform staff) of every course."""
        if course_id is None:
            require(self._policy, actor, "course.edit", None)  # every course: platform staff only
        else:
            await self._require_staff(actor, course_id)
        limit = check_page_size(limit)
        listing = scope_of("videos", course_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        async with self._uow() as uow:
            rows = await uow.videos.list(course_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda v: [str(v.id)])

    async def delete_video(self, actor: Principal, video_id: uuid.UUID) -> None:
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
            await self._require_staff(actor, video.course_id)
            uploads = await uow.video_uploads.of_video(video_id)
            video.delete(self._clock.now())
            await uow.videos.remove(video)
            await uow.commit()
        for upload in uploads:
            await self._storage.delete(upload.key)
        await self._storage.delete(video_prefix(video_id))
        await self._media.delete(video_prefix(video_id))

    # -- uploads (the tus routes call these; the bytes go straight to storage) -------------

    async def start_upload(
        self, actor: Principal, video_id: uuid.UUID, length: int, expected_sha256: str | None = None
    ) -> VideoUpload:
        if length < 1 or length > self.config.max_upload_bytes:
            raise ValidationFailed(
                "the upload length is out of range",
                [FieldError("Upload-Length", f"must be 1 to {self.config.max_upload_bytes} bytes")],
            )
        if expected_sha256 is not None and (
            len(expected_sha256) != 64 or any(c not in "0123456789abcdef" for c in expected_sha256)
        ):
            raise ValidationFailed("checksum must be a hex SHA-256", [FieldError("checksum", "must be 64 hex digits")])
        now = self._clock.now()
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
            await self._require_staff(actor, video.course_id)
            stale = await uow.video_uploads.of_video(video_id)
            for old in stale:
                await uow.video_uploads.delete(old.id)
            video.start_upload(now)
            upload = VideoUpload(
                id=new_uuid(),
                video_id=video_id,
                length=length,
                offset=0,
                created_at=now,
                expires_at=now + self.config.upload_ttl,
                created_by=actor.user_id,
                expected_sha256=expected_sha256,
            )
            await uow.video_uploads.add(upload)
            await uow.commit()
        for old in stale:  # one upload per video: a new one abandons the previous
            await self._storage.delete(old.key)
        return upload

    async def upload_for(self, actor: Principal, upload_id: uuid.UUID) -> VideoUpload:
        """The upload, when it is live and ``actor`` may write to it."""
        async with self._uow() as uow:
            upload = await uow.video_uploads.get(upload_id)
            video = None if upload is None else await uow.videos.get(upload.video_id)
        if upload is None or video is None or upload.expires_at <= self._clock.now():
            raise NotFound("upload", upload_id)
        await self._require_staff(actor, video.course_id)
        return upload

    async def record_offset(self, upload_id: uuid.UUID, offset: int) -> None:
        async with self._uow() as uow:
            await uow.video_uploads.set_offset(upload_id, offset)
            await uow.commit()

    async def complete_upload(self, upload_id: uuid.UUID, stored: VideoSource | None = None) -> Video:
        """All bytes are in: check the announced checksum, keep the file as the source, start processing.

        ``stored``: the source the object-store upload path already assembled (``uploads.StoredUploads``);
        else the local upload file is checked and moved into place. On a checksum mismatch the local file
        is deleted here, a ``stored`` source by its caller."""
        async with self._uow() as uow:
            upload = await uow.video_uploads.get(upload_id)
            if upload is None:
                raise NotFound("upload", upload_id)
            video = await self._video(uow, upload.video_id)
            if video.status is not VideoStatus.UPLOADING:
                raise Conflict(f"the upload cannot complete: the video is {video.status.value}")
            size = stored.size if stored is not None else await self._storage.size(upload.key)
            if size != upload.length:
                raise Conflict(f"the upload holds {size} of {upload.length} bytes")
            digest = stored.sha256 if stored is not None else await self._storage.sha256(upload.key)
            now = self._clock.now()
            if upload.expected_sha256 is not None and digest != upload.expected_sha256:
                await uow.video_uploads.delete(upload.id)
                video.fail(
                    f"upload checksum mismatch: the file's SHA-256 is {digest}, the client announced "
                    f"{upload.expected_sha256}",
                    now,
                )
                await uow.commit()
                if stored is None:
                    await self._storage.delete(upload.key)
                raise UploadChecksumMismatch("the uploaded file does not match the checksum announced at creation")
            key = source_key(video.id)
            if stored is None:
                await self._storage.move(upload.key, key)
            # The upload row stays (complete) until it expires or the next upload, so HEAD still answers.
            await uow.video_uploads.set_offset(upload.id, upload.length)
            video.complete_upload(VideoSource(key, size, digest), now)
            await uow.commit()
        return video

    async def terminate_upload(self, actor: Principal, upload_id: uuid.UUID) -> None:
        upload = await self.upload_for(actor, upload_id)
        async with self._uow() as uow:
            await uow.video_uploads.delete(upload.id)
            video = await uow.videos.get(upload.video_id)
            if video is not None:
                video.cancel_upload(self._clock.now())
            await uow.commit()
        await self._storage.delete(upload.key)

    async def reprocess(self, actor: Principal, video_id: uuid.UUID) -> Video:
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
            await self._require_staff(actor, video.course_id)
            video.reprocess(self._clock.now())
            await uow.commit()
        return video

    # -- the pipeline --------------------------------------------------------------------

    async def process(self, video_id: uuid.UUID) -> VideoStatus | None:
        """Probe and transcode the video's source into its HLS ladder; ``ready`` or ``failed`` with the reason.

        Idempotent: a video no longer processing (a redelivered or stale event) is left alone, and a
        run replaces the output of any earlier one. Returns the status it left, None when it did nothing.
        """
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
        if video is None or video.status is not VideoStatus.PROCESSING or video.source is None:
            return None
        run = video.processing_started_at
        progress = _ProgressReporter(self, video_id, run)
        try:
            async with self._workspace.run(video.source.key, video.hls_prefix) as files:
                async with asyncio.timeout(self.config.transcode_timeout_seconds):
                    probe = await self._prober.probe(files.source)
                    renditions = await self._transcoder.transcode(
                        files.source, files.output, probe, choose_ladder(probe.height), progress
                    )
                await files.publish()
        except MediaError as exc:
            return await self._finish(video_id, run, failure=exc.reason)
        except ObjectNotFound:
            return await self._finish(video_id, run, failure="the source is missing from the store")
        except TimeoutError:
            limit = self.config.transcode_timeout_seconds
            return await self._finish(video_id, run, failure=f"processing timed out after {limit:g} seconds")
        return await self._finish(video_id, run, probe=probe, renditions=renditions)

    async def _finish(
        self,
        video_id: uuid.UUID,
        run: datetime | None,
        *,
        failure: str | None = None,
        probe: ProbeResult | None = None,
        renditions: list[Rendition] | None = None,
    ) -> VideoStatus | None:
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
            if video is None or video.status is not VideoStatus.PROCESSING or video.processing_started_at != run:
                log.info("video %s changed while it was processed; this run's result is dropped", video_id)
                return None
            if failure is not None:
                video.fail(failure, self._clock.now())
            else:
                assert probe is not None
                assert renditions is not None
                video.mark_ready(probe, renditions, self._clock.now())
            await uow.commit()
            return video.status

    async def report_progress(self, video_id: uuid.UUID, run: datetime | None, percent: int) -> None:
        async with self._uow() as uow:
            video = await uow.videos.get(video_id)
            if video is None or video.processing_started_at != run:
                return
            if video.report_progress(percent, self._clock.now()):
                await uow.commit()

    # -- captions ------------------------------------------------------------------------

    async def put_caption(
        self, actor: Principal, video_id: uuid.UUID, language: str, data: bytes, label: str | None = None
    ) -> tuple[Caption, bool]:
        language = check_language(language)
        label = " ".join((label or language).split())[:CAPTION_LABEL_MAX] or language
        text = validate_webvtt(data)
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
            await self._require_staff(actor, video.course_id)
            key = caption_key(video_id, language)
            encoded = text.encode()
            size = await self._media.put(key, _one(encoded))
            caption = Caption(video_id, language, label, key, size, self._clock.now())
            created = await uow.video_captions.put(caption)
            await uow.commit()
        return caption, created

    async def list_captions(
        self, actor: Principal, video_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Caption]:
        """The video's captions by language (one per language: read whole, paged here)."""
        limit = check_page_size(limit)
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
            captions = await uow.video_captions.of_video(video_id)
        await self._require_viewer(actor, video)
        return self._cursors.slice(scope_of("captions", video_id), captions, cursor, limit, lambda c: [c.language])

    async def delete_caption(self, actor: Principal, video_id: uuid.UUID, language: str) -> None:
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
            await self._require_staff(actor, video.course_id)
            if not await uow.video_captions.delete(video_id, language):
                raise NotFound("caption", language)
            await uow.commit()
        await self._media.delete(caption_key(video_id, language))

    # -- playback ------------------------------------------------------------------------

    async def playback(self, actor: Principal, video_id: uuid.UUID) -> Playback:
        """A signed, expiring grant to the video's HLS files and captions, for those who may watch."""
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
            captions = await uow.video_captions.of_video(video_id)
        await self._require_viewer(actor, video)
        if video.status is not VideoStatus.READY:
            raise Conflict(f"the video is not ready to play: it is {video.status.value}")
        viewer = actor.user_id or SERVICE_ACCOUNT_VIEWER
        signed = self._signer.sign(video.prefix, viewer, self._clock.now() + self.config.playback_ttl)
        lifetime = self.config.media_urls.of(video.duration_seconds)
        thumbnail = await self._media.presigned_url(f"{video.hls_prefix}thumbnail.jpg", lifetime)
        urls = {c.language: await self._media.presigned_url(c.storage_key, lifetime) for c in captions}
        return Playback(video, signed, captions, thumbnail, {k: url for k, url in urls.items() if url is not None})

    async def media_file(self, token: str, video_id: uuid.UUID, path: str) -> MediaFile:
        """What a signed media URL names: with a store that has URLs of its own (S3), a playlist rewritten with
        them, or a redirect to the file's (no segment byte passes through the API); locally, the file itself."""
        key = self.media_key(token, video_id, path)
        if not is_playlist(key):
            return MediaFile(key, redirect=await self._media.presigned_url(key, self.config.media_urls.of(None)))
        if await self._media.presigned_url(key) is None:
            return MediaFile(key)
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
        try:
            playlist = await self._playlists.get(key, video, self._clock.now(), self.config.media_urls)
        except ObjectNotFound:
            raise NotFound("media file", path) from None
        return MediaFile(key, playlist=playlist)

    def media_key(self, token: str, video_id: uuid.UUID, path: str) -> str:
        """The storage key a signed media URL names; ``PermissionDenied`` when the token does not grant it."""
        prefix = video_prefix(video_id)
        if self._signer.verify(token, prefix, self._clock.now()) is None:
            raise PermissionDenied("fetch this media", "the playback URL is invalid or has expired")
        parts = path.split("/")
        if parts[0] not in ("hls", "captions") or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise NotFound("media file", path)
        return prefix + path

    async def save_position(self, actor: Principal, video_id: uuid.UUID, cmd: SavePosition) -> PlaybackPosition:
        """Keep where the viewer is; a position past the end is kept as the end (``PlaybackPosition.within``)."""
        user_id, video = await self._viewer(actor, video_id)
        position = PlaybackPosition.within(user_id, video, cmd.position_seconds, self._clock.now())
        async with self._uow() as uow:
            stored = await uow.playback_positions.save(position)
            await uow.commit()
        return stored

    async def get_position(self, actor: Principal, video_id: uuid.UUID) -> PlaybackPosition:
        user_id, _ = await self._viewer(actor, video_id)
        async with self._uow() as uow:
            stored = await uow.playback_positions.get(user_id, video_id)
        return stored or PlaybackPosition(user_id, video_id, 0.0, self._clock.now())

    async def _viewer(self, actor: Principal, video_id: uuid.UUID) -> tuple[uuid.UUID, Video]:
        async with self._uow() as uow:
            video = await self._video(uow, video_id)
        await self._require_viewer(actor, video)
        if actor.user_id is None:
            raise PermissionDenied("keep a playback position", "only a user's sign-in has one")
        return actor.user_id, video


class _ProgressReporter:
    """Turns the transcoder's fractions into progress events: every few percent, at most once a second."""

    def __init__(self, service: VideoService, video_id: uuid.UUID, run: datetime | None) -> None:
        self._service, self._video_id, self._run = service, video_id, run
        self._last_percent = 0
        self._last_at = 0.0

    async def __call__(self, fraction: float) -> None:
        percent = int(max(0.0, min(0.99, fraction)) * 100)
        config = self._service.config
        now = time.monotonic()
        if (
            percent - self._last_percent < config.progress_step
            or now - self._last_at < config.progress_interval_seconds
        ):
            return
        self._last_percent, self._last_at = percent, now
        try:
            await self._service.report_progress(self._video_id, self._run, percent)
        except Exception:  # progress is informative: a failed write must not fail the transcode
            log.warning("could not record progress of video %s", self._video_id, exc_info=True)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
