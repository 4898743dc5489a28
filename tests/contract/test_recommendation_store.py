"""The ``ModelStore`` contract on the fake, SQLite and PostgreSQL: a stored model reads back exactly (order
of neighbours and popular courses kept), a replacement leaves nothing of the previous model, and every
replacement bumps the version readers reload on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from elearning_adapters.sql.recommendation import SqlModelStore
from elearning_core.recommendation.model import Model
from elearning_core.recommendation.ports import ModelStore
from tests.contract.conftest import sql_database
from tests.recommendation_fakes import InMemoryModelStore

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
A, B, C, D = (uuid.UUID(int=n) for n in range(1, 5))


@pytest.fixture(autouse=True)
def _databases_created_outside_the_event_loop(request: pytest.FixtureRequest) -> None:
    param = getattr(getattr(request.node, "callspec", None), "params", {}).get("store")
    if param == "postgres":
        request.getfixturevalue("postgres_url")
    if param == "sqlite":
        request.getfixturevalue("migrated_sqlite_file")


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ModelStore]:
    if request.param == "fake":
        yield InMemoryModelStore()
        return
    db = await sql_database(request, tmp_path)
    try:
        yield SqlModelStore(db)
    finally:
        await db.dispose()


def a_model(at: datetime = T0) -> Model[uuid.UUID]:
    return Model(
        also_taken={A: [(C, 0.75), (B, 0.5)], B: [(A, 0.5)]},
        similar={A: [(D, 0.25)], D: [(A, 0.25)]},
        popular=[(B, 3.5), (A, 2.0), (C, 0.125)],
        trained_at=at,
        interactions=7,
    )


async def test_before_training_the_model_is_empty_and_its_version_0(store: ModelStore) -> None:
    assert await store.version() == 0
    assert await store.load() == Model()


async def test_a_stored_model_reads_back_exactly(store: ModelStore) -> None:
    assert await store.replace(a_model()) == 1  # the new version: the trainer's process serves it at once
    assert await store.load() == a_model()
    assert await store.version() == 1


async def test_a_replacement_leaves_nothing_of_the_previous_model(store: ModelStore) -> None:
    await store.replace(a_model())
    smaller: Model[uuid.UUID] = Model(also_taken={C: [(D, 1.0)]}, popular=[(D, 1.0)], trained_at=T0, interactions=1)
    assert await store.replace(smaller) == 2
    assert await store.load() == smaller
    assert await store.version() == 2
