"""The ``search`` subscription: the index as a projection of course, lesson, offer and discussion events.

Every handler recomputes the documents of the course or thread the event names from the source
tables, in the handler's transaction (with its inbox row), so a handler is idempotent by itself and
the order of redelivered events does not matter. A batch refreshes each course and thread it names
once. ``reindex`` walks every course and thread (the shared rebuild walk, a progress bar in the CLI)
writing fresh rows in place, then drops the rows of the reindexed kinds it did not write: queries
answer throughout, from the old row until the new one commits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.course.events
import elearning_core.discussion.events
import elearning_core.entitlement.events  # noqa: F401
from elearning_adapters.events.dispatch import Handler
from elearning_adapters.events.subscriptions import Subscription
from elearning_adapters.search.documents import (
    COURSE_KINDS,
    course_documents,
    courses_documents,
    thread_document,
    threads_documents,
)
from elearning_adapters.sql.course import courses
from elearning_adapters.sql.discussion._tables import discussion_threads
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.rebuild import SqlKeysetSource
from elearning_adapters.sql.search import SqlSearchEngine
from elearning_core.search.model import DocumentKind
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent, registered_event_types
from elearning_core.shared.rebuild import Progress
from elearning_core.shared.rebuild import rebuild as shared_rebuild

SEARCH = "search"
THREAD_TYPES = (
    "discussion.thread_created.v1",
    "discussion.reply_posted.v1",
    "discussion.post_edited.v1",
    "discussion.post_hidden.v1",
    "discussion.post_restored.v1",
)
OFFER_TYPES = ("entitlement.offer_changed.v1",)


async def refresh_course(
    conn: AsyncConnection, engine: SqlSearchEngine, course_id: uuid.UUID, kinds: Sequence[DocumentKind] = COURSE_KINDS
) -> int:
    docs = [d for d in await course_documents(conn, course_id) if d.kind in kinds]
    writer = engine.writer(conn)
    await writer.delete_course(str(course_id), list(kinds), keep=[d.key for d in docs])
    await writer.upsert(docs)
    return len(docs)


async def refresh_thread(conn: AsyncConnection, engine: SqlSearchEngine, thread_id: uuid.UUID) -> int:
    doc = await thread_document(conn, thread_id)
    writer = engine.writer(conn)
    if doc is None:
        await writer.delete([f"{DocumentKind.THREAD.value}:{thread_id}"])
        return 0
    await writer.upsert([doc])
    return 1


def _target(event: DomainEvent) -> tuple[str, uuid.UUID]:
    if event.type in THREAD_TYPES:
        return "thread", getattr(event, "thread_id")  # noqa: B009
    if event.type in OFFER_TYPES:
        return "course", getattr(event, "course_id")  # noqa: B009
    return "course", event.aggregate_id


def search_subscription(engine: SqlSearchEngine) -> Subscription:
    async def refresh(targets: Sequence[tuple[str, uuid.UUID]], conn: AsyncConnection) -> None:
        for what, ident in dict.fromkeys(targets):
            if what == "thread":
                await refresh_thread(conn, engine, ident)
            else:
                await refresh_course(conn, engine, ident)

    async def handle(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await refresh([_target(event)], conn)

    async def handle_batch(items: Sequence[tuple[DomainEvent, EventEnvelope]], conn: AsyncConnection) -> None:
        await refresh([_target(event) for event, _ in items], conn)

    known = set(registered_event_types())
    types = [t for t in known if t.startswith("course.")] + [t for t in (*THREAD_TYPES, *OFFER_TYPES) if t in known]
    handlers: dict[str, Handler] = dict.fromkeys(sorted(types), handle)
    return Subscription(
        name=SEARCH,
        description="keeps the search index fresh: courses and their lessons on course and offer events, "
        "threads on discussion events",
        handlers=handlers,
        batch_handler=handle_batch,
    )


def _id(row: Row[Any]) -> uuid.UUID:
    value: uuid.UUID = row[0]
    return value


class _Pipeline:
    """Up to ``width`` chunks written at once, each in its own transaction (PostgreSQL computes the
    ``tsvector``s of one on each core); progress counts the facts of the chunks written, not started."""

    def __init__(self, width: int, progress: Progress | None) -> None:
        self._slots = asyncio.Semaphore(width)
        self._tasks: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None
        self._progress, self._done, self._total = progress, 0, 0

    def progress(self, _started: int, total: int) -> None:
        self._total = total
        if self._progress is not None and self._done == 0:
            self._progress(0, total)

    async def submit(self, ids: Sequence[uuid.UUID], write: Callable[[Sequence[uuid.UUID]], Awaitable[None]]) -> None:
        await self._slots.acquire()
        if self._error is not None:
            self._slots.release()
            await self.finish()

        async def run() -> None:
            try:
                await write(ids)
            except BaseException as exc:
                self._error = self._error or exc
                raise
            finally:
                self._slots.release()
            self._done += len(ids)
            if self._progress is not None:
                self._progress(self._done, max(self._total, self._done))

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self) -> None:
        """Wait for the chunks in flight; a failure is raised (what the others wrote stays: run it again)."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._error is not None:
            raise self._error


async def reindex(
    db: Database,
    engine: SqlSearchEngine,
    kinds: Sequence[DocumentKind] = tuple(DocumentKind),
    *,
    progress: Progress | None = None,
    chunk_size: int = 100,
    width: int | None = None,
) -> dict[str, int]:
    """Rebuild the documents of ``kinds`` online; returns how many documents each kind holds after.

    A chunk of courses (or threads) is read and written in one transaction; queries answer from the old
    rows until it commits. ``width`` chunks are written at once (two on PostgreSQL, one on SQLite, whose
    single writer would only queue them). Documents that went away (a lesson removed) are dropped at the
    end with every other row the walk did not write."""
    started: datetime = engine.now()
    width = width or (1 if db.is_sqlite else 2)
    course_kinds = [k for k in kinds if k in COURSE_KINDS]
    if course_kinds:
        source = SqlKeysetSource(db, select(courses.c.id), key=[courses.c.id], fact=_id)

        async def write_courses(ids: Sequence[uuid.UUID]) -> None:
            async with db.write() as conn, conn.begin():
                found = await courses_documents(conn, ids)
                docs = [d for course_docs in found.values() for d in course_docs if d.kind in course_kinds]
                await engine.writer(conn).upsert(docs)

        pipeline = _Pipeline(width, progress)

        async def apply_courses(ids: Sequence[uuid.UUID]) -> None:
            await pipeline.submit(ids, write_courses)

        await shared_rebuild(source, apply_courses, chunk_size=chunk_size, progress=pipeline.progress)
        await pipeline.finish()
    if DocumentKind.THREAD in kinds:
        t = discussion_threads
        threads = SqlKeysetSource(db, select(t.c.id), key=[t.c.id], fact=_id)

        async def write_threads(ids: Sequence[uuid.UUID]) -> None:
            async with db.write() as conn, conn.begin():
                found = await threads_documents(conn, ids)
                await engine.writer(conn).upsert([d for d in found.values() if d is not None])

        pipeline = _Pipeline(width, progress)

        async def apply_threads(ids: Sequence[uuid.UUID]) -> None:
            await pipeline.submit(ids, write_threads)

        await shared_rebuild(threads, apply_threads, chunk_size=chunk_size * 5, progress=pipeline.progress)
        await pipeline.finish()
    await engine.delete_stale(list(kinds), started)
    counts = await engine.count()
    return {k.value: counts.get(k.value, 0) for k in kinds}
