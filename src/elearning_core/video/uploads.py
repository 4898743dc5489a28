"""tus uploads onto the object store, resumable through any API process.

Each PATCH appends to a multipart upload of the video's source key. S3 takes parts of at least
``MIN_PART_SIZE`` (but the last), while tus chunks come in any size, so the bytes that do not fill a part
yet are *staged*: one object per PATCH under ``upload-staging/<upload id>/<start offset>`` in the store
(never on the API's disk). When staged bytes and the incoming chunk fill a part, that part is uploaded
from the staged objects followed by the chunk's bytes. At most one part's worth of a chunk is held in
memory (``part_size``).

The upload's state (offset, multipart upload id, parts with their tags and sizes, staged pieces) lives in
the database (``UploadStates``), so the next PATCH may land on another process. A PATCH first takes the
upload's lease (a holder and an expiry in the row, committed at once): a second PATCH meanwhile is refused
(tus: 423), and a PATCH whose holder died is taken over once its lease ran out. The state is saved only
under the lease (fenced by the holder), at the end of the PATCH: a chunk refused for its checksum, or cut
short when it announced one, records nothing (parts it uploaded are replaced by the next ones of those
numbers; staged objects it wrote are overwritten or collected).

On the last byte the multipart upload is completed into the source key, the object's SHA-256 is read
back from the store, and ``VideoService.complete_upload`` starts the pipeline as for the local path.
``collect`` (the ``video-uploads-cleanup`` job) forgets expired uploads and aborts multipart uploads and
deletes staged objects older than a cut-off that no live upload holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict
from elearning_core.shared.storage import MIN_PART_SIZE, ObjectStore, UploadedPart
from elearning_core.video.model import VideoSource, VideoUpload, source_key
from elearning_core.video.service import UploadChecksumMismatch, VideoService

STAGING_PREFIX = "upload-staging/"


def staging_prefix(upload_id: uuid.UUID) -> str:
    return f"{STAGING_PREFIX}{upload_id}/"


def staged_key(upload_id: uuid.UUID, start: int) -> str:
    return f"{staging_prefix(upload_id)}{start:015d}"


@dataclass(frozen=True, slots=True)
class UploadState:
    """Where a stored upload stands: parts in the multipart upload, then staged pieces (sizes, in order)."""

    offset: int
    multipart_id: str | None = None
    parts: tuple[UploadedPart, ...] = ()
    staged: tuple[int, ...] = ()

    @property
    def parts_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    def staged_keys(self, upload_id: uuid.UUID) -> list[str]:
        keys, start = [], self.parts_bytes
        for size in self.staged:
            keys.append(staged_key(upload_id, start))
            start += size
        return keys


@dataclass(frozen=True, slots=True)
class StoredUploadRef:
    """What the clean-up needs of an upload row."""

    upload_id: uuid.UUID
    video_id: uuid.UUID
    multipart_id: str | None
    complete: bool


class UploadStates(Protocol):
    """The stored uploads' state and lease, in the upload rows (each call one short transaction)."""

    async def claim(self, upload_id: uuid.UUID, holder: str, now: datetime, until: datetime) -> UploadState | None:
        """Take the upload's lease (free, or run out before ``now``) and return its state; None when another
        holder has it (or the upload is gone)."""
        ...

    async def renew(self, upload_id: uuid.UUID, holder: str, until: datetime) -> bool: ...

    async def save(
        self, upload_id: uuid.UUID, holder: str, state: UploadState, *, stored_parts: int = 0, release: bool = False
    ) -> bool:
        """Write the state, if ``holder`` still holds the lease; False (nothing written) otherwise. The first
        ``stored_parts`` of ``state.parts`` are the ones the row already has (the claim returned them): only
        the parts after them are written, so a PATCH's save costs its own parts, not the whole upload's.
        ``release`` gives the lease up in the same transaction."""
        ...

    async def release(self, upload_id: uuid.UUID, holder: str) -> None: ...

    async def state(self, upload_id: uuid.UUID) -> UploadState | None: ...

    async def expired(self, now: datetime, limit: int) -> list[StoredUploadRef]:
        """Uploads whose ``expires_at`` has passed, at most ``limit``."""
        ...

    async def forget(self, upload_id: uuid.UUID) -> None:
        """Delete the upload row (and its parts)."""
        ...

    async def live(self, now: datetime) -> tuple[set[str], set[uuid.UUID]]:
        """The multipart upload ids and the upload ids of uploads not expired at ``now`` (the clean-up keeps
        what they hold)."""
        ...


