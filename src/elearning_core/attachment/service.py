"""Lesson attachments: course staff upload files to a lesson; whoever may read the lesson downloads them.

An upload is streamed to the object store (never held whole in memory) through ``_Inspected``, which
refuses it as soon as it passes the size limit or its first bytes are not an allowed type (sniffed, never
the client's Content-Type or extension). The stored bytes are then read back through the virus scanner;
only a clean file gets its row (``attachment.added.v1``) and becomes downloadable. An infected one is
deleted from the store and recorded (``attachment.rejected.v1``, a ``rejected`` row nobody downloads). If
the scanner gives no verdict the file is deleted and the upload refused: nothing unscanned is served.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from elearning_core.attachment.model import (
    AttachmentInfected,
    AttachmentLimitReached,
    AttachmentStatus,
    AttachmentTooLarge,
    LessonAttachment,
    UnsupportedAttachmentType,
    storage_key,
)
from elearning_core.attachment.ports import AttachmentUnitOfWork, LessonOutlines, VirusScanner
from elearning_core.attachment.sniffing import DEFAULT_ALLOWED, SNIFF_BYTES, download_name, sniff
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.course.gating import ContentGate, EnrollmentDates, find_lesson, require_open
from elearning_core.course.model import check_attachment_name
from elearning_core.course.requirements import LearnerFactsReader
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import NotFound
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Policy, Principal, require
from elearning_core.shared.storage import ObjectStore

EDIT = "course.edit"
VIEW_UNPUBLISHED = "course.view_unpublished"


@dataclass(frozen=True, slots=True)
class AttachmentConfig:
    max_bytes: int = 50 * 1024 * 1024
    max_per_lesson: int = 20
    allowed_types: frozenset[str] = DEFAULT_ALLOWED
    link_ttl: timedelta = timedelta(minutes=5)
    """How long a presigned download link lives (S3): long enough to start the download, no longer."""


@dataclass(frozen=True, slots=True)
class Download:
    attachment: LessonAttachment
    url: str | None
    """A presigned URL the client is sent to (S3); None: stream ``chunks`` (the local store)."""
    chunks: AsyncIterable[bytes] | None


class AttachmentService:
    def __init__(
        self,
        uow: Callable[[], AttachmentUnitOfWork],
        store: ObjectStore,
        scanner: VirusScanner,
        outlines: LessonOutlines,
        resources: ResourceDirectory,
        enrollments: EnrollmentDates,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        config: AttachmentConfig | None = None,
        learner_facts: LearnerFactsReader | None = None,
        access: AccessCheck | None = None,
    ) -> None:
        self._uow, self._store, self._scanner, self._outlines = uow, store, scanner, outlines
        self._resources, self._clock, self._policy, self._cursors = resources, clock, policy, cursors
        # Who may download is who may read the lesson: the course's gating, as its lesson reads decide.
        self._gate = ContentGate(outlines, enrollments, learner_facts, access)
        self.config = config or AttachmentConfig()

    # -- who may do what ---------------------------------------------------------------------

    async def _staff(self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID, permission: str) -> None:
        """Course staff with ``permission``, on a lesson of the course's draft (else NotFound)."""
        if actor.is_anonymous:
            require(self._policy, actor, permission)
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        require(self._policy, actor, permission, ref)
        draft = await self._outlines.outline(course_id)
        if draft is None:
            raise NotFound("course", course_id)
        find_lesson(draft, lesson_id)

    async def _reader(self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID) -> None:
        """Staff (any lesson of the draft), or whoever the published lesson opens to (``ContentLocked`` says why
        not); a course or lesson the caller cannot see is not found."""
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        if self._policy.authorize(actor, VIEW_UNPUBLISHED, ref).allowed:
            await self._staff(actor, course_id, lesson_id, VIEW_UNPUBLISHED)
            return
        require_open(await self._gate.lesson(course_id, lesson_id, actor.user_id, self._clock.now()), "lesson")

    @staticmethod
    async def _available(
        uow: AttachmentUnitOfWork, course_id: uuid.UUID, lesson_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> LessonAttachment:
        found = await uow.attachments.get(attachment_id)
        if (
            found is None
            or found.status is not AttachmentStatus.AVAILABLE
            or (found.course_id, found.lesson_id) != (course_id, lesson_id)
        ):
            raise NotFound("attachment", attachment_id)
        return found

    # -- use cases ---------------------------------------------------------------------------

    async def upload(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        lesson_id: uuid.UUID,
        name: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
    ) -> LessonAttachment:
        """Store, check and scan a file for the lesson (see the module's docstring for the order)."""
        await self._staff(actor, course_id, lesson_id, EDIT)
        name = check_attachment_name(name, "name")
        if declared_size is not None and declared_size > self.config.max_bytes:
            raise self._too_large()
        async with self._uow() as uow:
            await self._check_room(uow, lesson_id)
        attachment_id = new_uuid()
        key = storage_key(course_id, lesson_id, attachment_id)
        inspected = _Inspected(chunks, self.config.max_bytes, self.config.allowed_types)
        try:
            await self._store.put(key, inspected)
            verdict = await self._scanner.scan(self._store.read(key))
        except BaseException:
            with contextlib.suppress(Exception):
                await self._store.delete(key)
            raise
        fields = {
            "id": attachment_id,
            "course_id": course_id,
            "lesson_id": lesson_id,
            "name": download_name(name, inspected.media_type or ""),
            "content_type": inspected.media_type,
            "size": inspected.size,
            "sha256": inspected.sha256.hexdigest(),
            "uploaded_by": actor.user_id,
            "created_at": self._clock.now(),
        }
        try:
            async with self._uow() as uow:
                if verdict.signature is not None:
                    await uow.attachments.add(LessonAttachment.rejected(verdict.signature, **fields))
                else:
                    await self._check_room(uow, lesson_id)
                    attachment = LessonAttachment.accepted(**fields)
                    await uow.attachments.add(attachment)
                await uow.commit()
        finally:
            if verdict.signature is not None:
                await self._store.delete(key)
        if verdict.signature is not None:
            raise AttachmentInfected(verdict.signature)
        return attachment

    async def list_attachments(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        lesson_id: uuid.UUID,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[LessonAttachment]:
        """The lesson's downloadable files, oldest first, for whoever may read the lesson."""
        await self._reader(actor, course_id, lesson_id)
        limit = check_page_size(limit)
        listing = scope_of("attachments", lesson_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        async with self._uow() as uow:
            rows = await uow.attachments.list_available(lesson_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda a: [str(a.id)])

    async def download(
        self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> Download:
        await self._reader(actor, course_id, lesson_id)
        async with self._uow() as uow:
            attachment = await self._available(uow, course_id, lesson_id, attachment_id)
        url = await self._store.presigned_url(
            attachment.key, self.config.link_ttl, filename=attachment.name, content_type=attachment.content_type
        )
        return Download(attachment, url, None if url else self._store.read(attachment.key))

    async def remove(
        self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> None:
        await self._staff(actor, course_id, lesson_id, EDIT)
        async with self._uow() as uow:
            attachment = await self._available(uow, course_id, lesson_id, attachment_id)
            attachment.remove(self._clock.now())
            await uow.attachments.delete(attachment)
            await uow.commit()
        await self._store.delete(attachment.key)

    # -- helpers -----------------------------------------------------------------------------

    async def _check_room(self, uow: AttachmentUnitOfWork, lesson_id: uuid.UUID) -> None:
        if await uow.attachments.count_available(lesson_id) >= self.config.max_per_lesson:
            raise AttachmentLimitReached(f"a lesson holds at most {self.config.max_per_lesson} attachments")

    def _too_large(self) -> AttachmentTooLarge:
        return AttachmentTooLarge(f"an attachment may be at most {self.config.max_bytes} bytes")


class _Inspected:
    """The upload's stream, held back until its type is known from its first ``SNIFF_BYTES`` (then refused or
    let through), counted against the size limit and hashed on the way."""

    def __init__(self, chunks: AsyncIterable[bytes], max_bytes: int, allowed: frozenset[str]) -> None:
        self._chunks, self._max, self._allowed = chunks, max_bytes, allowed
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.media_type: str | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        head = bytearray()
        async for chunk in self._chunks:
            self.size += len(chunk)
            if self.size > self._max:
                raise AttachmentTooLarge(f"an attachment may be at most {self._max} bytes")
            self.sha256.update(chunk)
            if self.media_type is None:
                head += chunk
                if len(head) < SNIFF_BYTES:
                    continue
                self._identify(bytes(head))
                chunk, head = bytes(head), bytearray()
            if chunk:
                yield chunk
        if self.media_type is None:
            self._identify(bytes(head))
            if head:
                yield bytes(head)

    def _identify(self, head: bytes) -> None:
        if not head:
            raise UnsupportedAttachmentType("the file is empty")
        kind = sniff(head)
        if kind is None or kind not in self._allowed:
            shown = kind or "not a recognised type"
            raise UnsupportedAttachmentType(
                f"the file's content is {shown}; allowed: {', '.join(sorted(self._allowed))}"
            )
        self.media_type = kind
