"""The statement store's organization scoping (what an LRS credential writes belongs to its organization),
on the fake, SQLite and PostgreSQL: queries keep one organization's statements, ``locate`` says whose a
statement is, an id another organization holds is a conflict, and voiding stays within an organization."""

from __future__ import annotations

import uuid

import pytest

from elearning_core.analytics.ports import StatementConflict, StatementQuery
from tests.contract.test_statement_store import Clocked, backend, ids, statement, voiding

__all__ = ["backend"]  # the fixture, shared with the store's main contract suite

ORG_A, ORG_B = uuid.UUID(int=10), uuid.UUID(int=11)


async def test_queries_keep_the_organizations_asked_for(backend: Clocked) -> None:
    store = backend.store
    platform, a, b = statement(), statement(), statement()
    await store.append([platform])
    await store.append([a], organization=ORG_A)
    await store.append([b], organization=ORG_B)
    assert await ids(store) == [b.id, a.id, platform.id]
    assert await ids(store, StatementQuery(organizations=frozenset({ORG_A}))) == [a.id]
    assert await ids(store, StatementQuery(organizations=frozenset({ORG_A, ORG_B}))) == [b.id, a.id]
    assert await ids(store, StatementQuery(organizations=frozenset())) == []
    located = await store.locate(a.id)
    assert located is not None
    assert (located.statement.id, located.voided, located.organization_id) == (a.id, False, ORG_A)
    found = await store.locate(platform.id)
    assert found is not None
    assert found.organization_id is None
    assert await store.locate(uuid.uuid4()) is None


async def test_an_id_held_by_another_organization_is_a_conflict_whatever_its_content(backend: Clocked) -> None:
    store = backend.store
    a = statement()
    await store.append([a], organization=ORG_A)
    assert await store.append([a], organization=ORG_A) == []  # the same organization: a no-op
    with pytest.raises(StatementConflict) as refused:
        await store.append([a], organization=ORG_B)
    assert refused.value.ids == [a.id]
    with pytest.raises(StatementConflict):
        await store.append([a])  # nor the platform's own
    assert await ids(store, StatementQuery(organizations=frozenset({ORG_B}))) == []


async def test_voiding_stays_within_an_organization(backend: Clocked) -> None:
    store = backend.store
    a, b = statement(), statement()
    await store.append([a], organization=ORG_A)
    await store.append([b], organization=ORG_B)
    await store.append([voiding(a.id)], organization=ORG_B)  # another organization's target: nothing happens
    assert await store.get(a.id) is not None
    await store.append([voiding(b.id)], organization=ORG_B)
    assert await store.get(b.id) is None
    located = await store.locate(b.id)
    assert located is not None
    assert located.voided
    # A voiding statement that arrives before its target voids it only when both are the same organization's.
    late = statement()
    await store.append([voiding(late.id)], organization=ORG_A)
    await store.append([late], organization=ORG_A)
    assert await store.get_voided(late.id) is not None