class UploadBusy(Conflict):
    """Another request holds the upload (tus: 423)."""

    code = "locked"


class OffsetMismatch(Conflict):
    """The client's ``Upload-Offset`` is not the upload's (tus: 409)."""

    code = "offset-mismatch"

    def __init__(self, claimed: int, offset: int) -> None:
        super().__init__(f"Upload-Offset {claimed} does not match the upload's offset {offset}")
        self.offset = offset


class ChunkRejected(Exception):
    """The chunk's own checksum did not match; nothing of it was recorded."""


@dataclass
class _Work:
    """A PATCH in progress: the state it started from, the parts it added, and the bytes not yet in a part."""

    upload: VideoUpload
    state: UploadState
    buffer: bytearray = field(default_factory=bytearray)
    consumed: list[str] = field(default_factory=list)
    """Staged objects now inside a part: deleted once the state that says so is saved."""
    hasher: Any = None
    """The SHA-256 of the bytes before ``state.offset`` and those taken since, when this process saw them all."""
    sending: list[asyncio.Task[UploadedPart]] = field(default_factory=list)
    """Parts being uploaded while the chunk is still read, in part-number order (``_drain`` adds them)."""
    sending_bytes: int = 0
    stored_parts: int = 0
    """How many of ``state.parts`` the upload row had when the PATCH took the lease."""
    renew_at: datetime | None = None
    """When the lease is next renewed (after a part, once half of it has passed)."""
    released: bool = False
    """The lease was given up (by the last save) or is no longer this PATCH's."""

    @property
    def staged_bytes(self) -> int:
        return sum(self.state.staged)

    @property
    def offset(self) -> int:
        return self.state.parts_bytes + self.sending_bytes + self.staged_bytes + len(self.buffer)


@dataclass(frozen=True, slots=True)
class StoredUploadConfig:
    part_size: int = MIN_PART_SIZE
    lease: timedelta = timedelta(minutes=2)
    """A PATCH renews it after a part once half of it has passed; a holder silent this long is taken over."""
    orphan_age: timedelta = timedelta(hours=25)
    """Multipart uploads and staged objects no live upload holds are collected once this old."""
    collect_batch: int = 100
    hashes_kept: int = 64
    """Uploads whose running SHA-256 a process keeps between PATCHes (else the source is read back once)."""
    parts_in_flight: int = 3
    """Parts of one PATCH uploaded at once while its body is still read (each holds a part in memory): one
    at a time, reading the client and writing the store took turns."""


