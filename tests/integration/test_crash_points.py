"""Crash points across the event backbone: whatever dies where, the effects equal the committed state.

A Hypothesis state machine drives the real pieces on a real SQLite file (a
fresh database per example): writes go through the platform's
``CourseService`` and ``SqlUnitOfWork`` (state and outbox rows in one
transaction), ``OutboxRelay.relay_once()`` claims rows and hands them to a
scripted publisher that appends to an in-memory broker log (two partitions,
keyed by aggregate), and a consumer walks that log from its committed offset
through the real ``EventDispatcher`` (inbox dedupe, retries), whose handler
writes an effect row and a projection of the courses in the connection the
dispatcher passes.

A crash is a ``Crash`` raised where the process would die: a BaseException,
so no ``except Exception`` of the code under test handles it (no release, no
retry); only context managers unwind, and the uncommitted transaction they
drop is rolled back, as the database does for a connection whose process
died (a crash in a statement or a COMMIT drops its connection, see ``_die``).
Then a new process starts (a fresh platform: pool, locks, dispatcher) on the
same database file and broker. Crash points: in a write, before any of its
statements or in its commit; in the relay before, during or after
publishing, or in the commit that marks the claim; in the handler's
transaction or its commit; between the handler's commit and the offset
commit. Failures that are not crashes run the code's own paths: writes the
domain refuses, a broker that refuses a batch (the relay releases the
claim), a handler failing a few attempts, a consumer stopped while retrying.

One rule draws the steps (a write, a relay round, a consumer session, a
drain); the ``step`` docstring says why it is not a rule per actor.

After every step: the outbox holds exactly the events of the committed
writes, in commit order; no event of a rolled-back write exists anywhere;
the log holds only committed events and every published row is in it; every
effect is there once, with its inbox row, in each aggregate's commit order;
a committed offset covers only handled messages. After a drain (a step, and
at the end of every example): nothing is left unpublished, every committed
event has its effect, and the projection the effects built equals the
courses as committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import hypothesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from elearning_adapters import Settings, bootstrap
from elearning_adapters.events.dispatch import EventDispatcher, Outcome
from elearning_adapters.kafka.producer import envelope_for
from elearning_adapters.sql.course import course_lessons, course_sections, courses
from elearning_adapters.sql.inbox import inbox
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.outbox_store import OutboxRecord
from elearning_core.course import events as ev
from elearning_core.course.commands import (
    AddLesson,
    AddSection,
    CourseRef,
    CourseSpec,
    CreateCourse,
    LessonSpec,
    RemoveSection,
    SectionSpec,
    UpdateCourse,
)
from elearning_core.course.model import Course, CourseStatus
from elearning_core.shared.envelope import EventEnvelope, decode
from elearning_core.shared.errors import Conflict, DomainError, NotFound, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from elearning_workers.relay import OutboxRelay
from tests.conftest import migrated_sqlite

T = TypeVar("T")

PARTITIONS = 2
PRODUCER = "crash-points"
CONSUMER = "crash-points-projector"
MAX_ATTEMPTS = 3
COURSE_EVENT_TYPES = sorted(
    cls.type
    for cls in vars(ev).values()
    if isinstance(cls, type) and issubclass(cls, DomainEvent) and cls is not DomainEvent
)


class Crash(BaseException):
    """The process dies here (see the module docstring)."""


class Refused(Exception):
    """The broker refused the batch: the relay's own failure path (release the claim, count the attempt)."""


class HandlerFailed(Exception):
    """A transient handler failure: the dispatcher rolls back and retries."""


# -- the broker --------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes  # the envelope as the relay's producer would send it; the consumer decodes it
    event_id: uuid.UUID  # the test's bookkeeping


class Broker:
    """An in-memory log, partitioned by key, and one consumer group's committed offsets."""

    def __init__(self) -> None:
        self.partitions: list[list[Message]] = [[] for _ in range(PARTITIONS)]
        self.committed = [0] * PARTITIONS
        self._keys: dict[bytes, int] = {}

    def partition_of(self, key: bytes) -> int:
        """Keys take turns as they first appear: ids are random, and partitions hashed from them would make
        a replayed example (Hypothesis replays and shrinks) take another course."""
        return self._keys.setdefault(key, len(self._keys) % PARTITIONS)

    def append(self, record: OutboxRecord) -> None:
        key = record.message_key.encode()
        message = Message(key, envelope_for(record, PRODUCER).to_json(), record.event_id)
        self.partitions[self.partition_of(key)].append(message)

    def event_ids(self) -> set[uuid.UUID]:
        return {m.event_id for p in self.partitions for m in p}


