"""The SQLite engine (the embedded default): an FTS5 table (porter stemming over unicode61 with
diacritics removed, prefix indexes of 2-4 characters) whose rowid is the document row's, ranked by
``bm25`` with the title weighted highest. English stemming only; no typo tolerance.

Its ``access`` column holds the document's access tokens, so a search's MATCH intersects the words'
doclists with the caller's tokens' (visibility inside the full-text index, the cap's sample taken
among what the caller may read); a query's words only ever match the text columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, column, false, literal, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Float, Integer, String

from elearning_adapters.sql.search._index import PAGE_COLUMNS, D, SqlSearchEngine, sampled
from elearning_core.search.model import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Alternative,
    Capabilities,
    QueryTerms,
    SearchDocument,
    SearchQuery,
    Visibility,
    highlight_html,
)

_RANK = "-bm25(search_fts, 0.0, 10.0, 1.0, 5.0, 3.0, 0.0)"
_CONTENT = "{title body tags people}"
"""The columns a query's words may match (never ``access``)."""
_ROWID: Any = literal_column("search_documents.rowid")
ACCESS_SQL = (
    "SELECT group_concat('zacl' || lower(hex(a.token)) || 'x', ' ') FROM search_access a "
    "WHERE a.key = search_documents.key"
)
"""The ``access`` column of a document (its tokens as ``access_token`` gives them; written to
``search_access`` just before). Migration 0030 fills it the same way."""


_ACCESS_PREFIX = "zacl"


def _reaches_access(alt: Alternative) -> bool:
    """Whether a word of the alternative could match an ``access_token`` (``zacl…x``; as a prefix, anything
    ``zacl`` starts with): only such words need a column filter to keep to the text columns."""
    return any(
        w.startswith(_ACCESS_PREFIX) or (alt.prefix and i == len(alt.words) - 1 and _ACCESS_PREFIX.startswith(w))
        for i, w in enumerate(alt.words)
    )


def _alternative(alt: Alternative, columns: str) -> str:
    phrase = '"' + " ".join(alt.words) + '"' + ("*" if alt.prefix else "")
    return f"{columns} : {phrase}" if columns and _reaches_access(alt) else phrase


def _expression(terms: QueryTerms, columns: str = "") -> str:
    """Each alternative restricted to ``columns`` only when it could match an access token: ``bm25`` counts
    every phrase's documents before ranking, and a column filter doubles that count's cost (the words'
    position lists read column by column: 8 ms instead of 4 for two common words over 100,000 documents)."""
    groups = ["(" + " OR ".join(_alternative(a, columns) for a in g) + ")" for g in terms.groups]
    query = " AND ".join(groups)
    if terms.excluded and query:
        query += " NOT (" + " OR ".join(_alternative(Alternative((w,)), columns) for w in terms.excluded) + ")"
    return query


def fts_query(terms: QueryTerms) -> str:
    """The FTS5 expression over the text columns: words are ``[^\\W_]+`` (``parse_query``), so quoting
    them is enough; the ``access`` column is out of reach of every word but those ``_reaches_access``."""
    return _expression(terms, _CONTENT)


def access_token(token: str) -> str:
    """An access token as one FTS5 token of the ``access`` column: its UTF-8 bytes in hex between
    ``zacl`` and ``x`` (letters and digits only, so unicode61 keeps it whole; no Porter rule ends in
    ``x``, so stemming never makes two of them equal). The writer computes the same in SQL."""
    return "zacl" + token.encode().hex() + "x"


def access_query(visibility: Visibility) -> str:
    """Visibility inside the MATCH: FTS5 intersects the terms' doclists with the caller's tokens'."""
    return "access : (" + " OR ".join(f'"{access_token(t)}"' for t in sorted(visibility.tokens)) + ")"


def _match(query: SearchQuery) -> str:
    """The FTS5 expression of a query's candidates: its terms and the caller's tokens (only exclusions: what
    they match, to leave out)."""
    terms = query.terms
    if terms.empty:
        return f"{_CONTENT} : (" + " OR ".join(f'"{w}"' for w in terms.excluded) + ")"
    match = fts_query(terms)
    if query.visibility.tokens and not query.visibility.everything:
        return f"({match}) AND ({access_query(query.visibility)})"
    return match


