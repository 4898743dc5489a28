"""The PostgreSQL engine: one weighted ``tsvector`` per document (its language's configuration and
``simple``, both unaccenting), a GIN index, ranking by ``ts_rank_cd``, highlights by ``ts_headline`` on
text HTML-escaped first, and ``pg_trgm`` over the titles' and tags' words for did-you-mean.

A query is the OR, over every configuration, of the parsed terms under that configuration
(``websearch_to_tsquery`` of each word or quoted phrase, ``to_tsquery('w:*')`` for the as-you-type
prefix), so a French word finds French stems and a name finds itself. It is built once per request
into a ``tsquery`` constant (the distinct configurations' queries only), so the planner uses the GIN
index and the rank does not rebuild it per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import String

from elearning_adapters.sql.search._index import D, SqlSearchEngine, W, visible
from elearning_adapters.sql.search._tables import LANGUAGES, PG_CONFIGS
from elearning_adapters.sql.search._writer import SqlSearchWriter, access_rows, document_row, facet_rows, word_rows
from elearning_core.search.model import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Alternative,
    Capabilities,
    QueryTerms,
    SearchDocument,
)

_HEADLINE = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}"
_COLUMNS = (
    "key text, kind text, doc_id uuid, course_id uuid, lesson_id uuid, title text, body text, tags json, "
    "people text, language text, level text, free boolean, duration text, url text, "
    "published_at timestamptz, indexed_at timestamptz, cfg text, meta text"
)
_STORED = [c.split()[0] for c in _COLUMNS.split(", ")][:16]


def _weighted(field: str, weight: str) -> str:
    """Angle brackets become spaces first: the text search parser would take ``<Culture>`` for a tag and skip it."""
    text = f"translate({field}, '<>', '  ')"
    return (
        f"setweight(to_tsvector(CAST(r.cfg AS regconfig), {text}), '{weight}') || "
        f"setweight(to_tsvector('search_simple', {text}), '{weight}')"
    )


_UPSERT = text(
    f"INSERT INTO search_documents ({', '.join(_STORED)}, tsv) "
    f"SELECT {', '.join('r.' + c for c in _STORED)}, "
    f"{_weighted('r.title', 'A')} || {_weighted('r.meta', 'B')} || {_weighted('r.body', 'C')} "
    f"FROM jsonb_to_recordset(CAST(:docs AS jsonb)) AS r({_COLUMNS}) "
    f"ON CONFLICT (key) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in [*_STORED[1:], 'tsv'])} "
    "RETURNING key, CAST(xmax AS text) <> '0'"
)
"""The batch's rows with their weighted ``tsvector`` (the document's language and ``simple``), computed in
the insert itself: one statement for the batch, and a replaced document is updated in place (its row
version's ``xmax`` is then set: an inserted one's is 0)."""
_SIDES = text(
    "WITH a AS (INSERT INTO search_access (key, token) "
    "SELECT r->>0, r->>1 FROM jsonb_array_elements(CAST(:a AS jsonb)) AS r), "
    "f AS (INSERT INTO search_facets (key, facet, value) "
    "SELECT r->>0, r->>1, r->>2 FROM jsonb_array_elements(CAST(:f AS jsonb)) AS r) "
    "INSERT INTO search_words (word, key) SELECT r->>0, r->>1 FROM jsonb_array_elements(CAST(:w AS jsonb)) AS r"
)
"""The side rows of a batch in one statement, each table's as one JSON array of arrays: encoding them is a
fraction of binding the rows one by one, and a live refresh makes one round trip for them, not three."""
_UNINDEX = text(
    "WITH a AS (DELETE FROM search_access WHERE key = ANY(CAST(:keys AS text[]))), "
    "f AS (DELETE FROM search_facets WHERE key = ANY(CAST(:keys AS text[]))) "
    "DELETE FROM search_words WHERE key = ANY(CAST(:keys AS text[]))"
)
"""The side rows of documents about to be written again, in one statement."""


def _json_row(doc: SearchDocument, key: str, at: datetime, stamp: str) -> dict[str, Any]:
    """``document_row`` as JSON values, with the configuration and the weight-B text of its ``tsvector``."""
    row = document_row(doc, at)
    row.update(
        key=key,
        doc_id=str(doc.id),
        course_id=str(doc.course_id),
        lesson_id=str(doc.lesson_id) if doc.lesson_id else None,
        published_at=doc.published_at.isoformat(),
        indexed_at=stamp,
        cfg=config_of(doc.language),
        meta=" ".join((*doc.tags, doc.people)),
    )
    return row


_REMEMBERED = 2_048


def config_of(language: str) -> str:
    return f"search_{LANGUAGES.get(language.split('-')[0].lower(), 'simple')}"


def _config_sql() -> Any:
    cases = " ".join(f"WHEN '{code}' THEN 'search_{name}'" for code, name in LANGUAGES.items())
    return literal_column(
        f"(CASE split_part(lower(search_documents.language), '-', 1) {cases} ELSE 'search_simple' END)::regconfig"
    )


def _escaped(column: Any) -> Any:
    """HTML-escaped in SQL before ``ts_headline`` marks it (the markers are then the only markup)."""
    out = column
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        out = func.replace(out, raw, entity)
    return out


def _marked(escaped: str) -> str:
    return escaped.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>")


class _Builder:
    """A tsquery expression with bound values, from parsed terms."""

    def __init__(self, configs: Sequence[str]) -> None:
        self.configs = configs
        self.params: dict[str, str] = {}

    def _bind(self, value: str) -> str:
        name = f"t{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def alternative(self, alt: Alternative) -> str:
        parts = []
        if alt.prefix and len(alt.words) == 1:
            p = self._bind(f"{alt.words[0]}:*")
            parts = [f"to_tsquery('search_{c}', {p})" for c in self.configs]
        else:
            p = self._bind(alt.words[0] if len(alt.words) == 1 else '"' + " ".join(alt.words) + '"')
            parts = [f"websearch_to_tsquery('search_{c}', {p})" for c in self.configs]
            if alt.prefix:  # a phrase ending as-you-type: its words, the last as a prefix
                head = self._bind('"' + " ".join(alt.words[:-1]) + '"')
                last = self._bind(f"{alt.words[-1]}:*")
                parts += [
                    f"(websearch_to_tsquery('search_{c}', {head}) && to_tsquery('search_{c}', {last}))"
                    for c in self.configs
                ]
        return "(" + " || ".join(parts) + ")"

    def build(self, terms: QueryTerms) -> str:
        groups = ["(" + " || ".join(self.alternative(a) for a in g) + ")" for g in terms.groups]
        query = " && ".join(groups)
        if terms.excluded:
            none = " || ".join(self.alternative(Alternative((w,))) for w in terms.excluded)
            query = f"{query} && !!({none})" if query else f"!!({none})"
        return query


class PostgresSearchIndex(SqlSearchEngine):
    capabilities = Capabilities(english_stemming=True, stemming_beyond_english=True, typo_tolerance=True)

    def __init__(self, database: Any, now: Any = None) -> None:
        super().__init__(database, now)
        self._tsqueries: dict[tuple[QueryTerms, tuple[str, ...]], str] = {}

    async def write_documents(self, writer: SqlSearchWriter, docs: Sequence[SearchDocument], at: datetime) -> None:
        """Two or three statements whatever the batch: the documents from one JSON parameter (``_UPSERT``,
        which returns the keys it updated rather than inserted), the side rows of those updated dropped,
        then every side row (``_SIDES``)."""
        keys, stamp = [d.key for d in docs], at.isoformat()
        rows = [_json_row(d, key, at, stamp) for d, key in zip(docs, keys, strict=True)]
        conn = writer.conn
        written = await conn.execute(_UPSERT, {"docs": json.dumps(rows)})
        existing = [key for key, updated in written.all() if updated]
        if existing:
            await conn.execute(_UNINDEX, {"keys": existing})
        sides = {"a": access_rows(docs, keys), "f": facet_rows(docs, keys), "w": word_rows(docs, keys)}
        await conn.execute(_SIDES, {name: json.dumps(rows) for name, rows in sides.items()})

    async def remove_text(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        return None  # the tsvector is a column of the document's row

    async def _tsquery(self, conn: AsyncConnection, terms: QueryTerms, configs: Sequence[str]) -> str:
        """The terms under each configuration, once each distinct one (most words give the same
        lexemes under several), ORed: one constant for the whole request. Remembered (the last
        ``_REMEMBERED`` queries): the same words always give the same tsquery, and a search asks twice
        (the match and the highlights)."""
        key = (terms, tuple(configs))
        known = self._tsqueries.get(key)
        if known is not None:
            return known
        builder = _Builder(configs[:1])
        columns = []
        for config in configs:
            builder.configs = (config,)
            columns.append(f"CAST(({builder.build(terms)}) AS text)")
        row = (await conn.execute(text(f"SELECT {', '.join(columns)}"), builder.params)).one()
        distinct = [q for q in dict.fromkeys(row) if q]
        query = " | ".join(f"({q})" for q in distinct)
        if len(self._tsqueries) >= _REMEMBERED:
            self._tsqueries.clear()
        self._tsqueries[key] = query
        return query

    async def _matched(self, conn: AsyncConnection, terms: QueryTerms, *, ranked: bool = True) -> Any:
        if terms.empty and not terms.excluded:
            return None
        q = await self._tsquery(conn, terms, PG_CONFIGS)
        if not q:
            return select(D.c.key, literal_column("0.0").label("rank")).where(literal_column("false"))
        tsq = cast(bindparam("q", q, String), TSQUERY)
        tsv: Any = literal_column("search_documents.tsv")
        rank = func.ts_rank_cd(tsv, tsq) if ranked else literal_column("0.0")
        return select(D.c.key, rank.label("rank")).where(tsv.op("@@")(tsq))

    async def _suggest_matched(self, conn: AsyncConnection, terms: QueryTerms) -> Any:
        """Title words only: the title's lexemes are the ones of weight A, so ``w:A`` / ``w:*A`` in the
        ``simple`` configuration (the words are letters and digits: ``parse_query``), all on the index."""
        parts = []
        for group in terms.groups:
            first = group[0]
            for i, word in enumerate(first.words):
                last = first.prefix and i == len(first.words) - 1
                parts.append(f"{word}:*A" if last else f"{word}:A")
        tsq = func.to_tsquery(literal_column("'search_simple'::regconfig"), bindparam("sq", " & ".join(parts), String))
        tsv: Any = literal_column("search_documents.tsv")
        return select(D.c.key, func.ts_rank_cd(tsv, tsq).label("rank")).where(tsv.op("@@")(tsq))

    async def _highlights(self, conn: AsyncConnection, terms: QueryTerms, keys: list[str]) -> dict[str, str]:
        if terms.empty:
            return {}
        q = await self._tsquery(conn, QueryTerms(terms.groups), PG_CONFIGS)
        tsq = cast(bindparam("hq", q, String), TSQUERY)
        cfg = _config_sql()
        title = func.ts_headline(cfg, _escaped(D.c.title), tsq, f"HighlightAll=true, {_HEADLINE}")
        body = func.ts_headline(
            cfg, _escaped(func.left(D.c.body, 20_000)), tsq, f"MaxWords=24, MinWords=10, MaxFragments=1, {_HEADLINE}"
        )
        query = select(D.c.key, title, body).where(D.c.key.in_(keys))
        out = {}
        for key, t, b in (await conn.execute(query)).all():
            out[key] = _marked(f"{t} — {b}" if b else t)
        return out

    async def _known(self, conn: AsyncConnection, word: str, visibility: Any) -> bool:
        """Whether the word alone finds something the caller may read (then it is no typo)."""
        m = (await self._matched(conn, QueryTerms(((Alternative((word,)),),)), ranked=False)).subquery("m")
        query = select(D.c.key).join(m, m.c.key == D.c.key).where(visible(visibility)).limit(1)
        return await conn.scalar(query) is not None

    async def corrections(self, words: Sequence[str], visibility: Any) -> dict[str, str]:
        found: dict[str, str] = {}
        async with self._db.read() as conn:
            for word in dict.fromkeys(words):
                if len(word) < 3 or await self._known(conn, word, visibility):
                    continue
                unaccented = func.search_unaccent(W.c.word)
                similar = func.similarity(unaccented, word)
                query = (
                    select(W.c.word)
                    .where(unaccented.op("%")(word), W.c.word != word, visible(visibility, W.c.key))
                    .group_by(W.c.word)
                    .order_by(func.max(similar).desc(), func.count().desc(), W.c.word)
                    .limit(1)
                )
                best = await conn.scalar(query)
                if best is not None:
                    found[word] = str(best)
        return found