class PublishPlan(enum.Enum):
    DELIVER = "deliver"  # every message acknowledged; the relay marks the claim
    REFUSED = "refused"  # nothing delivered, the publisher raises: the relay releases the claim
    PARTLY_REFUSED = "partly refused"  # a prefix delivered, then it raises: released, the prefix comes again
    CRASH_BEFORE_PUBLISH = "crash before publish"
    CRASH_MID_PUBLISH = "crash mid publish"  # a prefix delivered, then the process dies
    CRASH_AFTER_PUBLISH = "crash after publish"  # all delivered, the process dies before marking
    CRASH_AT_MARK_COMMIT = "crash at mark commit"  # all delivered and marked; dies in the claim's commit


RELEASED = {PublishPlan.REFUSED, PublishPlan.PARTLY_REFUSED}
DIES_IN_PUBLISH = {PublishPlan.CRASH_BEFORE_PUBLISH, PublishPlan.CRASH_MID_PUBLISH, PublishPlan.CRASH_AFTER_PUBLISH}


class ScriptedPublisher:
    """The relay's ``EventPublisher``: appends to the broker log, failing where the plan says."""

    def __init__(self, broker: Broker, plan: PublishPlan, cut: int) -> None:
        self._broker, self._plan, self._cut = broker, plan, cut
        self.claimed: list[OutboxRecord] | None = None

    async def publish(self, records: Sequence[OutboxRecord]) -> None:
        self.claimed = list(records)
        plan = self._plan
        if plan in (PublishPlan.PARTLY_REFUSED, PublishPlan.CRASH_MID_PUBLISH):
            deliver = self._cut % len(records)
        elif plan in (PublishPlan.REFUSED, PublishPlan.CRASH_BEFORE_PUBLISH):
            deliver = 0
        else:
            deliver = len(records)
        for record in records[:deliver]:
            self._broker.append(record)
        if plan in RELEASED:
            raise Refused(f"broker refused after {deliver} of {len(records)}")
        if plan in DIES_IN_PUBLISH:
            raise Crash(plan.value)


class ConsumerCrash(enum.Enum):
    NONE = "none"
    TRANSIENT_FAILURES = "handler fails, then succeeds"
    STOP_WHILE_RETRYING = "stopped while retrying"  # ABANDONED: left uncommitted, comes again
    CRASH_IN_HANDLER = "crash in the handler's transaction"  # the effect was written, not committed
    CRASH_AT_HANDLER_COMMIT = "crash in the handler's commit"
    CRASH_BEFORE_OFFSET_COMMIT = "crash after the handler committed, before the offset commit"


# Crash points a redelivered message reaches too (the others need the handler to be called).
REACHES_DUPLICATES = {ConsumerCrash.CRASH_AT_HANDLER_COMMIT, ConsumerCrash.CRASH_BEFORE_OFFSET_COMMIT}


class WriteKind(enum.Enum):
    CREATE = "create"
    CREATE_TAKEN_SLUG = "create with a taken slug"  # Conflict
    IMPORT = "import"  # several aggregates in one transaction
    IMPORT_TAKEN_SLUG = "import with a taken slug"  # ValidationFailed, courses built in memory first
    IMPORT_TAKEN_SECTION_ID = "import reusing a section id"  # IntegrityError in the UoW's commit -> Conflict
    UPDATE = "update"
    UPDATE_STALE = "update with a stale version"  # Conflict
    ADD_SECTION = "add section"
    ADD_LESSON = "add lesson"
    REMOVE_SECTION = "remove section"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    ARCHIVE = "archive"
    DELETE = "delete"
    EDIT_MISSING = "edit a course that does not exist"  # NotFound


WRITES = [  # what usually commits; weighted towards what makes the next write possible
    WriteKind.CREATE,
    WriteKind.IMPORT,
    WriteKind.UPDATE,
    WriteKind.ADD_SECTION,
    WriteKind.ADD_LESSON,
    WriteKind.ADD_LESSON,
    WriteKind.REMOVE_SECTION,
    WriteKind.PUBLISH,
    WriteKind.UNPUBLISH,
    WriteKind.ARCHIVE,
    WriteKind.DELETE,
]
MUST_FAIL = {
    WriteKind.CREATE_TAKEN_SLUG,
    WriteKind.IMPORT_TAKEN_SLUG,
    WriteKind.IMPORT_TAKEN_SECTION_ID,
    WriteKind.UPDATE_STALE,
    WriteKind.EDIT_MISSING,
}


# -- the steps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CrashPoint:
    """Where a write's process dies: before its ``nth`` statement (BEGIN included) or in its ``nth`` COMMIT.

    Counted from 0; a point the write never reaches (it needs fewer) is simply not hit. The real unit of
    work commits once, so ``("commit", 1)`` never fires on it, but would on one that commits in two goes.
    """

    at: Literal["statement", "commit"]
    nth: int


@dataclass(frozen=True)
class Write:
    """(a) A change through the course service, its process dying at ``crash`` if given."""

    kind: WriteKind
    index: int  # picks the course (and section) it acts on
    crash: CrashPoint | None