class StoredUploads:
    """The tus upload path on the object store (see the module docstring)."""

    def __init__(
        self,
        store: ObjectStore,
        states: UploadStates,
        videos: VideoService,
        clock: Clock,
        config: StoredUploadConfig | None = None,
    ) -> None:
        self._store, self._states, self._videos, self._clock = store, states, videos, clock
        self.config = config or StoredUploadConfig()
        # upload id -> (offset, SHA-256 of the bytes before it): the next PATCH through this process goes on
        # hashing; one that landed elsewhere finds the offset moved on, and the completion reads the source back.
        self._hashes: OrderedDict[uuid.UUID, tuple[int, Any]] = OrderedDict()
        if self.config.part_size < MIN_PART_SIZE:
            raise ValueError(f"the part size must be at least {MIN_PART_SIZE} bytes")

    async def append(
        self,
        upload: VideoUpload,
        claimed: int,
        body: AsyncIterable[bytes],
        *,
        keep: Callable[[BaseException], bool],
        verify: Callable[[], bool] | None = None,
    ) -> int:
        """Append ``body`` at ``claimed``; returns the new offset. ``keep(exc)`` says whether the bytes that
        arrived before the body broke with ``exc`` are kept; ``verify()`` (after the body) whether the chunk
        matches its checksum (``ChunkRejected`` otherwise). ``UploadBusy``, ``OffsetMismatch``."""
        holder = uuid.uuid4().hex
        now = self._clock.now()
        state = await self._states.claim(upload.id, holder, now, now + self.config.lease)
        if state is None:
            raise UploadBusy("another request is writing to this upload; retry later")
        work = _Work(upload, state, stored_parts=len(state.parts), renew_at=now + self.config.lease / 2)
        try:
            if claimed != state.offset:
                raise OffsetMismatch(claimed, state.offset)
            if state.offset >= upload.length:
                return state.offset
            work.hasher = self._running_hash(upload.id, state.offset)
            try:
                await self._take(work, holder, body)
                await self._drain(work)
            except BaseException as exc:
                if keep(exc):
                    await self._drain(work)
                    await self._stage(work)
                    await self._save(work, holder)
                else:
                    await self._abandon(work)
                raise
            if verify is not None and not verify():
                raise ChunkRejected
            if work.offset >= upload.length:
                return await self._complete(work, holder)
            if work.staged_bytes + len(work.buffer) >= MIN_PART_SIZE:
                # Parts need not all be one size: a remainder S3 takes as a part is sent now, not staged and
                # read back by the next PATCH (a client's 8 MB chunks against 8 MiB parts staged every one).
                await self._flush(work)
                await self._drain(work)
            await self._stage(work)
            await self._save(work, holder, release=True)
            return work.offset
        finally:
            if not work.released:
                await self._states.release(upload.id, holder)

    async def _take(self, work: _Work, holder: str, body: AsyncIterable[bytes]) -> None:
        """Read the chunk into the buffer, uploading a part each time staged bytes and buffer fill one."""
        part_size = self.config.part_size
        async for chunk in body:
            view = memoryview(chunk)
            if work.hasher is not None:
                work.hasher.update(chunk)
            while view:
                room = part_size - work.staged_bytes - len(work.buffer)
                work.buffer += view[:room]
                view = view[room:]
                if work.staged_bytes + len(work.buffer) >= part_size:
                    await self._flush(work)
                    await self._renew(work, holder)

    async def _renew(self, work: _Work, holder: str) -> None:
        """Renew the lease once half of it has passed (a round trip per part bought nothing more: the save is
        fenced by the holder anyway, and a lease half gone is still far from running out)."""
        now = self._clock.now()
        if work.renew_at is not None and now < work.renew_at:
            return
        if not await self._states.renew(work.upload.id, holder, now + self.config.lease):
            raise UploadBusy("the upload's lease ran out while this chunk was written; retry")
        work.renew_at = now + self.config.lease / 2

    async def _flush(self, work: _Work) -> None:
        """The staged pieces and the buffer become the next part, sent while the chunk goes on being read
        (at most ``parts_in_flight`` at once; ``_drain`` records them in order)."""
        if len(work.sending) >= self.config.parts_in_flight:
            await self._drain(work, keep=self.config.parts_in_flight - 1)
        state = work.state
        target = source_key(work.upload.video_id)
        multipart_id = state.multipart_id or await self._store.create_multipart(target)
        keys = state.staged_keys(work.upload.id)
        number = len(state.parts) + len(work.sending) + 1
        size = sum(state.staged) + len(work.buffer)
        data = self._part_bytes(keys, bytes(work.buffer))
        work.sending.append(asyncio.ensure_future(self._store.upload_part(target, multipart_id, number, data)))
        work.sending_bytes += size
        work.consumed.extend(keys)
        work.state = replace(state, multipart_id=multipart_id, staged=())
        work.buffer = bytearray()

    async def _drain(self, work: _Work, keep: int = 0) -> None:
        """Wait for the parts in flight, oldest first, until ``keep`` are left; each becomes the state's next
        part. A part that failed fails the PATCH, and the ones after it are abandoned."""
        while len(work.sending) > keep:
            try:
                part = await work.sending[0]
            except BaseException:
                await self._abandon(work)
                raise
            work.sending.pop(0)
            work.sending_bytes -= part.size
            work.state = replace(work.state, parts=(*work.state.parts, part))

    async def _abandon(self, work: _Work) -> None:
        """Parts in flight of a PATCH that records them not: cancelled and waited for (never left running)."""
        for task in work.sending:
            task.cancel()
        await asyncio.gather(*work.sending, return_exceptions=True)
        work.sending.clear()
        work.sending_bytes = 0

    async def _part_bytes(self, keys: list[str], tail: bytes) -> AsyncIterator[bytes]:
        for key in keys:
            async for chunk in self._store.read(key):
                yield chunk
        if tail:
            yield tail

    async def _stage(self, work: _Work) -> None:
        """The buffer (bytes short of a part) becomes a staged object."""
        if not work.buffer:
            return
        start = work.state.parts_bytes + work.staged_bytes
        data = bytes(work.buffer)
        await self._store.put(staged_key(work.upload.id, start), _one(data))
        work.state = replace(work.state, staged=(*work.state.staged, len(data)))
        work.buffer = bytearray()

    def _running_hash(self, upload_id: uuid.UUID, offset: int) -> Any:
        if offset == 0:
            return hashlib.sha256()
        kept = self._hashes.get(upload_id)
        return kept[1].copy() if kept is not None and kept[0] == offset else None

    async def _save(self, work: _Work, holder: str, *, release: bool = False) -> None:
        offset = work.offset
        state = replace(work.state, offset=offset)
        if not await self._states.save(work.upload.id, holder, state, stored_parts=work.stored_parts, release=release):
            work.released = True  # the lease is someone else's: nothing to give up
            raise UploadBusy("the upload's lease ran out while this chunk was written; retry")
        work.stored_parts = len(state.parts)
        work.released = release
        self._hashes.pop(work.upload.id, None)
        if work.hasher is not None and offset < work.upload.length:
            self._hashes[work.upload.id] = (offset, work.hasher)
            while len(self._hashes) > self.config.hashes_kept:
                self._hashes.popitem(last=False)
        for key in work.consumed:
            await self._store.delete(key)

    async def _complete(self, work: _Work, holder: str) -> int:
        """The last part (any size), the multipart upload completed into the source, the pipeline started."""
        upload = work.upload
        if work.staged_bytes or work.buffer or not (work.state.parts or work.sending):
            await self._flush(work)
        await self._drain(work)
        state = work.state
        assert state.multipart_id is not None
        target = source_key(upload.video_id)
        size = await self._store.complete_multipart(target, state.multipart_id, state.parts)
        await self._save(work, holder)
        await self._store.delete(staging_prefix(upload.id))
        digest = work.hasher
        if digest is None:  # some of the bytes came through another process: read the source back
            digest = hashlib.sha256()
            async for chunk in self._store.read(target):
                digest.update(chunk)
        try:
            await self._videos.complete_upload(upload.id, VideoSource(target, size, digest.hexdigest()))
        except UploadChecksumMismatch:
            await self._store.delete(target)
            raise
        return size

    async def discard(self, upload: VideoUpload) -> None:
        """After the upload was terminated: its multipart upload and staged objects go too."""
        state = await self._states.state(upload.id)
        await self.drop(upload.id, upload.video_id, None if state is None else state.multipart_id)

    async def drop(self, upload_id: uuid.UUID, video_id: uuid.UUID, multipart_id: str | None) -> None:
        if multipart_id is not None:
            await self._store.abort_multipart(source_key(video_id), multipart_id)
        await self._store.delete(staging_prefix(upload_id))

    async def collect(self) -> str:
        """Forget expired uploads (abort their multipart upload, delete their staged objects), then abort
        multipart uploads and delete staged objects older than ``orphan_age`` that no live upload holds."""
        now = self._clock.now()
        expired = await self._states.expired(now, self.config.collect_batch)
        for ref in expired:
            await self.drop(ref.upload_id, ref.video_id, None if ref.complete else ref.multipart_id)
            await self._states.forget(ref.upload_id)
        live_parts, live_uploads = await self._states.live(now)
        cutoff = now - self.config.orphan_age
        aborted = 0
        for incomplete in await self._store.incomplete_uploads(cutoff, self.config.collect_batch):
            if incomplete.upload_id not in live_parts:
                await self._store.abort_multipart(incomplete.key, incomplete.upload_id)
                aborted += 1
        staged = await self._collect_staged(cutoff, live_uploads)
        return f"forgot {len(expired)} expired upload(s), aborted {aborted} multipart upload(s), deleted {staged} staged object(s)"

    async def _collect_staged(self, cutoff: datetime, live: set[uuid.UUID]) -> int:
        deleted, after = 0, None
        for _ in range(self.config.collect_batch):
            page = await self._store.list(STAGING_PREFIX, after)
            for item in page.items:
                owner = item.key.removeprefix(STAGING_PREFIX).split("/", 1)[0]
                if item.modified < cutoff and _uuid_or_none(owner) not in live:
                    await self._store.delete(item.key)
                    deleted += 1
            if page.next_after is None:
                break
            after = page.next_after
        return deleted


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