class SqliteSearchIndex(SqlSearchEngine):
    capabilities = Capabilities(english_stemming=True)
    _kind = D.c.kind + literal("")
    """Not indexable: with the index on ``(kind, indexed_at)`` usable, SQLite's planner drove a
    kind-filtered read from the documents and ran the MATCH once per document (37 ms instead of under
    1 for a title prefix); without it the FTS5 cursor drives and the LIMIT stops it."""

    async def write_text(self, conn: AsyncConnection, docs: Sequence[SearchDocument]) -> None:
        keys = [d.key for d in docs]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            statement = text(
                "INSERT INTO search_fts (rowid, key, title, body, tags, people, access) "
                f"SELECT rowid, key, title, body, tags, people, ({ACCESS_SQL}) FROM search_documents WHERE key IN :keys"
            ).bindparams(bindparam("keys", expanding=True))
            await conn.execute(statement, {"keys": chunk})

    async def remove_text(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        statement = text(
            "DELETE FROM search_fts WHERE rowid IN (SELECT rowid FROM search_documents WHERE key IN :keys)"
        ).bindparams(bindparam("keys", expanding=True))
        await conn.execute(statement, {"keys": list(keys)})

    def _fts(self, match: str, ranked: bool = True) -> Any:
        """``(rid, rank)`` of what an FTS5 expression matches, in rowid order (the documents' storage order)."""
        return (
            text(
                f"SELECT rowid AS rid, {_RANK if ranked else '0.0'} AS rank FROM search_fts WHERE search_fts MATCH :fq"
            )
            .bindparams(bindparam("fq", match, String))
            .columns(column("rid", Integer), column("rank", Float))
            .subquery("f")
        )

    async def _candidate_params(self, conn: AsyncConnection, query: SearchQuery) -> dict[str, str]:
        return {"fq": _match(query)}

    async def _candidates(self, conn: AsyncConnection, query: SearchQuery, size: int, *, newest: bool) -> Any:
        terms = query.terms
        if terms.empty:  # only exclusions: everything but what they match
            excluded = self._fts(_match(query), ranked=False)
            base = select(*sampled(query), literal(0.0).label("rank")).where(
                _ROWID.not_in(select(excluded.c.rid)), *self._where(query)
            )
            return base.order_by(D.c.published_at.desc(), D.c.key).limit(size) if newest else base.limit(size)
        match, where = _match(query), self._where(query, access=False)
        if not query.visibility.tokens and not query.visibility.everything:
            where.append(false())  # no token, nothing (and an empty OR is no FTS5 syntax)
        if newest:
            matched = self._fts(match, ranked=False)
            return (
                select(*sampled(query), literal(0.0).label("rank"))
                .where(_ROWID.in_(select(matched.c.rid)), *where)
                .order_by(D.c.published_at.desc(), D.c.key)
                .limit(size)
            )
        # Driven by the FTS5 cursor (rowid order): the LIMIT stops it, and bm25 is computed only for these.
        f = self._fts(match)
        return select(*sampled(query), f.c.rank).select_from(f.join(D, f.c.rid == _ROWID)).where(*where).limit(size)

    async def _titles(self, conn: AsyncConnection, terms: QueryTerms, where: list[Any], size: int) -> Any:
        f = self._fts("title : (" + _expression(QueryTerms(terms.groups)) + ")", ranked=False)
        return (
            select(D.c.title, D.c.kind, D.c.doc_id).select_from(f.join(D, f.c.rid == _ROWID)).where(*where).limit(size)
        )

    async def _page_rows(
        self, conn: AsyncConnection, terms: QueryTerms, keys: list[str]
    ) -> dict[str, tuple[Any, str | None]]:
        """The page's documents with their marked title and snippet in one statement (an FTS5 cursor gives
        ``highlight()``/``snippet()`` only for rows its MATCH reaches: a left join)."""
        if terms.empty:
            return await super()._page_rows(conn, terms, keys)
        out: dict[str, tuple[Any, str | None]] = {}
        found = await conn.execute(_PAGE_MARKED, {"fq": fts_query(QueryTerms(terms.groups)), "keys": keys})
        for r in found.mappings():
            t, b = r["marked_title"], r["marked_body"]
            out[r["key"]] = (r, highlight_html(f"{t} — {b}" if b else t) if t is not None else None)
        return out


_PAGE_MARKED = (
    text(
        f"SELECT {', '.join(f'd.{c.name}' for c in PAGE_COLUMNS)}, h.t AS marked_title, h.b AS marked_body "
        "FROM search_documents AS d LEFT JOIN ("
        f"SELECT rowid AS rid, highlight(search_fts, 1, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}') AS t, "
        f"snippet(search_fts, 2, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', 16) AS b "
        "FROM search_fts WHERE search_fts MATCH :fq AND rowid IN (SELECT rowid FROM search_documents WHERE key IN :keys)"
        ") AS h ON h.rid = d.rowid WHERE d.key IN :keys"
    )
    .bindparams(bindparam("keys", expanding=True))
    .columns(*PAGE_COLUMNS, column("marked_title", String), column("marked_body", String))
)
"""A page's documents (``PAGE_COLUMNS``) with the title and the text marked where the terms match."""