@dataclass(frozen=True)
class Relay:
    """(b) One ``OutboxRelay.relay_once()`` round of ``batch`` rows, failing as ``plan`` says."""

    plan: PublishPlan
    batch: int
    cut: int  # where a partial publish stops


@dataclass(frozen=True)
class Consume:
    """(c) A consumer session: up to ``count`` messages of a partition from its committed offset.

    ``crash`` happens at the ``at``-th message, or at the first after it that it can hit. ``commit_each``:
    offsets committed per message (the runner's rule), else only at the end of the session (offset commits
    that failed and were retried later).
    """

    partition: int
    count: int
    crash: ConsumerCrash
    at: int
    failures: int  # TRANSIENT_FAILURES: how many attempts fail (fewer than MAX_ATTEMPTS)
    commit_each: bool


@dataclass(frozen=True)
class Drain:
    """(d) Relay and consume everything with nothing failing, then check that nothing was lost."""


Step = Write | Relay | Consume | Drain

WRITE_CRASHES = st.one_of(
    st.none(),
    st.builds(CrashPoint, at=st.just("commit"), nth=st.integers(0, 1)),
    st.none(),
    st.none(),
    st.builds(CrashPoint, at=st.just("statement"), nth=st.integers(0, 12)),
    st.none(),
)
WRITE_STEPS = st.builds(Write, kind=st.sampled_from(WRITES), index=st.integers(0, 1_000), crash=WRITE_CRASHES)
REFUSED_STEPS = st.builds(
    Write,
    kind=st.sampled_from(sorted(MUST_FAIL, key=lambda k: k.value)),
    index=st.integers(0, 1_000),
    crash=WRITE_CRASHES,
)
RELAY_STEPS = st.builds(
    Relay,
    plan=st.sampled_from([PublishPlan.DELIVER] * 3 + list(PublishPlan)),  # a relay that mostly works
    batch=st.integers(1, 6),
    cut=st.integers(0, 5),
)
CONSUME_STEPS = st.builds(
    Consume,
    partition=st.integers(0, PARTITIONS - 1),
    count=st.integers(1, 8),
    crash=st.sampled_from(ConsumerCrash),
    at=st.integers(0, 2),
    failures=st.integers(1, MAX_ATTEMPTS - 1),
    commit_each=st.booleans(),
)
_STEP_KINDS: dict[str, st.SearchStrategy[Step]] = {
    "write": WRITE_STEPS,
    "relay": RELAY_STEPS,
    "consume": CONSUME_STEPS,
    "refused": REFUSED_STEPS,
    "drain": st.just(Drain()),
}
# Weighted so the log fills and is consumed between drains (a drain clears every crash's leftovers).
STEPS = st.sampled_from(
    ["write"] * 3 + ["relay"] * 3 + ["consume", "drain", "consume", "refused"] + ["consume"] * 3
).flatmap(_STEP_KINDS.__getitem__)


# -- the machine --------------------------------------------------------------------------


