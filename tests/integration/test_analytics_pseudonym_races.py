"""A deletion's rewrite and the writers of statements running at the same time, on PostgreSQL (SQLite runs one
write transaction at a time): a writer that read the account as not deleted and commits after the rewrite
started is waited for, so its statement is rewritten too; batches with deletions and batches of the same
learners run in parallel without a deadlock and leave nothing under a deleted account's id; and an LRS
client's statement naming a deleted account anywhere (not only as the actor) is stored under the pseudonym."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from elearning_adapters.analytics.projection import AnalyticsProjection
from elearning_adapters.container import Platform
from elearning_adapters.sql.analytics import StatementWriter, accounts_of, lock_accounts
from elearning_adapters.sql.analytics._pseudonymise import ACCOUNT_LOCKS
from elearning_core.analytics.model import Statement
from elearning_core.analytics.pseudonyms import accounts_named
from elearning_core.identity.commands import CreateUser
from elearning_core.identity.events import UserDeleted
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from tests.integration.test_analytics_projection import BASE, drain
from tests.integration.test_analytics_pseudonyms import _two_learners, mentions, rows, viewed
from tests.integration.test_progress_projection import progress_platform
from tests.integration.test_relay import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    async with progress_platform(request, tmp_path, public_base_url=BASE) as built:
        yield built


def _statement(actor: uuid.UUID, lesson_id: uuid.UUID, **extra: Any) -> Statement:
    return Statement.from_json(
        {
            "id": str(uuid.uuid4()),
            "actor": {"account": {"homePage": BASE, "name": str(actor)}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
            "object": {"id": f"{BASE}/xapi/activities/lesson/{lesson_id}"},
            "timestamp": "2026-12-01T10:00:00Z",
            **extra,
        }
    )


async def _a_rewrite_waits(platform: Platform) -> bool:
    """Whether a transaction waits for an account's advisory lock."""
    async with platform.database.read() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :cls AND NOT granted"),
            {"cls": ACCOUNT_LOCKS},
        )
        return int(found.scalar_one()) > 0


