"""The SQLite engine (the embedded default): an FTS5 table (porter stemming over unicode61 with
diacritics removed, prefix indexes of 2-4 characters) whose rowid is the document row's, ranked by
``bm25`` with the title weighted highest. English stemming only; no typo tolerance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, column, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Float, String

from elearning_adapters.sql.search._index import D, SqlSearchEngine
from elearning_core.search.model import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Alternative,
    Capabilities,
    QueryTerms,
    SearchDocument,
    highlight_html,
)

_RANK = "-bm25(search_fts, 0.0, 10.0, 1.0, 5.0, 3.0)"


def _alternative(alt: Alternative) -> str:
    phrase = '"' + " ".join(alt.words) + '"'
    return f"{phrase}*" if alt.prefix else phrase


def fts_query(terms: QueryTerms) -> str:
    """The FTS5 expression: words are ``[^\\W_]+`` (``parse_query``), so quoting them is enough."""
    groups = ["(" + " OR ".join(_alternative(a) for a in g) + ")" for g in terms.groups]
    query = " AND ".join(groups)
    if terms.excluded and query:
        query += " NOT (" + " OR ".join(f'"{w}"' for w in terms.excluded) + ")"
    return query


class SqliteSearchIndex(SqlSearchEngine):
    capabilities = Capabilities(english_stemming=True)

    async def write_text(self, conn: AsyncConnection, docs: Sequence[SearchDocument]) -> None:
        keys = [d.key for d in docs]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            statement = text(
                "INSERT INTO search_fts (rowid, key, title, body, tags, people) "
                "SELECT rowid, key, title, body, tags, people FROM search_documents WHERE key IN :keys"
            ).bindparams(bindparam("keys", expanding=True))
            await conn.execute(statement, {"keys": chunk})

    async def remove_text(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        statement = text(
            "DELETE FROM search_fts WHERE rowid IN (SELECT rowid FROM search_documents WHERE key IN :keys)"
        ).bindparams(bindparam("keys", expanding=True))
        await conn.execute(statement, {"keys": list(keys)})

    def _fts(self, match: str, ranked: bool = True) -> Any:
        return (
            text(f"SELECT key, {_RANK if ranked else '0.0'} AS rank FROM search_fts WHERE search_fts MATCH :fq")
            .bindparams(bindparam("fq", match, String))
            .columns(column("key", String), column("rank", Float))
        )

    async def _matched(self, conn: AsyncConnection, terms: QueryTerms, *, ranked: bool = True) -> Any:
        if terms.empty and not terms.excluded:
            return None
        if terms.empty:  # only exclusions: everything but what they match
            excluded = self._fts(" OR ".join(f'"{w}"' for w in terms.excluded), ranked=False).subquery("x")
            return select(D.c.key, literal(0.0).label("rank")).where(D.c.key.not_in(select(excluded.c.key)))
        return self._fts(fts_query(terms), ranked)

    async def _suggest_matched(self, conn: AsyncConnection, terms: QueryTerms) -> Any:
        return self._fts("title : (" + fts_query(QueryTerms(terms.groups)) + ")")

    async def _highlights(self, conn: AsyncConnection, terms: QueryTerms, keys: list[str]) -> dict[str, str]:
        if terms.empty:
            return {}
        s, e = HIGHLIGHT_START, HIGHLIGHT_END
        statement = text(
            f"SELECT key, highlight(search_fts, 1, '{s}', '{e}'), snippet(search_fts, 2, '{s}', '{e}', '…', 16) "
            "FROM search_fts WHERE search_fts MATCH :fq "
            "AND rowid IN (SELECT rowid FROM search_documents WHERE key IN :keys)"
        ).bindparams(bindparam("keys", expanding=True))
        rows = (await conn.execute(statement, {"fq": fts_query(QueryTerms(terms.groups)), "keys": keys})).all()
        return {key: highlight_html(f"{t} — {b}" if b else t) for key, t, b in rows}
