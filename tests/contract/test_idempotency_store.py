"""The IdempotencyStore contract on SQLite and PostgreSQL: claim, replay, mismatch, in use, expiry, takeover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.idempotency import SqlIdempotencyStore
from elearning_core.shared.ports import ClaimOutcome, IdempotencyScope, StoredResponse
from tests.fakes import T0

TTL = timedelta(hours=24)
LOCK = timedelta(minutes=5)
KEY = IdempotencyScope("user-1", "POST /api/v1/courses/{course_id:uuid}/enrollments", "key-1")
ANSWER = StoredResponse(201, (("content-type", "application/json"),), b'{"id": "e1"}')


async def claim(store: SqlIdempotencyStore, fingerprint: str = "f1", *, at: timedelta = timedelta(0)) -> ClaimOutcome:
    return (await store.claim(KEY, fingerprint, now=T0 + at, ttl=TTL, lock=LOCK)).outcome


async def test_a_completed_key_replays_its_answer_to_the_same_request_only(database: Database) -> None:
    store = SqlIdempotencyStore(database)
    assert await claim(store) is ClaimOutcome.NEW
    assert await claim(store) is ClaimOutcome.IN_USE
    await store.complete(KEY, "f1", ANSWER)
    replay = await store.claim(KEY, "f1", now=T0, ttl=TTL, lock=LOCK)
    assert (replay.outcome, replay.response) == (ClaimOutcome.REPLAY, ANSWER)
    assert await claim(store, "another body") is ClaimOutcome.MISMATCH


async def test_keys_are_scoped_to_caller_and_route(database: Database) -> None:
    store = SqlIdempotencyStore(database)
    assert await claim(store) is ClaimOutcome.NEW
    for other in (
        IdempotencyScope("user-2", KEY.route, KEY.key),
        IdempotencyScope(KEY.caller, "PUT /elsewhere", KEY.key),
    ):
        assert (await store.claim(other, "f1", now=T0, ttl=TTL, lock=LOCK)).outcome is ClaimOutcome.NEW


async def test_a_released_key_runs_again(database: Database) -> None:
    store = SqlIdempotencyStore(database)
    assert await claim(store) is ClaimOutcome.NEW
    await store.release(KEY, "f1")
    assert await claim(store) is ClaimOutcome.NEW


async def test_an_expired_key_is_free_and_pruned(database: Database) -> None:
    store = SqlIdempotencyStore(database)
    assert await claim(store) is ClaimOutcome.NEW
    await store.complete(KEY, "f1", ANSWER)
    assert await claim(store, "another body", at=TTL) is ClaimOutcome.NEW
    assert await store.prune(T0 + TTL) == 0  # the key was renewed by the claim above
    assert await store.prune(T0 + 2 * TTL) == 1
    assert await claim(store, at=2 * TTL) is ClaimOutcome.NEW


async def test_a_key_left_by_a_request_that_died_is_taken_over_after_the_lock(database: Database) -> None:
    store = SqlIdempotencyStore(database)
    assert await claim(store) is ClaimOutcome.NEW
    assert await claim(store, at=LOCK - timedelta(seconds=1)) is ClaimOutcome.IN_USE
    assert await claim(store, at=LOCK) is ClaimOutcome.NEW
    assert await claim(store, at=LOCK) is ClaimOutcome.IN_USE


async def test_simultaneous_claims_of_one_key_let_exactly_one_run(database: Database) -> None:
    store = SqlIdempotencyStore(database)
    outcomes = await asyncio.gather(*(claim(store) for _ in range(10)))
    assert sorted(outcomes) == sorted([ClaimOutcome.NEW] + [ClaimOutcome.IN_USE] * 9)
