"""Alembic owns the schema: the history goes up, down and up again, and ends where the tables say."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from elearning_adapters.sql import migrate
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search import ENGINE_OBJECTS, PostgresSearchIndex
from elearning_adapters.sql.tables import metadata
from elearning_core.search.model import PUBLIC, SearchQuery, Visibility, course_members, parse_query
from tests.conftest import IN_CI, POSTGRES_ADMIN_URL, _libpq, _postgres_unavailable

APP_TABLES = set(metadata.tables)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    reason = _postgres_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    name = f"elearning_migrations_{uuid.uuid4().hex[:10]}"
    admin = _libpq(POSTGRES_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def table_names(db: Database) -> set[str]:
    async with db.read() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - ENGINE_OBJECTS


def _differences(connection: Connection) -> list[Any]:
    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return name not in ENGINE_OBJECTS  # what one dialect's search engine adds (migration 0029)

    opts = {"compare_type": True, "compare_server_default": True, "include_name": include_name}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, metadata))


async def schema_differences(db: Database) -> list[Any]:
    async with db.read() as conn:
        return await conn.run_sync(_differences)


async def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        assert await table_names(db) == set()
        assert not await migrate.is_up_to_date(db)

        await migrate.upgrade(db)
        assert await table_names(db) == APP_TABLES | {"alembic_version"}
        assert await migrate.current_revision(db) == migrate.head_revision()
        assert await migrate.is_up_to_date(db)

        await migrate.downgrade(db, "base")
        assert await table_names(db) == {"alembic_version"}
        assert await migrate.current_revision(db) is None
        assert not await migrate.is_up_to_date(db)

        await migrate.upgrade(db)
        assert await table_names(db) == APP_TABLES | {"alembic_version"}
        assert await migrate.is_up_to_date(db)
        assert await schema_differences(db) == []
    finally:
        await db.dispose()


async def test_the_migrated_schema_matches_the_table_definitions(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        await migrate.upgrade(db)
        await migrate.upgrade(db)  # upgrading an up-to-date database changes nothing
        assert await migrate.current_revision(db) == migrate.head_revision()
        assert await schema_differences(db) == []
    finally:
        await db.dispose()


async def test_the_comparison_notices_a_schema_that_lags_behind(empty_database_url: str) -> None:
    """Guard for the test above: on a database without the tables, the comparison reports them."""
    db = Database(empty_database_url)
    try:
        differences = await schema_differences(db)
        added = {d[1].name for d in differences if isinstance(d, tuple) and d[0] == "add_table"}
        assert added == APP_TABLES
    finally:
        await db.dispose()


GATED = uuid.UUID("00000000-0000-7000-8000-00000000000b")
_ROW = (
    "INSERT INTO search_documents (key, kind, doc_id, course_id, title, body, tags, people, language, url, "
    "published_at, indexed_at, tsv) VALUES (:key, 'course', gen_random_uuid(), gen_random_uuid(), CAST(:title AS text), '', "
    "'[]', '', 'en', '/x', now(), now(), to_tsvector('search_simple', CAST(:title AS text)) || "
    "setweight(array_to_tsvector(ARRAY['acl:' || CAST(:token AS text)]), 'D'))"
)
_ACCESS = (
    "SELECT key, array_agg(lexeme ORDER BY lexeme) FILTER (WHERE lexeme LIKE '%acl:%') "
    "FROM search_documents, unnest(tsv) GROUP BY key ORDER BY key"
)
_PARTITIONED = "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'search_documents'::regclass"


async def test_search_documents_move_into_partitions_and_back(empty_database_url: str) -> None:
    """Revision 0032 moves PostgreSQL's search documents into a hash-partitioned table and renames their access
    lexemes (``acl:`` to ``_acl:``, which no query prefix reaches): the documents stay searchable by the same
    callers, and downgrading restores the plain table and the old lexemes."""
    if not empty_database_url.startswith("postgresql"):
        pytest.skip(
            "PostgreSQL only: on SQLite, revision 0032 only adds the vocabulary table (did-you-mean is PostgreSQL's)"
        )
    db = Database(empty_database_url)
    try:
        await migrate.upgrade(db, "0031")
        async with db.write() as conn:
            await conn.execute(text(_ROW), {"key": "course:a", "title": "Open astronomy", "token": PUBLIC})
            await conn.execute(
                text(_ROW), {"key": "course:b", "title": "Gated astronomy", "token": course_members(GATED)}
            )
            for word, key in (("astronomy", "course:a"), ("astronomy", "course:b"), ("gated", "course:b")):
                await conn.execute(text("INSERT INTO search_words (word, key) VALUES (:w, :k)"), {"w": word, "k": key})
            for key, token in (("course:a", PUBLIC), ("course:b", course_members(GATED))):
                await conn.execute(
                    text("INSERT INTO search_access (key, token) VALUES (:k, :t)"), {"k": key, "t": token}
                )
            await conn.commit()

        await migrate.upgrade(db)
        async with db.read() as conn:
            assert await conn.scalar(text(_PARTITIONED)) == 1
            assert (await conn.execute(text(_ACCESS))).all() == [
                ("course:a", [f"_acl:{PUBLIC}"]),
                ("course:b", [f"_acl:{course_members(GATED)}"]),
            ]
        index = PostgresSearchIndex(db)
        anonymous = await index.search(SearchQuery(parse_query("astronomy "), Visibility()))
        assert [h.title for h in anonymous.hits] == ["Open astronomy"]
        member = Visibility(frozenset({PUBLIC, course_members(GATED)}))
        both = await index.search(SearchQuery(parse_query("astro"), member))
        assert sorted(h.title for h in both.hits) == ["Gated astronomy", "Open astronomy"]
        assert (await index.search(SearchQuery(parse_query("ac"), member))).total == 0
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT word FROM search_vocabulary ORDER BY word"))).scalars().all() == [
                "astronomy",
                "gated",
            ]
        assert await index.corrections(["astronmy", "gatd"], Visibility()) == {"astronmy": "astronomy"}
        assert await index.corrections(["gatd"], member) == {"gatd": "gated"}

        await migrate.downgrade(db, "0031")
        async with db.read() as conn:
            assert await conn.scalar(text(_PARTITIONED)) == 0
            assert (await conn.execute(text(_ACCESS))).all() == [
                ("course:a", [f"acl:{PUBLIC}"]),
                ("course:b", [f"acl:{course_members(GATED)}"]),
            ]
    finally:
        await db.dispose()
