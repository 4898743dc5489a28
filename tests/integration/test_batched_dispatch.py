"""Batched handling (``EventDispatcher.dispatch_batch``) and the joined unit of work, on SQLite and PostgreSQL.

Handlers write effect rows through the connection that holds the batch's inbox
rows (the consumer tests' ``Effects`` table, no unique key: a second effect
would show), and the engine's commits are counted, so "one transaction per
batch" and "exactly once" are read from the database, not assumed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.events.dispatch import EventDispatcher, Handler, Outcome
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.inbox import inbox, record_processed_many
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course.model import Course
from elearning_core.shared.envelope import EventEnvelope, to_envelope
from elearning_core.shared.events import DomainEvent
from tests.fakes import T0
from tests.integration.test_consumer import CREATED, SECTION_ADDED, Effects, course_events

CONSUMER = "batched"


async def never_stopped(_seconds: float) -> bool:
    return False


def raw(event: DomainEvent) -> bytes:
    return to_envelope(event, "tests").to_json()


def origins(raws: Sequence[bytes]) -> list[str]:
    return [f"message {i}" for i in range(len(raws))]


def dispatcher(db: Database, handlers: dict[str, Handler], **options: object) -> EventDispatcher:
    settings: dict[str, object] = {"max_attempts": 3, "initial_backoff": 0.0, "max_backoff": 0.0, **options}
    return EventDispatcher(CONSUMER, handlers, db, **settings)  # type: ignore[arg-type]


@contextmanager
def counting_commits(db: Database) -> Iterator[list[int]]:
    """Counts the commits of ``db``'s engine while open (the list holds one number)."""
    count = [0]

    def on_commit(_conn: object) -> None:
        count[0] += 1

    sa_event.listen(db.engine.sync_engine, "commit", on_commit)
    try:
        yield count
    finally:
        sa_event.remove(db.engine.sync_engine, "commit", on_commit)


async def inbox_ids(db: Database) -> set[uuid.UUID]:
    async with db.read() as conn:
        return set((await conn.execute(select(inbox.c.event_id).where(inbox.c.consumer == CONSUMER))).scalars())


@pytest.fixture
async def effects(database: Database) -> Effects:
    fx = Effects(database)
    await fx.create()
    return fx


# -- the inbox, many rows at once ----------------------------------------------------------------


async def test_the_inbox_records_a_batch_in_one_insert_and_names_the_new_ids(database: Database) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with database.write() as conn, conn.begin():
        assert await record_processed_many(conn, "x", [a, b, a]) == {a, b}
        assert await record_processed_many(conn, "x", [b, c]) == {c}
        assert await record_processed_many(conn, "y", [a]) == {a}
        assert await record_processed_many(conn, "x", []) == set()
    async with database.write() as conn:
        await conn.begin()
        assert await record_processed_many(conn, "z", [a, b]) == {a, b}
        await conn.rollback()  # rolled back with the batch's effects: not recorded
    async with database.read() as conn:
        rows = (await conn.execute(select(inbox.c.consumer, func.count()).group_by(inbox.c.consumer))).all()
    assert {str(consumer): int(count) for consumer, count in rows} == {"x": 3, "y": 1}


async def test_a_batch_larger_than_one_insert_is_recorded_whole(database: Database) -> None:
    ids = [uuid.uuid4() for _ in range(700)]  # more than INSERT_CHUNK: several statements, one transaction
    async with database.write() as conn, conn.begin():
        assert await record_processed_many(conn, "x", ids) == set(ids)
        assert await record_processed_many(conn, "x", ids) == set()


# -- one transaction per batch, once per event -----------------------------------------------------


async def test_a_batch_commits_once_and_dedupes_redeliveries_inside_and_across_batches(
    database: Database, effects: Effects
) -> None:
    events = course_events(5)  # 10 events: created then section added, per course
    handlers: dict[str, Handler] = {CREATED: effects.handler, SECTION_ADDED: effects.handler}
    batched = dispatcher(database, handlers)
    first = [raw(e) for e in events] + [raw(events[0]), raw(events[3])]  # two redelivered inside the batch
    with counting_commits(database) as commits:
        results = await batched.dispatch_batch(first, where=origins(first), sleep=never_stopped)
    assert commits == [1]
    assert [r.outcome for r in results] == [Outcome.HANDLED] * 10 + [Outcome.DUPLICATE] * 2
    assert [r.envelope.event_id for r in results if r.envelope] == [e.event_id for e in events] + [
        events[0].event_id,
        events[3].event_id,
    ]
    assert (batched.stats.handled, batched.stats.duplicates, batched.stats.batches) == (10, 2, 1)

    more = course_events(2)
    second = [raw(e) for e in events[4:] + more]  # the last six again, and four new ones
    with counting_commits(database) as commits:
        results = await batched.dispatch_batch(second, where=origins(second), sleep=never_stopped)
    assert commits == [1]
    assert [r.outcome for r in results] == [Outcome.DUPLICATE] * 6 + [Outcome.HANDLED] * 4
    assert await effects.counts() == {e.event_id: 1 for e in events + more}
    assert effects.calls == {e.event_id: 1 for e in events + more}
    assert await inbox_ids(database) == {e.event_id for e in events + more}