def _held_writer(monkeypatch: pytest.MonkeyPatch, method: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the first call of ``StatementWriter.<method>`` (the write after the accounts' status was read) until
    released; later calls (the consumers') go through."""
    entered, release = asyncio.Event(), asyncio.Event()
    original = getattr(StatementWriter, method)

    async def held(self: StatementWriter, *args: Any, **kwargs: Any) -> Any:
        if not entered.is_set():
            entered.set()
            await release.wait()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(StatementWriter, method, held)
    return entered, release


async def _delete_while_held(
    platform: Platform,
    user_id: uuid.UUID,
    writer: Coroutine[Any, Any, Any],
    entered: asyncio.Event,
    release: asyncio.Event,
) -> None:
    """Run ``writer`` until it is held after its status read, delete the account and let the consumers run: their
    rewrite must wait for the account's lock while the writer is held; then release the writer, and both end."""
    writing = asyncio.create_task(writer)
    async with asyncio.timeout(20):
        await entered.wait()
    await platform.identity.delete_account(SYSTEM, user_id)
    rewriting = asyncio.create_task(drain(platform))
    await wait_until(lambda: _a_rewrite_waits(platform), "the rewrite to wait for the account's lock")
    assert not rewriting.done()
    release.set()
    await writing
    await rewriting


async def test_the_rewrite_waits_for_an_lrs_write_in_flight(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, _bob, _course, lesson_id = await _two_learners(platform)
    store = platform.container.analytics.store()
    entered, release = _held_writer(monkeypatch, "append")
    # The LRS client's POST reads ada as a live account, then stalls before its insert commits.
    posting = store.append([_statement(ada, lesson_id)], organization=uuid.uuid4())
    # The analytics consumer's rewrite waits for the POST's transaction instead of missing its statement.
    await _delete_while_held(platform, ada, posting, entered, release)
    assert not [r for r in await rows(platform) if mentions(r, str(ada))]


async def test_the_rewrite_waits_for_a_projection_batch_in_flight(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, _bob, course_id, lesson_id = await _two_learners(platform)
    ada_before = sum(r["actor"] == f"account:{BASE}|{ada}" for r in await rows(platform))
    pseudonyms = platform.container.analytics.pseudonyms()
    second = AnalyticsProjection(platform.container.analytics.mapper(), SystemClock(), pseudonyms)
    entered, release = _held_writer(monkeypatch, "insert_new")
    late = viewed(course_id, lesson_id, ada)

    async def batch_on_another_consumer() -> None:
        async with platform.database.write() as conn, conn.begin():
            await second.handle_batch([late], conn)

    await _delete_while_held(platform, ada, batch_on_another_consumer(), entered, release)
    after = await rows(platform)
    assert not [r for r in after if mentions(r, str(ada))]
    # The held batch's statement is there, under the pseudonym with the others of hers.
    assert sum(r["actor"] == f"account:{BASE}|{pseudonyms.of(ada)}" for r in after) == ada_before + 1


async def test_batches_with_deletions_run_in_parallel_without_deadlock(platform: Platform) -> None:
    ada, bob, course_id, lesson_id = await _two_learners(platform)
    pseudonyms = platform.container.analytics.pseudonyms()
    projection = AnalyticsProjection(platform.container.analytics.mapper(), SystemClock(), pseudonyms)
    learners = [ada, bob]
    for n in range(6):
        user = await platform.identity.create_user(
            SYSTEM, CreateUser(email=f"learner{n}@example.org", display_name=f"L{n}")
        )
        await platform.enrollments.enroll(SYSTEM, course_id, user.id)
        learners.append(user.id)
    await drain(platform)
    doomed = learners[::2]
    for user_id in doomed:  # their status is 'deleted'; their statements wait for the batches below
        await platform.identity.delete_account(SYSTEM, user_id)
    chance = random.Random(19)

    def batch() -> list[DomainEvent]:
        events: list[DomainEvent] = [viewed(course_id, lesson_id, chance.choice(learners)) for _ in range(6)]
        for user_id in chance.sample(doomed, 2):
            events.insert(
                chance.randrange(len(events) + 1), UserDeleted(occurred_at=SystemClock().now(), aggregate_id=user_id)
            )
        return events

    async def run(events: list[DomainEvent]) -> None:
        async with platform.database.write() as conn, conn.begin():
            await projection.handle_batch(events, conn)

    async with asyncio.timeout(60):
        for _round in range(5):
            await asyncio.gather(*(run(batch()) for _ in range(4)))  # a deadlock would raise here
    stored = await rows(platform)
    for user_id in doomed:
        assert not [r for r in stored if mentions(r, str(user_id))], user_id
    kept = {r["actor"] for r in stored}
    assert {f"account:{BASE}|{pseudonyms.of(u)}" for u in doomed} <= kept
    assert {f"account:{BASE}|{u}" for u in learners if u not in doomed} <= kept


async def test_an_lrs_statement_naming_a_deleted_account_anywhere_is_stored_under_its_pseudonym(
    platform: Platform,
) -> None:
    ada, bob, _course, lesson_id = await _two_learners(platform)
    await platform.identity.delete_account(SYSTEM, ada)
    await drain(platform)
    pseudonym = str(platform.container.analytics.pseudonyms().of(ada))
    ada_agent = {"name": "Ada Lovelace", "account": {"homePage": BASE, "name": str(ada)}}
    taught = _statement(bob, lesson_id, context={"instructor": ada_agent})
    about = Statement.from_json(
        {
            **_statement(bob, lesson_id).as_json(),
            "id": str(uuid.uuid4()),
            "object": {"objectType": "Agent", **ada_agent},
        }
    )
    assert accounts_of([taught, about], BASE) == {str(bob)}  # as actors, only bob
    assert accounts_of([taught, about], BASE, anywhere=True) == {str(ada), str(bob)}
    await platform.container.analytics.store().append([taught, about], organization=uuid.uuid4())
    stored = {r["id"]: r for r in await rows(platform)}
    for statement in (taught, about):
        row = stored[statement.id]
        assert not mentions(row, str(ada))
        assert not mentions(row, "Ada Lovelace")
        assert accounts_named(row["statement"], BASE) == {str(bob), pseudonym}
        assert row["actor"] == f"account:{BASE}|{bob}"


async def test_lock_accounts_takes_shared_and_exclusive_locks_once_each(platform: Platform) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    async with platform.database.write() as conn, conn.begin():
        await lock_accounts(conn, [a, b, a], exclusive=[b])
        held = await conn.execute(
            text(
                "SELECT mode, count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :cls "
                "AND pid = pg_backend_pid() GROUP BY mode ORDER BY mode"
            ),
            {"cls": ACCOUNT_LOCKS},
        )
        assert [tuple(r) for r in held] == [("ExclusiveLock", 1), ("ShareLock", 1)]
