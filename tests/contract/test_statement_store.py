"""The statement store's contract (idempotent appends, conflicts, voiding, the queries of
``GET /xapi/statements`` and their pages in stored order), on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.analytics import SqlStatementStore, StatementWriter
from elearning_core.analytics import vocabulary as v
from elearning_core.analytics.model import Account, Activity, Agent, Context, Statement, StatementRef, Verb
from elearning_core.analytics.ports import InvalidVoiding, StatementConflict, StatementQuery, StatementStore
from elearning_core.shared.clock import FixedClock
from tests.analytics_fakes import InMemoryStatementStore
from tests.contract.conftest import sql_database
from tests.fakes import T0

HOME = "https://learn.example.org"
ANN, BOB = uuid.UUID(int=1), uuid.UUID(int=2)
ENROLLMENT = uuid.UUID(int=3)
COURSE = f"{HOME}/xapi/activities/course/1"
LESSON = f"{HOME}/xapi/activities/lesson/2"


def agent(user: uuid.UUID) -> Agent:
    return Agent(account=Account(home_page=HOME, name=str(user)))


def statement(
    user: uuid.UUID = ANN,
    verb: v.VerbTerm = v.EXPERIENCED,
    activity: str = LESSON,
    registration: uuid.UUID | None = None,
    ident: uuid.UUID | None = None,
) -> Statement:
    return Statement(
        id=ident or uuid.uuid4(),
        actor=agent(user),
        verb=Verb.of(verb),
        object=Activity(id=activity),
        context=Context(registration=registration) if registration else None,
        timestamp=T0,
    )


def voiding(target: uuid.UUID) -> Statement:
    return Statement(
        id=uuid.uuid4(), actor=agent(BOB), verb=Verb.of(v.VOIDED), object=StatementRef(id=target), timestamp=T0
    )


class Clocked:
    def __init__(self, store: StatementStore, clock: FixedClock) -> None:
        self.store, self.clock = store, clock


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Clocked]:
    clock = FixedClock(T0)
    if request.param == "fake":
        yield Clocked(InMemoryStatementStore(clock), clock)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield Clocked(SqlStatementStore(db, clock), clock)
    finally:
        await db.dispose()


async def ids(store: StatementStore, query: StatementQuery = StatementQuery(), limit: int = 100) -> list[uuid.UUID]:
    return [s.statement.id for s in await store.query(query, after=None, limit=limit)]


async def test_append_stores_sets_stored_and_get_returns_it(backend: Clocked) -> None:
    first = statement(registration=ENROLLMENT)
    assert await backend.store.append([first]) == [first.id]
    got = await backend.store.get(first.id)
    assert got is not None
    assert got.stored == T0
    assert got.model_copy(update={"stored": None}) == first
    assert await backend.store.get(uuid.uuid4()) is None
    assert await backend.store.get_voided(first.id) is None


async def test_the_same_statement_again_is_a_no_op(backend: Clocked) -> None:
    first = statement()
    await backend.store.append([first])
    backend.clock.advance(timedelta(minutes=1))
    assert await backend.store.append([first, first]) == []
    assert await ids(backend.store) == [first.id]
    got = await backend.store.get(first.id)
    assert got is not None
    assert got.stored == T0


async def test_a_reused_id_with_other_content_is_a_conflict_and_writes_nothing(backend: Clocked) -> None:
    first = statement()
    await backend.store.append([first])
    other = statement(verb=v.COMPLETED, ident=first.id)
    fresh = statement()
    with pytest.raises(StatementConflict) as raised:
        await backend.store.append([fresh, other])
    assert raised.value.ids == [first.id]
    assert await ids(backend.store) == [first.id]  # the batch is refused whole
    with pytest.raises(StatementConflict):
        await backend.store.append([fresh, statement(verb=v.COMPLETED, ident=fresh.id)])  # inside one batch


async def test_a_batch_larger_than_one_insert_page_is_stored_whole(backend: Clocked) -> None:
    batch = [statement() for _ in range(1_500)]
    assert await backend.store.append(batch) == [s.id for s in batch]
    assert await ids(backend.store, StatementQuery(ascending=True), limit=2_000) == [s.id for s in batch]
    assert await backend.store.append(batch[700:900]) == []


async def test_queries_filter_by_agent_verb_activity_registration(backend: Clocked) -> None:
    a = statement(ANN, v.EXPERIENCED, LESSON, ENROLLMENT)
    b = statement(ANN, v.COMPLETED, COURSE)
    c = statement(BOB, v.EXPERIENCED, LESSON)
    await backend.store.append([a, b, c])
    store = backend.store
    assert await ids(store) == [c.id, b.id, a.id]  # newest first, as xAPI answers
    assert await ids(store, StatementQuery(ascending=True)) == [a.id, b.id, c.id]
    assert await ids(store, StatementQuery(agent=agent(ANN).key())) == [b.id, a.id]
    assert await ids(store, StatementQuery(verb=v.EXPERIENCED.id)) == [c.id, a.id]
    assert await ids(store, StatementQuery(activity=COURSE)) == [b.id]
    assert await ids(store, StatementQuery(registration=ENROLLMENT)) == [a.id]
    assert await ids(store, StatementQuery(agent=agent(BOB).key(), verb=v.COMPLETED.id)) == []


async def test_since_and_until_bound_the_stored_time(backend: Clocked) -> None:
    early = statement()
    await backend.store.append([early])
    backend.clock.advance(timedelta(hours=1))
    late = statement()
    await backend.store.append([late])
    store = backend.store
    assert await ids(store, StatementQuery(since=T0)) == [late.id]  # since is exclusive
    assert await ids(store, StatementQuery(until=T0)) == [early.id]  # until is inclusive
    assert await ids(store, StatementQuery(since=T0 - timedelta(seconds=1), until=T0 + timedelta(hours=2))) == [
        late.id,
        early.id,
    ]


async def test_pages_follow_stored_order_both_ways(backend: Clocked) -> None:
    written = [statement() for _ in range(7)]
    for s in written:
        await backend.store.append([s])
    for ascending in (True, False):
        expected = [s.id for s in (written if ascending else reversed(written))]
        seen: list[uuid.UUID] = []
        after: int | None = None
        for _ in range(10):
            page = await backend.store.query(StatementQuery(ascending=ascending), after=after, limit=3)
            seen += [s.statement.id for s in page]
            if len(page) < 3:
                break
            after = page[-1].seq
        assert seen == expected


async def test_voiding_hides_the_target_from_queries_but_keeps_it_retrievable(backend: Clocked) -> None:
    target, kept = statement(), statement()
    await backend.store.append([target, kept])
    void = voiding(target.id)
    assert await backend.store.append([void]) == [void.id]
    assert await backend.store.get(target.id) is None
    voided = await backend.store.get_voided(target.id)
    assert voided is not None
    assert voided.id == target.id
    assert await ids(backend.store) == [void.id, kept.id]  # the voiding statement is listed, its target not
    assert await ids(backend.store, StatementQuery(activity=LESSON)) == [kept.id]


async def test_a_target_arriving_after_its_voiding_statement_is_voided(backend: Clocked) -> None:
    target = statement()
    await backend.store.append([voiding(target.id)])
    await backend.store.append([target])
    assert await backend.store.get(target.id) is None
    assert await backend.store.get_voided(target.id) is not None


async def test_a_voiding_statement_cannot_be_voided(backend: Clocked) -> None:
    void = voiding(statement().id)
    await backend.store.append([void])
    with pytest.raises(InvalidVoiding):
        await backend.store.append([voiding(void.id)])
    assert await backend.store.get(void.id) is not None


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_the_projection_writer_inserts_once_by_id(backend: Clocked) -> None:
    """The projection's path: one multi-row insert; ids already stored are left alone."""
    store = backend.store
    assert isinstance(store, SqlStatementStore)
    first, second = statement(), statement()
    async with store._db.write() as conn, conn.begin():
        await StatementWriter(conn).insert_new([first, second, first], T0)
    async with store._db.write() as conn, conn.begin():
        await StatementWriter(conn).insert_new([second, statement(ident=first.id, verb=v.COMPLETED)], T0)
    assert sorted(await ids(store)) == sorted([first.id, second.id])
    got = await store.get(first.id)
    assert got is not None
    assert got.verb.id == v.EXPERIENCED.id


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_the_projection_writer_voids_a_target_stored_after_its_voiding_statement(backend: Clocked) -> None:
    store = backend.store
    assert isinstance(store, SqlStatementStore)
    target, other = statement(), statement()
    await store.append([voiding(target.id)])
    async with store._db.write() as conn, conn.begin():
        await StatementWriter(conn).insert_new([target, other], T0)
    assert await store.get(target.id) is None
    assert await store.get_voided(target.id) is not None
    assert await store.get(other.id) is not None