async def test_handlers_run_in_batch_order_and_unreadable_or_unhandled_messages_do_not_spoil_the_batch(
    database: Database, effects: Effects
) -> None:
    events = course_events(2)
    order: list[uuid.UUID] = []

    async def recording(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        order.append(event.event_id)
        await effects.handler(event, envelope, conn)

    batched = dispatcher(database, {SECTION_ADDED: recording, CREATED: recording})
    envelope = to_envelope(events[0], "tests")
    unknown = envelope.model_copy(update={"event_id": uuid.uuid4(), "type": "course.teleported.v1"}).to_json()
    raws = [raw(events[0]), b"\xffnot json", raw(events[1]), unknown, raw(events[2]), raw(events[3])]
    results = await batched.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)
    assert [r.outcome for r in results] == [
        Outcome.HANDLED,
        Outcome.DEAD_LETTER,
        Outcome.HANDLED,
        Outcome.DEAD_LETTER,
        Outcome.HANDLED,
        Outcome.HANDLED,
    ]
    assert order == [e.event_id for e in events]
    assert batched.stats.failed_attempts == 0, "an unreadable message is never retried"
    assert batched.stats.batches == 1

    only_sections = dispatcher(database, {SECTION_ADDED: effects.handler}, max_attempts=1)
    later = course_events(1)
    raws = [raw(e) for e in later]
    results = await only_sections.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)
    assert [r.outcome for r in results] == [Outcome.SKIPPED, Outcome.HANDLED]
    assert (only_sections.stats.skipped, only_sections.stats.handled) == (1, 1)


# -- a poison message inside a batch --------------------------------------------------------------


@pytest.mark.parametrize("where_it_fails", ["per-event handler", "batch handler"])
async def test_a_poison_event_in_a_batch_is_dead_lettered_and_the_rest_are_handled_exactly_once(
    database: Database, effects: Effects, where_it_fails: str
) -> None:
    events = course_events(6)
    poison = events[5]  # the third course's section added: in the middle of the batch
    tries: Counter[uuid.UUID] = Counter()

    async def handler(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)  # written, then rolled back with the failure
        if event.event_id == poison.event_id:
            tries[event.event_id] += 1
            raise RuntimeError("cannot digest this")

    async def batch_handler(items: Sequence[tuple[DomainEvent, EventEnvelope]], conn: AsyncConnection) -> None:
        for event, envelope in items:
            await handler(event, envelope, conn)

    handlers: dict[str, Handler] = {CREATED: handler, SECTION_ADDED: handler}
    options: dict[str, object] = {"max_attempts": 4}
    if where_it_fails == "batch handler":
        options["batch_handler"] = batch_handler
    batched = dispatcher(database, handlers, **options)
    raws = [raw(e) for e in events]
    results = await batched.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)

    outcomes = [r.outcome for r in results]
    assert outcomes == [Outcome.HANDLED] * 5 + [Outcome.DEAD_LETTER] + [Outcome.HANDLED] * 6
    dead = results[5]
    assert (dead.attempts, str(dead.error)) == (4, "cannot digest this")
    if where_it_fails == "per-event handler":
        # The batch's try counts as the first of the four; the poison event never rides in a batch again.
        assert tries == {poison.event_id: 4}
    else:
        # A batch handler's failure names no event: the batch went one at a time, four tries there.
        assert tries == {poison.event_id: 5}
    assert batched.stats.batch_fallbacks == 1
    assert await effects.counts() == {e.event_id: 1 for e in events if e is not poison}
    assert await inbox_ids(database) == {e.event_id for e in events if e is not poison}


async def test_stopping_while_the_poison_event_is_retried_abandons_it_and_touches_nothing_after_it(
    database: Database, effects: Effects
) -> None:
    events = course_events(3)
    poison = events[2]

    async def handler(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)
        if event.event_id == poison.event_id:
            raise RuntimeError("not now")

    async def stopped(_seconds: float) -> bool:
        return True

    batched = dispatcher(database, {CREATED: handler, SECTION_ADDED: handler}, max_attempts=5)
    raws = [raw(e) for e in events]
    results = await batched.dispatch_batch(raws, where=origins(raws), sleep=stopped)
    assert [r.outcome for r in results] == [Outcome.HANDLED, Outcome.HANDLED, Outcome.ABANDONED]
    assert await effects.counts() == {events[0].event_id: 1, events[1].event_id: 1}
    assert await inbox_ids(database) == {events[0].event_id, events[1].event_id}


# -- a handler that writes set-wise ---------------------------------------------------------------


