"""Bounded work per query, on the fake, SQLite and PostgreSQL: an engine counts, facets and ranks at
most ``count_cap`` matches (1,000 by default; 3 here, so a handful of documents exercises it). Past the
cap the result says ``gte``, the total is the cap and the facets count the sampled matches; the sample
only ever holds documents the caller may read, and sorting by date samples the newest."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from elearning_adapters.sql.search import index_for
from elearning_core.search.model import (
    PUBLIC,
    DocumentKind,
    SearchQuery,
    SearchSort,
    TotalRelation,
    Visibility,
    course_members,
    parse_query,
)
from elearning_core.search.ports import SearchIndex
from elearning_core.search.service import SearchRequest, SearchService
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Principal
from tests.contract.conftest import sql_database
from tests.contract.test_search_index import EVERYONE, doc
from tests.fakes import T0, FixedClock
from tests.search_fakes import FakeSearchAudience, InMemoryQueryLog, InMemorySearchIndex, InMemorySynonyms

CAP = 3
HIDDEN = frozenset({course_members(uuid.uuid4())})


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchIndex]:
    if request.param == "fake":
        yield InMemorySearchIndex(count_cap=CAP)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield index_for(db, count_cap=CAP)
    finally:
        await db.dispose()


async def test_up_to_the_cap_the_total_is_exact(backend: SearchIndex) -> None:
    await backend.upsert([doc(f"Python {i}") for i in range(CAP)] + [doc("Rust")])
    result = await backend.search(SearchQuery(parse_query("python"), EVERYONE, facets=("kind",), limit=50))
    assert (result.total, result.total_relation) == (CAP, TotalRelation.EQ)
    assert result.facets["kind"] == {"course": CAP}


async def test_past_the_cap_the_total_is_a_lower_bound_and_facets_count_the_sample(backend: SearchIndex) -> None:
    await backend.upsert(
        [doc(f"Python course {i}", level="advanced" if i % 2 else "beginner") for i in range(4)]
        + [doc(f"Python lesson {i}", kind=DocumentKind.LESSON) for i in range(3)]
    )
    facets = ("kind", "level")
    result = await backend.search(SearchQuery(parse_query("python"), EVERYONE, facets=facets, limit=50))
    assert (result.total, result.total_relation) == (CAP, TotalRelation.GTE)
    assert len(result.hits) == CAP
    assert len({h.id for h in result.hits}) == CAP
    for facet in facets:
        assert sum(result.facets[facet].values()) == CAP, facet
    beyond = await backend.search(SearchQuery(parse_query("python"), EVERYONE, offset=CAP, limit=50))
    assert beyond.hits == []


async def test_sorting_by_date_samples_the_newest(backend: SearchIndex) -> None:
    await backend.upsert([doc(f"Course number {i}", age=i) for i in (5, 1, 4, 0, 3, 2)])
    newest = await backend.search(SearchQuery(parse_query("course"), EVERYONE, sort=SearchSort.NEWEST, limit=50))
    assert [h.title for h in newest.hits] == ["Course number 0", "Course number 1", "Course number 2"]
    assert newest.total_relation is TotalRelation.GTE
    browse = await backend.search(SearchQuery(parse_query(""), EVERYONE, limit=50))
    assert [h.title for h in browse.hits] == ["Course number 0", "Course number 1", "Course number 2"]


async def test_what_the_caller_may_not_read_never_fills_the_sample(backend: SearchIndex) -> None:
    await backend.upsert([doc(f"Secret {i}", kind=DocumentKind.LESSON, access=HIDDEN) for i in range(5)])
    await backend.upsert([doc("Secret public one"), doc("Secret public two")])
    anonymous = await backend.search(SearchQuery(parse_query("secret"), EVERYONE, facets=("kind",), limit=50))
    assert (anonymous.total, anonymous.total_relation) == (2, TotalRelation.EQ)
    assert anonymous.facets["kind"] == {"course": 2}
    assert sorted(h.title for h in anonymous.hits) == ["Secret public one", "Secret public two"]
    admin = await backend.search(SearchQuery(parse_query("secret"), Visibility(everything=True), limit=50))
    assert (admin.total, admin.total_relation) == (CAP, TotalRelation.GTE)
    member = Visibility(frozenset({PUBLIC, *HIDDEN}))
    assert (await backend.search(SearchQuery(parse_query("secret"), member))).total_relation is TotalRelation.GTE
    nobody = await backend.search(SearchQuery(parse_query("secret"), Visibility(frozenset()), facets=("kind",)))
    assert (nobody.total, nobody.hits, nobody.facets) == (0, [], {"kind": {}})


async def test_pages_end_at_the_cap(backend: SearchIndex) -> None:
    await backend.upsert([doc(f"Java {i}") for i in range(6)])
    service = SearchService(
        backend, FakeSearchAudience(), InMemorySynonyms(), InMemoryQueryLog(), FixedClock(T0), CursorCodec(b"k" * 32)
    )
    anonymous = Principal(subject="anonymous")
    first = await service.search(anonymous, SearchRequest(q="java ", limit=2))
    assert first.next_cursor is not None
    second = await service.search(anonymous, SearchRequest(q="java ", limit=2, cursor=first.next_cursor))
    assert second.next_cursor is None
    seen = [h.id for h in first.result.hits + second.result.hits]
    assert len(seen) == len(set(seen)) == CAP