class CrashPoints(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._dir = Path(tempfile.mkdtemp(prefix="crash-points-"))
        self._loop = asyncio.new_event_loop()
        self._broken = False  # a step failed: teardown then only cleans up (no second error masking the first)
        self._crash_at: CrashPoint | None = None  # where the process in hand dies (counting down)
        self._inserted: list[uuid.UUID] = []  # outbox event ids inserted by the write in progress
        self._run(self._start(first=True))
        self._run(self._create_effect_tables())
        self.broker = Broker()
        self._fail_attempts = 0
        self._crash_in_handler = False
        # The model.
        self.committed_events: list[uuid.UUID] = []  # event ids of committed writes, in commit order
        self.doomed: set[uuid.UUID] = set()  # event ids inserted by writes that did not commit
        self.effected: set[uuid.UUID] = set()  # event ids whose effect committed
        self.course_ids: list[uuid.UUID] = []  # every id ever tried: live, deleted, never committed
        self._names = itertools.count()

    # -- plumbing -------------------------------------------------------------------------

    async def _start(self, *, first: bool = False) -> None:
        """Start the process: the platform, and the consumer's dispatcher, on the example's database file."""
        path = self._dir / "crash.db"
        url = migrated_sqlite(path) if first else f"sqlite+aiosqlite:///{path}"
        self.platform = await bootstrap(
            Settings(database_url=url, cache="none"), run_migrations=False, start_keys=first
        )
        self.db = self.platform.database
        engine = self.db.engine.sync_engine
        sa_event.listen(engine, "before_execute", self._saw_statement)
        sa_event.listen(engine, "before_cursor_execute", self._on_statement)
        sa_event.listen(engine, "commit", self._on_commit)
        self.dispatcher = EventDispatcher(
            CONSUMER,
            dict.fromkeys(COURSE_EVENT_TYPES, self._handle),
            self.db,
            max_attempts=MAX_ATTEMPTS,
            initial_backoff=0.0,
            max_backoff=0.0,
        )

    async def _restart(self) -> None:
        """After a crash: a new process on the same database file and broker.

        Nothing of the dead one survives (its pool, its locks, whatever it left half-done in memory);
        only what it committed, and what it delivered to the broker.
        """
        self._crash_at = None
        dead = self.platform
        await self._start()
        await dead.aclose()

    def _run(self, aw: Awaitable[T]) -> T:
        return self._loop.run_until_complete(aw)

    @contextlib.contextmanager
    def _step(self) -> Iterator[None]:
        """Marks the machine broken if the step fails, so teardown does not pile a second error on it."""
        try:
            yield
        except BaseException:
            self._broken = True
            raise

    def _saw_statement(self, conn: Any, clause: Any, multiparams: Any, params: Any, execution_options: Any) -> None:
        if isinstance(clause, Insert) and clause.table is outbox:
            self._inserted.extend(row["event_id"] for row in (multiparams or [params]))

    def _on_statement(self, conn: Any, *_args: Any) -> None:
        self._count_down(conn, "statement")

    def _on_commit(self, conn: Any) -> None:
        self._count_down(conn, "commit")

    def _count_down(self, conn: Any, at: Literal["statement", "commit"]) -> None:
        point = self._crash_at
        if point is not None and point.at == at:
            if point.nth == 0:
                self._die(conn, "before its statement" if at == "statement" else "in its commit")
            self._crash_at = CrashPoint(at, point.nth - 1)

    def _die(self, conn: Any, where: str) -> None:
        """Die here, before the round trip reaches the database: the dead process's connection goes with it.

        Invalidating the connection closes it, so SQLite rolls its transaction back, as it does when
        a process dies. (Raising alone would not be a crash: after a failed COMMIT, SQLAlchemy hands the
        connection back to the pool with the transaction still open, a state only a live process can reach.)
        """
        self._crash_at = None
        conn.invalidate()
        raise Crash(where)

    async def _create_effect_tables(self) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE fx_effects (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id VARCHAR(36) NOT NULL,"
                    " aggregate_id VARCHAR(36) NOT NULL)"
                )
            )
            await conn.execute(
                text(
                    "CREATE TABLE fx_courses (course_id VARCHAR(36) PRIMARY KEY, title TEXT NOT NULL,"
                    " summary TEXT NOT NULL, status TEXT NOT NULL, sections INTEGER NOT NULL,"
                    " lessons INTEGER NOT NULL)"
                )
            )
            await conn.commit()

    # -- the handler: an effect row and a projection, in the dispatcher's transaction ---------

    async def _handle(self, event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert event.event_id == envelope.event_id
        await conn.execute(
            text("INSERT INTO fx_effects (event_id, aggregate_id) VALUES (:e, :a)"),
            {"e": str(event.event_id), "a": str(event.aggregate_id)},
        )
        await self._project(event, conn)
        if self._fail_attempts > 0:
            self._fail_attempts -= 1
            raise HandlerFailed(f"transient failure on {event.event_id}")
        if self._crash_in_handler:
            self._crash_in_handler = False
            raise Crash("in the handler")

    @staticmethod
    async def _project(event: DomainEvent, conn: AsyncConnection) -> None:
        course = {"c": str(event.aggregate_id)}

        async def change(assignments: str, **values: Any) -> None:
            result = await conn.execute(
                text(f"UPDATE fx_courses SET {assignments} WHERE course_id = :c"), {**course, **values}
            )
            assert result.rowcount == 1, f"{event.type} for a course the projection does not have"

        match event:
            case ev.CourseCreated():
                await conn.execute(
                    text(
                        "INSERT INTO fx_courses VALUES (:c, :title, '', :status, 0, 0)",
                    ),
                    {**course, "title": event.title, "status": CourseStatus.DRAFT.value},
                )
            case ev.CourseDetailsChanged():
                for name in ("title", "summary"):
                    if name in event.changes:
                        await change(f"{name} = :v", v=event.changes[name])
            case ev.SectionAdded():
                await change("sections = sections + 1")
            case ev.SectionRemoved():
                await change("sections = sections - 1, lessons = lessons - :n", n=len(event.lesson_ids))
            case ev.LessonAdded():
                await change("lessons = lessons + 1")
            case ev.LessonRemoved():
                await change("lessons = lessons - 1")
            case ev.CoursePublished():
                await change("status = :s", s=CourseStatus.PUBLISHED.value)
            case ev.CourseUnpublished():
                await change("status = :s", s=CourseStatus.DRAFT.value)
            case ev.CourseArchived():
                await change("status = :s", s=CourseStatus.ARCHIVED.value)
            case ev.CourseDeleted():
                await conn.execute(text("DELETE FROM fx_courses WHERE course_id = :c"), course)

    # -- reading the database ------------------------------------------------------------

    async def _outbox(self, *columns: Any) -> list[Any]:
        """Outbox rows in ``id`` order: every column, or the given ones."""
        async with self.db.read() as conn:
            query = select(*columns) if columns else select(outbox)
            return list((await conn.execute(query.order_by(outbox.c.id))).all())

    async def _effects(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(event id, aggregate id) of every effect row, in the order they were committed."""
        async with self.db.read() as conn:
            rows = (await conn.execute(text("SELECT event_id, aggregate_id FROM fx_effects ORDER BY seq"))).all()
        return [(uuid.UUID(e), uuid.UUID(a)) for e, a in rows]

    async def _inbox(self) -> set[uuid.UUID]:
        async with self.db.read() as conn:
            return set((await conn.execute(select(inbox.c.event_id).where(inbox.c.consumer == CONSUMER))).scalars())

    async def _courses_state(self) -> dict[uuid.UUID, tuple[Any, ...]]:
        """Each committed course: (version, status, title, summary, section ids, lesson ids)."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        courses.c.id,
                        courses.c.version,
                        courses.c.status,
                        courses.c.title,
                        courses.c.summary,
                        courses.c.draft_details,
                    )
                )
            ).all()
            sections = (await conn.execute(select(course_sections.c.course_id, course_sections.c.id))).all()
            lessons = (await conn.execute(select(course_lessons.c.course_id, course_lessons.c.id))).all()
        # The events describe the draft: while a course is published its row lists the published
        # version's title and summary, and the draft's are in draft_details.
        return {
            cid: (
                version,
                status,
                (draft or {}).get("title", title),
                (draft or {}).get("summary", summary),
                frozenset(s for c, s in sections if c == cid),
                frozenset(lesson for c, lesson in lessons if c == cid),
            )
            for cid, version, status, title, summary, draft in rows
        }

    async def _projection(self) -> dict[uuid.UUID, tuple[Any, ...]]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(text("SELECT course_id, status, title, summary, sections, lessons FROM fx_courses"))
            ).all()
        return {uuid.UUID(r[0]): tuple(r[1:]) for r in rows}

    async def _sections_of(self, course_id: uuid.UUID) -> list[uuid.UUID]:
        async with self.db.read() as conn:
            query = (
                select(course_sections.c.id)
                .where(course_sections.c.course_id == course_id)
                .order_by(course_sections.c.position)
            )
            return list((await conn.execute(query)).scalars())

    async def _max_outbox_id(self) -> int:
        async with self.db.read() as conn:
            return int((await conn.execute(select(func.coalesce(func.max(outbox.c.id), 0)))).scalar_one())

    # -- (a) writes through the platform's service ------------------------------------------

    def _pick(self, index: int, live: dict[uuid.UUID, tuple[Any, ...]]) -> uuid.UUID | None:
        ids = [c for c in self.course_ids if c in live]
        return ids[index % len(ids)] if ids else None

    async def _write_op(
        self, kind: WriteKind, index: int, live: dict[uuid.UUID, tuple[Any, ...]]
    ) -> Callable[[], Awaitable[object]] | None:
        """The service call for ``kind`` on a course of ``live`` chosen by ``index`` (None: nothing to act on)."""
        svc = self.platform.courses
        target = self._pick(index, live)
        n = next(self._names)
        if kind is WriteKind.CREATE:
            return lambda: svc.create(SYSTEM, CreateCourse(title=f"Course {n}"))
        if kind is WriteKind.EDIT_MISSING:
            missing = uuid.uuid4()
            return lambda: svc.add_section(SYSTEM, AddSection(course_id=missing, title="Nowhere"))
        if kind in (WriteKind.IMPORT, WriteKind.IMPORT_TAKEN_SLUG, WriteKind.IMPORT_TAKEN_SECTION_ID):
            specs = [self._spec(n, i, published=(index + i) % 3 == 0) for i in range(1 + index % 2)]
            if kind is not WriteKind.IMPORT:
                if target is None:
                    return None
                async with self.db.read() as conn:
                    slug = (await conn.execute(select(courses.c.slug).where(courses.c.id == target))).scalar_one()
                section_ids = await self._sections_of(target)
                if kind is WriteKind.IMPORT_TAKEN_SECTION_ID:
                    if not section_ids:
                        return None
                    specs.append(
                        CourseSpec(
                            id=uuid.uuid4(),
                            slug=f"clash-{n}",
                            title=f"Clash {n}",
                            sections=[SectionSpec(id=section_ids[0], title="Taken")],
                        )
                    )
                else:
                    specs.append(CourseSpec(id=uuid.uuid4(), slug=slug, title=f"Clash {n}"))
            self.course_ids.extend(s.id for s in specs if s.id is not None)
            return lambda: svc.import_courses(SYSTEM, specs)
        if target is None:
            return None
        version = live[target][0]
        sections = await self._sections_of(target)
        match kind:
            case WriteKind.CREATE_TAKEN_SLUG:
                async with self.db.read() as conn:
                    slug = (await conn.execute(select(courses.c.slug).where(courses.c.id == target))).scalar_one()
                return lambda: svc.create(SYSTEM, CreateCourse(title=f"Course {n}", slug=slug))
            case WriteKind.UPDATE:
                cmd = UpdateCourse(course_id=target, summary=f"summary {n}", expected_version=version)
                return lambda: svc.update(SYSTEM, cmd)
            case WriteKind.UPDATE_STALE:
                cmd = UpdateCourse(course_id=target, summary=f"summary {n}", expected_version=version + 1)
                return lambda: svc.update(SYSTEM, cmd)
            case WriteKind.ADD_SECTION:
                return lambda: svc.add_section(SYSTEM, AddSection(course_id=target, title=f"Section {n}"))
            case WriteKind.ADD_LESSON:
                if not sections:
                    return None
                section = sections[index % len(sections)]
                cmd_lesson = AddLesson(course_id=target, section_id=section, title=f"Lesson {n}")
                return lambda: svc.add_lesson(SYSTEM, cmd_lesson)
            case WriteKind.REMOVE_SECTION:
                if not sections:
                    return None
                cmd_remove = RemoveSection(course_id=target, section_id=sections[index % len(sections)])
                return lambda: svc.remove_section(SYSTEM, cmd_remove)
            case WriteKind.PUBLISH:
                return lambda: svc.publish(SYSTEM, CourseRef(course_id=target))
            case WriteKind.UNPUBLISH:
                return lambda: svc.unpublish(SYSTEM, CourseRef(course_id=target))
            case WriteKind.ARCHIVE:
                return lambda: svc.archive(SYSTEM, CourseRef(course_id=target))
            case WriteKind.DELETE:
                return lambda: svc.delete(SYSTEM, CourseRef(course_id=target))
        raise AssertionError(f"unhandled write kind {kind}")

    @staticmethod
    def _spec(n: int, i: int, *, published: bool) -> CourseSpec:
        lessons = [LessonSpec(title="One"), LessonSpec(title="Two")][: 1 + (n + i) % 2]
        return CourseSpec(
            id=uuid.uuid4(),
            slug=f"imported-{n}-{i}",
            title=f"Imported {n} {i}",
            status=CourseStatus.PUBLISHED if published else CourseStatus.DRAFT,
            sections=[SectionSpec(title="Basics", lessons=lessons)],
        )

    @initialize(courses=st.integers(1, 3))
    def some_courses(self, courses: int) -> None:
        """Committed courses with a lesson each, their events pending: every kind of step has something to act on."""
        with self._step():
            for _ in range(courses):
                self._run(self._write(WriteKind.IMPORT, 0, crash=None))

    @rule(step=STEPS)
    def step(self, step: Step) -> None:
        """One step of one actor: a write, a relay round, a consumer session; now and then a drain.

        One rule drawing the actor rather than a rule per actor: Hypothesis's swarm testing turns
        rules off per example, and at this budget most examples would then miss the writer, the
        relay or the consumer, and with them the interplay the crash points are about.
        """
        with self._step():
            match step:
                case Write():
                    self._run(self._write(step.kind, step.index, step.crash))
                case Relay():
                    self._run(self._relay(step.plan, step.batch, step.cut))
                case Consume():
                    behind = [p for p in range(PARTITIONS) if self.broker.committed[p] < len(self.broker.partitions[p])]
                    if behind:
                        partition = behind[step.partition % len(behind)]
                        self._run(
                            self._consume(
                                partition, step.count, step.crash, step.at, step.failures, commit_each=step.commit_each
                            )
                        )
                case Drain():
                    self._run(self._drain_and_check())

    async def _write(self, kind: WriteKind, index: int, crash: CrashPoint | None) -> None:
        before_state = await self._courses_state()
        op = await self._write_op(kind, index, before_state)
        if op is None:
            return
        before_max = await self._max_outbox_id()
        self._inserted = []
        self._crash_at = crash
        error: BaseException | None = None
        try:
            result = await op()
            if kind is WriteKind.CREATE:
                assert isinstance(result, Course)
                self.course_ids.append(result.id)
        except Crash as exc:
            error = exc
        except DomainError as exc:
            error = exc
        finally:
            self._crash_at = None
        if isinstance(error, Crash):
            await self._restart()
        inserted, self._inserted = self._inserted, []
        new_rows = [r for r in await self._outbox(outbox.c.id, outbox.c.event_id) if r.id > before_max]
        if error is None:
            assert kind not in MUST_FAIL, f"{kind.value} should have been refused"
            assert [r.event_id for r in new_rows] == inserted, "the committed outbox rows are not the write's"
            assert inserted, f"a committed {kind.value} recorded no event"
            self.committed_events.extend(inserted)
            hypothesis.event(f"write: {kind.value} committed")
            return
        # Refused or crashed: nothing of it may be anywhere, now or later.
        hypothesis.event(f"write: {kind.value} {'crashed' if isinstance(error, Crash) else 'refused'}")
        if isinstance(error, Crash):
            assert crash is not None, "crashed without a crash point"
            hypothesis.event(
                f"write: died in {crash.at} {crash.nth}, {'after' if inserted else 'before'} its outbox insert"
            )
        else:
            assert isinstance(error, Conflict | NotFound | ValidationFailed), error
        assert new_rows == [], f"a failed {kind.value} ({error!r}) left outbox rows"
        assert await self._courses_state() == before_state, f"a failed {kind.value} ({error!r}) changed state"
        self.doomed.update(inserted)

    # -- (b) the relay ---------------------------------------------------------------------

    async def _relay(self, plan: PublishPlan, batch: int, cut: int) -> None:
        before = await self._outbox()
        pending = [r for r in before if r.published_at is None]
        claim = [r.id for r in pending[:batch]]
        publisher = ScriptedPublisher(self.broker, plan, cut)
        relay = OutboxRelay(self.db, publisher, batch_size=batch, max_backoff=0.01, initial_backoff=0.01)
        if plan is PublishPlan.CRASH_AT_MARK_COMMIT and pending:
            self._crash_at = CrashPoint("commit", 0)
        outcome: BaseException | int
        try:
            outcome = await relay.relay_once()
        except (Crash, Refused) as exc:
            outcome = exc
        finally:
            self._crash_at = None
        if isinstance(outcome, Crash):
            await self._restart()
        after = {r.id: r for r in await self._outbox()}
        untouched = [r for r in before if r.id not in claim]
        assert [after[r.id] for r in untouched] == untouched, "the relay touched rows it did not claim"
        if not pending:
            assert outcome == 0, outcome
            assert publisher.claimed is None, "an idle relay published"
            hypothesis.event("relay: nothing pending")
            return
        hypothesis.event(f"relay: {plan.value}")
        assert publisher.claimed is not None
        assert [r.id for r in publisher.claimed] == claim, "the claim is not the oldest pending rows in id order"
        claimed_before = [r for r in before if r.id in claim]
        if plan is PublishPlan.DELIVER:
            assert outcome == len(claim), outcome
            for row in claimed_before:
                assert after[row.id].published_at is not None, "a delivered row was not marked published"
                assert after[row.id].attempts == row.attempts + 1, "the delivery was not counted"
        elif plan in RELEASED:
            assert isinstance(outcome, Refused), outcome
            for row in claimed_before:
                assert after[row.id].published_at is None, "a refused row was marked published"
                assert after[row.id].attempts == row.attempts + 1, "the failed attempt was not counted"
                assert "Refused" in (after[row.id].last_error or ""), "the failed attempt's error was not kept"
        else:
            assert isinstance(outcome, Crash), outcome
            after_claim = [after[r.id] for r in claimed_before]
            assert after_claim == claimed_before, "a dead relay left changes to its claim behind"

    # -- (c) the consumer ------------------------------------------------------------------

    async def _consume(
        self,
        partition: int,
        count: int,
        crash: ConsumerCrash = ConsumerCrash.NONE,
        at: int = -1,
        failures: int = 0,
        *,
        commit_each: bool = True,
    ) -> None:
        """Handle up to ``count`` messages from the committed offset, as a (re)started consumer does.

        ``commit_each``: the offset is committed after every message (the runner's rule); otherwise only
        at the end of the step (offset commits that failed and were retried later).
        """
        log = self.broker.partitions[partition]
        start = position = self.broker.committed[partition]
        stop = False

        async def sleep(_seconds: float) -> bool:
            return stop

        pending = crash  # fires once, at the ``at``-th message or the first after it where it can take effect
        for offset in range(start, min(len(log), start + count)):
            message = log[offset]
            event_id = decode(message.value).event_id
            had = event_id in self.effected
            here = ConsumerCrash.NONE
            if offset - start >= at and (not had or pending in REACHES_DUPLICATES):
                here, pending = pending, ConsumerCrash.NONE
            self._fail_attempts = {
                ConsumerCrash.TRANSIENT_FAILURES: failures,
                ConsumerCrash.STOP_WHILE_RETRYING: 1,
            }.get(here, 0)
            stop = here is ConsumerCrash.STOP_WHILE_RETRYING
            self._crash_in_handler = here is ConsumerCrash.CRASH_IN_HANDLER
            if here is ConsumerCrash.CRASH_AT_HANDLER_COMMIT:
                self._crash_at = CrashPoint("commit", 0)
            try:
                result = await self.dispatcher.dispatch(message.value, where=f"p{partition}@{offset}", sleep=sleep)
            except Crash:
                await self._restart()
                hypothesis.event(f"consume: {here.value}")
                assert here in (ConsumerCrash.CRASH_IN_HANDLER, ConsumerCrash.CRASH_AT_HANDLER_COMMIT)
                counts = Counter(e for e, _ in await self._effects())
                assert counts[event_id] == (1 if had else 0), "a crashed handler's effect survived"
                break  # dead: no offset committed from here
            finally:
                self._fail_attempts, self._crash_in_handler, self._crash_at = 0, False, None
            hypothesis.event(f"consume: {here.value} -> {result.outcome.value}")
            if had:
                assert result.outcome is Outcome.DUPLICATE, result
                assert result.attempts == 1, result
            elif here is ConsumerCrash.STOP_WHILE_RETRYING:
                assert result.outcome is Outcome.ABANDONED, result
                # A graceful stop: what was handled before is committed; this message comes again.
                self.broker.committed[partition] = position
                break
            else:
                expected_attempts = failures + 1 if here is ConsumerCrash.TRANSIENT_FAILURES else 1
                assert result.outcome is Outcome.HANDLED, result
                assert result.attempts == expected_attempts, result
                self.effected.add(event_id)
            if here is ConsumerCrash.CRASH_BEFORE_OFFSET_COMMIT:
                await self._restart()
                break  # the handler committed; the offset did not
            position = offset + 1
            if commit_each:
                self.broker.committed[partition] = position
        else:
            self.broker.committed[partition] = position

    # -- (d) drain -------------------------------------------------------------------------

    async def _drain_and_check(self) -> None:
        """Relay and consume everything with nothing failing; then every committed event has its one effect."""
        for _ in range(10_000):
            publisher = ScriptedPublisher(self.broker, PublishPlan.DELIVER, 0)
            if await OutboxRelay(self.db, publisher, batch_size=50).relay_once() == 0:
                break
        for partition, log in enumerate(self.broker.partitions):
            await self._consume(partition, len(log) - self.broker.committed[partition] + 1)
            assert self.broker.committed[partition] == len(log), "a drain left messages unconsumed"
        rows = await self._outbox()
        assert all(r.published_at is not None for r in rows), "rows left unpublished after a drain"
        effects = await self._effects()
        assert {e for e, _ in effects} == set(self.committed_events), "lost (or invented) effects after a drain"
        self._check_order(rows, effects, complete=True)
        state = await self._courses_state()
        expected = {
            cid: (status, title, summary, len(sections), len(lessons))
            for cid, (_v, status, title, summary, sections, lessons) in state.items()
        }
        assert await self._projection() == expected, "the effects do not add up to the committed courses"

    @staticmethod
    def _check_order(rows: list[Any], effects: list[tuple[uuid.UUID, uuid.UUID]], *, complete: bool) -> None:
        """Per aggregate, the effects are its committed events in commit order (a prefix until drained)."""
        committed: dict[uuid.UUID, list[uuid.UUID]] = {}
        for row in rows:
            committed.setdefault(uuid.UUID(row.message_key), []).append(row.event_id)
        done: dict[uuid.UUID, list[uuid.UUID]] = {}
        for event_id, aggregate in effects:
            done.setdefault(aggregate, []).append(event_id)
        for aggregate, seen in done.items():
            expected = committed.get(aggregate, [])
            assert seen == expected[: len(seen)], f"effects of {aggregate} out of commit order"
        if complete:
            assert done == committed, "an aggregate's effects are not all its committed events"

    # -- after every step ------------------------------------------------------------------

    @invariant()
    def effects_follow_committed_state(self) -> None:
        with self._step():
            self._run(self._check())

    async def _check(self) -> None:
        rows = await self._outbox(outbox.c.id, outbox.c.event_id, outbox.c.message_key, outbox.c.published_at)
        outbox_ids = [r.event_id for r in rows]
        assert outbox_ids == self.committed_events, "the outbox is not the committed writes' events in order"
        logged = self.broker.event_ids()
        assert logged <= set(outbox_ids), "the log carries an event no write committed"
        published = {r.event_id for r in rows if r.published_at is not None}
        assert published <= logged, "marked published, never delivered"
        effects = await self._effects()
        counts = Counter(e for e, _ in effects)
        assert [e for e, c in counts.items() if c > 1] == [], "an event took effect twice"
        assert set(counts) == self.effected == await self._inbox(), "effects and inbox disagree"
        assert not (self.doomed & (set(outbox_ids) | logged | set(counts))), "a rolled-back write left an event"
        self._check_order(rows, effects, complete=False)
        for partition, log in enumerate(self.broker.partitions):
            committed = log[: self.broker.committed[partition]]
            assert all(m.event_id in counts for m in committed), "an offset committed before its effect"

    def teardown(self) -> None:
        try:
            if not self._broken:
                self._run(self._drain_and_check())
        finally:
            try:
                self._run(self.platform.aclose())
                self._run(self._loop.shutdown_asyncgens())
                self._run(self._loop.shutdown_default_executor())
            finally:
                self._loop.close()
                shutil.rmtree(self._dir, ignore_errors=True)


CrashPoints.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCrashPoints = CrashPoints.TestCase