async def test_a_batch_handler_gets_the_new_events_of_a_batch_once_in_order(
    database: Database, effects: Effects
) -> None:
    events = course_events(3)
    calls: list[list[uuid.UUID]] = []

    async def batch_handler(items: Sequence[tuple[DomainEvent, EventEnvelope]], conn: AsyncConnection) -> None:
        calls.append([e.event_id for e, _ in items])
        for event, envelope in items:
            await effects.handler(event, envelope, conn)

    handlers: dict[str, Handler] = {CREATED: effects.handler, SECTION_ADDED: effects.handler}
    batched = dispatcher(database, handlers, batch_handler=batch_handler)
    raws = [raw(e) for e in events[:4]]
    await batched.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)
    raws = [raw(e) for e in events[2:]] + [raw(events[5])]
    await batched.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)
    assert calls == [[e.event_id for e in events[:4]], [e.event_id for e in events[4:]]]
    assert await effects.counts() == {e.event_id: 1 for e in events}


# -- a unit of work joined to the handler's transaction ---------------------------------------------


class CommittedEvents:
    """The after-commit hook of the joined units of work: records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        self.calls.append([e.type for e in events])


async def outbox_types(db: Database) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox.c.event_type).order_by(outbox.c.id))).scalars())


async def course_titles(db: Database) -> list[str]:
    async with db.read() as conn:
        return [str(t) for t in (await conn.exec_driver_sql("SELECT title FROM courses ORDER BY title")).scalars()]


def creating_handler(after_commit: CommittedEvents, *, fail_after: bool) -> Handler:
    """Reacts to a course event by creating a course through the domain, in a unit of work joined to ``conn``."""

    async def handler(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        async with SqlUnitOfWork.joining(conn, after_commit=after_commit) as uow:
            uow.courses.add(Course.create(title=f"Follow-up of {event.aggregate_id}", slug=None, at=T0))
            await uow.commit()
        if fail_after:
            raise RuntimeError("failed after the unit of work committed")

    return handler


async def test_a_joined_unit_of_work_commits_its_effect_and_outbox_event_with_the_inbox_rows(
    database: Database,
) -> None:
    events = course_events(2)
    hook = CommittedEvents()
    batched = dispatcher(database, {CREATED: creating_handler(hook, fail_after=False)})
    raws = [raw(e) for e in events]
    with counting_commits(database) as commits:
        results = await batched.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)
    assert commits == [1], "the joined units of work did not commit on their own"
    assert [r.outcome for r in results] == [Outcome.HANDLED, Outcome.SKIPPED] * 2
    assert await outbox_types(database) == ["course.created.v1"] * 2
    assert len(await course_titles(database)) == 2
    assert await inbox_ids(database) == {events[0].event_id, events[2].event_id}
    assert hook.calls == [["course.created.v1"], ["course.created.v1"]], "after the real commit, once each"


async def test_a_failure_after_the_joined_unit_of_work_committed_leaves_no_effect_no_event_and_no_inbox_row(
    database: Database,
) -> None:
    events = course_events(2)
    hook = CommittedEvents()
    batched = dispatcher(database, {CREATED: creating_handler(hook, fail_after=True)}, max_attempts=2)
    raws = [raw(e) for e in events]
    results = await batched.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)
    assert [r.outcome for r in results] == [Outcome.DEAD_LETTER, Outcome.SKIPPED] * 2
    assert await outbox_types(database) == []
    assert await course_titles(database) == []
    assert await inbox_ids(database) == set()
    assert hook.calls == [], "the after-commit hook ran for a transaction that rolled back"


async def test_a_joined_unit_of_work_needs_a_begun_transaction_and_undoes_only_its_own_work(database: Database) -> None:
    async with database.write() as conn:
        with pytest.raises(RuntimeError, match="transaction of its connection begun"):
            async with SqlUnitOfWork.joining(conn):
                pass
        async with conn.begin():
            async with SqlUnitOfWork.joining(conn) as kept:
                assert kept.joined
                kept.courses.add(Course.create(title="Kept", slug=None, at=T0))
                await kept.commit()
            async with SqlUnitOfWork.joining(conn) as undone:
                undone.courses.add(Course.create(title="Rolled back", slug=None, at=T0))
                await undone.courses.flush()
                await undone.rollback()
            async with SqlUnitOfWork.joining(conn) as abandoned:
                abandoned.courses.add(Course.create(title="Left without commit", slug=None, at=T0))
                await abandoned.courses.flush()
    assert await course_titles(database) == ["Kept"]
    with pytest.raises(ValueError, match="a database, or a connection"):
        SqlUnitOfWork(None)


async def test_a_batch_is_measured_in_the_batch_histograms(database: Database, effects: Effects) -> None:
    consumer = f"measured-{uuid.uuid4().hex[:8]}"
    events = course_events(3)
    measured = EventDispatcher(consumer, {CREATED: effects.handler, SECTION_ADDED: effects.handler}, database)
    raws = [raw(e) for e in events]
    await measured.dispatch_batch(raws, where=origins(raws), sleep=never_stopped)
    labels = {"consumer": consumer}
    assert REGISTRY.get_sample_value("elearning_consumer_batch_size_count", labels) == 1
    assert REGISTRY.get_sample_value("elearning_consumer_batch_size_sum", labels) == 6
    assert (REGISTRY.get_sample_value("elearning_consumer_batch_seconds_sum", labels) or 0) > 0
    assert REGISTRY.get_sample_value("elearning_consumer_messages_total", {**labels, "outcome": "handled"}) == 6
