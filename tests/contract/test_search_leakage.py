"""The leakage property: for any documents and any caller, what the caller gets (hits, total, facet
counts, suggestions, did-you-mean) is exactly what they would get from an index holding only the
documents they may read. On the fake, SQLite and PostgreSQL; ranks aside (an engine's statistics
may count every document), so hits are compared as sets.

Documents include drafts (readable by their course's staff alone, as the projection indexes them) and
callers are made by the service's rule (``Visibility.of`` a learner's enrollments and cohorts and the
courses they are staff of), so a learner or a visitor is never shown a draft."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search import SEARCH_TABLES, index_for
from elearning_core.search.model import (
    COUNT_CAP,
    PUBLIC,
    DocumentKind,
    SearchDocument,
    SearchQuery,
    Viewer,
    Visibility,
    cohort_members,
    course_members,
    course_staff,
    parse_query,
)
from elearning_core.search.ports import SearchIndex
from tests.fakes import T0
from tests.search_fakes import InMemorySearchIndex

WORDS = ["python", "pyton", "data", "secret", "cafe", "café", "web", "rust"]
COURSES = [uuid.UUID(int=i + 1) for i in range(3)]
TOKENS = [
    PUBLIC,
    *(course_members(c) for c in COURSES),
    *(course_staff(c) for c in COURSES),
    cohort_members(COURSES[1]),
]
FACETS = ("kind", "level", "language", "tag", "free")

documents = st.lists(
    st.builds(
        lambda i, kind, title, body, access, level, tags: SearchDocument(
            kind,
            uuid.UUID(int=1000 + i),
            COURSES[i % 3],
            " ".join(title),
            " ".join(body),
            f"/d/{i}",
            T0 - timedelta(days=i),
            frozenset(access),
            tuple(tags),
            "",
            "en",
            level,
            None,
            None,
        ),
        st.integers(0, 10_000),
        st.sampled_from(list(DocumentKind)),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
        st.lists(st.sampled_from(WORDS), max_size=4),
        st.sets(st.sampled_from(TOKENS), min_size=1, max_size=2),
        st.sampled_from(["beginner", "advanced"]),
        st.lists(st.sampled_from(["web", "data"]), max_size=2, unique=True),
    ),
    max_size=8,
    unique_by=lambda d: d.id,
)
callers = st.builds(
    lambda enrolled, cohorts, staff: Visibility.of(Viewer(enrolled=enrolled, cohorts=cohorts, staff=staff)),
    st.frozensets(st.sampled_from(COURSES), max_size=2),
    st.frozensets(st.just(COURSES[1])),
    st.frozensets(st.sampled_from(COURSES), max_size=1),
)
queries = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join)


async def _answer(index: SearchIndex, q: str, visibility: Visibility) -> tuple[object, ...]:
    terms = parse_query(q)
    result = await index.search(SearchQuery(terms, visibility, facets=FACETS, limit=100))
    suggestions = sorted(s.text for s in await index.suggest(terms, visibility, 20))
    corrections = await index.corrections(terms.words(), visibility)
    hits = sorted(h.id for h in result.hits)
    return result.total, result.total_relation, result.facets, hits, suggestions, corrections


async def _check(
    make: Callable[[], Awaitable[SearchIndex]], docs: list[SearchDocument], q: str, caller: Visibility
) -> None:
    index = await make()
    await index.upsert(docs)
    seen = await _answer(index, q, caller)
    await index.delete([d.key for d in docs if not caller.allows(d.access)])
    alone = await _answer(index, q, caller)
    assert seen == alone


def _sql_maker(url: str | Path, tmp: Path, cap: int) -> Callable[[], Awaitable[SearchIndex]]:
    opened: list[Database] = []

    async def make() -> SearchIndex:
        for db in opened:
            await db.dispose()
        opened.clear()
        if isinstance(url, Path):
            copy = tmp / f"leak-{uuid.uuid4().hex[:8]}.db"
            shutil.copy(url, copy)
            db = Database(f"sqlite+aiosqlite:///{copy}")
        else:
            db = Database(url)
            async with db.write() as conn:
                for table in SEARCH_TABLES:
                    await conn.execute(text(f"DELETE FROM {table}"))
                await conn.commit()
        opened.append(db)
        return index_for(db, count_cap=cap)

    make.opened = opened  # type: ignore[attr-defined]
    return make


@pytest.mark.parametrize("cap", [COUNT_CAP, 3], ids=["uncapped", "capped"])
@pytest.mark.parametrize("engine", ["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_nothing_reflects_what_the_caller_may_not_read(
    engine: str, cap: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Also with a cap of 3 over up to 8 documents: the counted sample, and so the total, its
    relation and the facets, is taken among what the caller may read only."""
    if engine == "fake":

        async def fake() -> SearchIndex:
            return InMemorySearchIndex(count_cap=cap)

        make: Callable[[], Awaitable[SearchIndex]] = fake
    elif engine == "sqlite":
        make = _sql_maker(request.getfixturevalue("migrated_sqlite_file"), tmp_path, cap)
    else:
        make = _sql_maker(request.getfixturevalue("postgres_url"), tmp_path, cap)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(documents, queries, callers)
    def property_holds(docs: list[SearchDocument], q: str, caller: Visibility) -> None:
        async def run() -> None:
            try:
                await _check(make, docs, q, caller)
            finally:
                for db in getattr(make, "opened", []):
                    await db.dispose()
                getattr(make, "opened", []).clear()

        asyncio.run(run())

    property_holds()
