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

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, cast, exists, func, literal, literal_column, select, text, tuple_
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.functions import Function
from sqlalchemy.types import String

from elearning_adapters.sql.search._index import PAGE_COLUMNS, D, SqlSearchEngine, W, facet_value, sampled, visible
from elearning_adapters.sql.search._tables import LANGUAGES, PG_CONFIGS, search_vocabulary
from elearning_adapters.sql.search._writer import SqlSearchWriter, access_rows, document_row, facet_rows, word_rows
from elearning_core.search.model import (
    COUNT_CAP,
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Alternative,
    Capabilities,
    DocumentKind,
    QueryTerms,
    SearchDocument,
    SearchQuery,
    Visibility,
)

ACCESS_LEXEME_PREFIX = "_acl:"
"""Migration 0032 gives every stored document's access lexemes this prefix (0030 wrote ``acl:``, which the
prefix ``ac:*`` matched)."""
_HEADLINE = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}"
_COLUMNS = (
    "key text, kind text, doc_id uuid, course_id uuid, lesson_id uuid, title text, body text, tags json, "
    "people text, language text, level text, free boolean, duration text, url text, "
    "published_at timestamptz, indexed_at timestamptz, cfg text, meta text, access jsonb"
)
V = search_vocabulary
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
    f"{_weighted('r.title', 'A')} || {_weighted('r.meta', 'B')} || {_weighted('r.body', 'C')} || "
    f"setweight(array_to_tsvector(ARRAY(SELECT '{ACCESS_LEXEME_PREFIX}' || t FROM jsonb_array_elements_text(r.access) AS t)), 'D') "
    f"FROM jsonb_to_recordset(CAST(:docs AS jsonb)) AS r({_COLUMNS}) "
    f"ON CONFLICT (key) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in [*_STORED[1:], 'tsv'])}"
)
"""The batch's rows with their weighted ``tsvector`` (the document's language and ``simple``, and the access
tokens as lexemes of weight D: ``access_lexeme``), computed in the insert itself: one statement for the
batch, and a replaced document is updated in place. (Which rows were replaced is not returned: a
partitioned table gives no ``xmax`` in ``RETURNING``; the side rows of every key are cleared instead.)"""
_SIDES = text(
    "WITH a AS (INSERT INTO search_access (key, token) "
    "SELECT r->>0, r->>1 FROM jsonb_array_elements(CAST(:a AS jsonb)) AS r), "
    "f AS (INSERT INTO search_facets (key, facet, value) "
    "SELECT r->>0, r->>1, r->>2 FROM jsonb_array_elements(CAST(:f AS jsonb)) AS r), "
    "w AS (INSERT INTO search_words (word, key) "
    "SELECT r->>0, r->>1 FROM jsonb_array_elements(CAST(:w AS jsonb)) AS r) "
    "INSERT INTO search_vocabulary (word) SELECT DISTINCT r->>0 FROM jsonb_array_elements(CAST(:w AS jsonb)) AS r "
    "ORDER BY 1 ON CONFLICT DO NOTHING"
)
"""The side rows of a batch in one statement, each table's as one JSON array of arrays: encoding them is a
fraction of binding the rows one by one, and a live refresh makes one round trip for them, not three. The
vocabulary gains the words it lacks, in word order (two writers of overlapping words wait on each other in
the same order, so neither deadlocks)."""
_PRUNE_VOCABULARY = text(
    "DELETE FROM search_vocabulary v WHERE NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = v.word)"
)
"""Words no document holds any more (after a full reindex). A word a concurrent writer adds back to
``search_words`` just then may go too; it returns with the next write of a document holding it."""
_UNINDEX = text(
    "WITH a AS (DELETE FROM search_access WHERE key = ANY(CAST(:keys AS text[]))), "
    "f AS (DELETE FROM search_facets WHERE key = ANY(CAST(:keys AS text[]))) "
    "DELETE FROM search_words WHERE key = ANY(CAST(:keys AS text[]))"
)
"""The side rows a batch's keys had, in one statement (nothing to find for a new key: three index probes)."""


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
        access=sorted(doc.access),
    )
    return row


_REMEMBERED = 2_048
_TSV: Any = literal_column("search_documents.tsv")
TITLE_TSV: Any = literal_column(
    "to_tsvector('search_simple'::regconfig, translate(search_documents.title, '<>', '  '))"
)
"""The expression of the title index ``ix_search_documents_title_tsv`` (the query repeats it to use it)."""
_SEQSCAN_OFF = text("SELECT set_config('enable_seqscan', 'off', true)")
"""Off until the end of the transaction: a search engine's read transactions are its own, and what else they
read goes by key or through an index anyway."""
_TRGM_SCHEMA = text(
    "SELECT n.nspname, quote_ident(n.nspname) FROM pg_extension e "
    "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
)


def access_lexeme(token: str) -> str:
    """An access token as a lexeme of the document's ``tsv`` (weight D; ``ACCESS_LEXEME_PREFIX`` + the token,
    verbatim): the text parser never makes a lexeme with an underscore or a colon, and a query's words (letters
    and digits) never start with an underscore, so no text can forge one and no as-you-type prefix reaches one."""
    return f"{ACCESS_LEXEME_PREFIX}{token}"


def access_match(visibility: Visibility) -> list[Any]:
    """Visibility as a second ``@@`` on the same GIN index: the index intersects the posting lists of
    the terms and of the caller's tokens, so what the caller may not read is never even fetched."""
    if visibility.everything:
        return []
    if not visibility.tokens:
        return [literal_column("false")]
    quoted = " | ".join(
        "'" + access_lexeme(t).replace("\\", "\\\\").replace("'", "''") + "'" for t in sorted(visibility.tokens)
    )
    return [_TSV.op("@@")(cast(bindparam("acl", quoted, String), TSQUERY))]


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


def _page_marked() -> Any:
    """The page's columns with the title and the text marked by ``ts_headline`` under the document's own
    configuration: HTML-escaped in SQL first, so the markers are the only markup."""
    tsq = cast(bindparam("hq", type_=String), TSQUERY)
    cfg = _config_sql()
    title = func.ts_headline(cfg, _escaped(D.c.title), tsq, f"HighlightAll=true, {_HEADLINE}")
    body = func.ts_headline(
        cfg, _escaped(func.left(D.c.body, 20_000)), tsq, f"MaxWords=24, MinWords=10, MaxFragments=1, {_HEADLINE}"
    )
    return select(*PAGE_COLUMNS, title.label("marked_title"), body.label("marked_body")).where(
        D.c.key.in_(bindparam("keys", expanding=True))
    )


_PAGE_MARKED = _page_marked()


class _Builder:
    """The SQL of a ``tsquery`` per configuration of one alternative (a word, a phrase, a prefix), with bound values."""

    def __init__(self) -> None:
        self.params: dict[str, str] = {}

    def _bind(self, value: str) -> str:
        name = f"t{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def alternative(self, alt: Alternative, c: str) -> str:
        if alt.prefix and len(alt.words) == 1:
            return f"to_tsquery('search_{c}', {self._bind(f'{alt.words[0]}:*')})"
        whole = alt.words[0] if len(alt.words) == 1 else '"' + " ".join(alt.words) + '"'
        query = f"websearch_to_tsquery('search_{c}', {self._bind(whole)})"
        if not alt.prefix:
            return query
        # A phrase ending as-you-type: the phrase, or its words with the last as a prefix.
        head = self._bind('"' + " ".join(alt.words[:-1]) + '"')
        last = self._bind(f"{alt.words[-1]}:*")
        return f"({query} || (websearch_to_tsquery('search_{c}', {head}) && to_tsquery('search_{c}', {last})))"


def _any(variants: Sequence[str]) -> str:
    """One alternative's distinct, non-empty ``tsquery`` texts under the configurations, ORed ('' if none:
    a stop word in every configuration)."""
    distinct = [v for v in dict.fromkeys(variants) if v]
    return distinct[0] if len(distinct) == 1 else " | ".join(f"( {v} )" for v in distinct)


def _combined(terms: QueryTerms, units: list[str]) -> str:
    """The query from its alternatives' texts (``units``: the groups' alternatives, then the exclusions): the
    groups ANDed, the alternatives of each ORed, the exclusions negated; a group of stop words only is dropped."""
    texts = iter(units)
    groups = []
    for group in terms.groups:
        alternatives = [t for t in (next(texts) for _ in group) if t]
        if alternatives:
            groups.append("( " + " | ".join(f"( {t} )" for t in alternatives) + " )")
    excluded = [t for t in texts if t]
    query = " & ".join(groups)
    if excluded and (query or not terms.groups):
        none = " | ".join(f"( {t} )" for t in excluded)
        query = f"{query} & !( {none} )" if query else f"!( {none} )"
    return query


class PostgresSearchIndex(SqlSearchEngine):
    capabilities = Capabilities(english_stemming=True, stemming_beyond_english=True, typo_tolerance=True)
    _json_elements = "json_array_elements_text"

    def __init__(self, database: Any, now: Any = None, *, count_cap: int = COUNT_CAP) -> None:
        super().__init__(database, now, count_cap=count_cap)
        self._trgm_schema: tuple[str, str] | None = None
        self._tsqueries: dict[tuple[QueryTerms, tuple[str, ...]], str] = {}

    async def write_documents(self, writer: SqlSearchWriter, docs: Sequence[SearchDocument], at: datetime) -> None:
        """Three statements whatever the batch: the documents from one JSON parameter (``_UPSERT``), the
        side rows the batch's keys had dropped (after the upsert, which holds the documents' row locks
        until the commit, so a concurrent writer of the same key drops this one's side rows after it),
        then every side row (``_SIDES``)."""
        keys, stamp = [d.key for d in docs], at.isoformat()
        rows = [_json_row(d, key, at, stamp) for d, key in zip(docs, keys, strict=True)]
        conn = writer.conn
        await conn.execute(_UPSERT, {"docs": json.dumps(rows)})
        await conn.execute(_UNINDEX, {"keys": keys})
        sides = {"a": access_rows(docs, keys), "f": facet_rows(docs, keys), "w": word_rows(docs, keys)}
        await conn.execute(_SIDES, {name: json.dumps(rows) for name, rows in sides.items()})

    async def remove_text(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        return None  # the tsvector is a column of the document's row

    def _bytewise(self, value: Any) -> Any:
        return value.collate("C")

    def _scalar_facets(self, first: Any, facets: list[str]) -> list[Any]:
        """Every single-valued facet in one pass over the sample (``GROUPING SETS``), not a scan per facet:
        in each set the other facets' columns are NULL, so the first non-NULL one is the set's value."""
        values = {f: facet_value(first, f) for f in facets}
        name = case(*((func.grouping(v) == 0, literal(f)) for f, v in values.items()))
        sets = func.grouping_sets(*(tuple_(v) for v in values.values()))
        return [
            select(literal(2), name, func.coalesce(*values.values()), func.count()).select_from(first).group_by(sets)
        ]

    async def _tsquery(self, conn: AsyncConnection, terms: QueryTerms, configs: Sequence[str]) -> str:
        """One constant for the whole request: each word, phrase or prefix under every configuration, its
        distinct forms ORed (most words give the same lexemes under several), then those ANDed as the
        terms say. Word by word, not the whole query per configuration ORed: the same matches but for
        words matched under different configurations, and ``ts_rank_cd`` over ``(a | a') & (b | b')``
        costs a third of its cost over ``a & b | a' & b | a & b' | a' & b'`` (EXPLAIN ANALYZE, RESULTS.md).
        Remembered (the last ``_REMEMBERED`` queries): the same words always give the same tsquery, and a
        search asks twice (the match and the highlights)."""
        key = (terms, tuple(configs))
        known = self._tsqueries.get(key)
        if known is not None:
            return known
        builder = _Builder()
        alternatives = [a for g in terms.groups for a in g] + [Alternative((w,)) for w in terms.excluded]
        columns = [f"CAST({builder.alternative(a, c)} AS text)" for a in alternatives for c in configs]
        row = (await conn.execute(text(f"SELECT {', '.join(columns)}"), builder.params)).one() if columns else ()
        n = len(configs)
        query = _combined(terms, [_any(row[i * n : (i + 1) * n]) for i in range(len(alternatives))])
        if len(self._tsqueries) >= _REMEMBERED:
            self._tsqueries.clear()
        self._tsqueries[key] = query
        return query

    async def _match(self, conn: AsyncConnection, terms: QueryTerms) -> tuple[Any, Any]:
        """The condition on the document's ``tsv`` and the ``tsquery`` constant (None: nothing can match)."""
        q = await self._tsquery(conn, terms, PG_CONFIGS)
        if not q:
            return literal_column("false"), None
        tsq = cast(bindparam("q", q, String), TSQUERY)
        return _TSV.op("@@")(tsq), tsq

    @contextlib.asynccontextmanager
    async def _index_scans(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """Sequential scans off (for the rest of the read transaction: one round trip, not two): with a
        LIMIT, the planner expects a frequent word's matches early in a scan of the table and prices
        ``@@`` per row as cheap, but each row's ``tsv`` is compressed; the GIN bitmap of each partition
        (the terms' and the caller's tokens' posting lists intersected) is 3-4 times faster at any
        selectivity (EXPLAIN ANALYZE, RESULTS.md)."""
        await conn.execute(_SEQSCAN_OFF)
        yield

    async def _candidate_params(self, conn: AsyncConnection, query: SearchQuery) -> dict[str, str]:
        return {"q": await self._tsquery(conn, query.terms, PG_CONFIGS)}

    async def _candidates(self, conn: AsyncConnection, query: SearchQuery, size: int, *, newest: bool) -> Any:
        match, tsq = await self._match(conn, query.terms)
        where = [match, *access_match(query.visibility), *self._where(query, access=False)]
        if newest or tsq is None:
            return (
                select(*sampled(query), literal_column("0.0").label("rank"))
                .where(*where)
                .order_by(D.c.published_at.desc(), D.c.key)
                .limit(size)
            )
        # No ORDER BY: the GIN bitmap's heap order, so the LIMIT stops the scan and only these are ranked.
        return select(*sampled(query), func.ts_rank_cd(_TSV, tsq).label("rank")).where(*where).limit(size)

    async def _titles(self, conn: AsyncConnection, terms: QueryTerms, where: list[Any], size: int) -> Any:
        """The title's own ``tsvector`` under ``search_simple`` (an expression GIN index, migration 0030):
        the words are letters and digits (``parse_query``), so ``w`` / ``w:*`` need no quoting."""
        parts = []
        for group in terms.groups:
            first = group[0]
            for i, word in enumerate(first.words):
                parts.append(f"{word}:*" if first.prefix and i == len(first.words) - 1 else word)
        tsq = func.to_tsquery(literal_column("'search_simple'::regconfig"), bindparam("sq", " & ".join(parts), String))
        return select(D.c.title, D.c.kind, D.c.doc_id).where(TITLE_TSV.op("@@")(tsq), *where).limit(size)

    async def _page_rows(
        self, conn: AsyncConnection, terms: QueryTerms, keys: list[str]
    ) -> dict[str, tuple[Any, str | None]]:
        """The page's documents and their highlights in one prepared statement (built once)."""
        if terms.empty:
            return await super()._page_rows(conn, terms, keys)
        q = await self._tsquery(conn, QueryTerms(terms.groups), PG_CONFIGS)
        out: dict[str, tuple[Any, str | None]] = {}
        for r in (await conn.execute(_PAGE_MARKED, {"hq": q, "keys": keys})).mappings():
            t, b = r["marked_title"], r["marked_body"]
            out[r["key"]] = (r, _marked(f"{t} — {b}" if b else t))
        return out

    async def _known(self, conn: AsyncConnection, word: str, visibility: Any) -> bool:
        """Whether the word alone finds something the caller may read (then it is no typo)."""
        match, _ = await self._match(conn, QueryTerms(((Alternative((word,)),),)))
        async with self._index_scans(conn):
            return await conn.scalar(select(D.c.key).where(match, *access_match(visibility)).limit(1)) is not None

    async def _trgm(self, conn: AsyncConnection) -> tuple[str, str]:
        """The schema of ``pg_trgm``'s objects (its name, and quoted): named in every call, as migration
        0029 does, since the platform's own schema on its ``search_path`` need not include it."""
        if self._trgm_schema is None:
            row = (await conn.execute(_TRGM_SCHEMA)).one()
            self._trgm_schema = (str(row[0]), str(row[1]))
        return self._trgm_schema

    async def corrections(self, words: Sequence[str], visibility: Any) -> dict[str, str]:
        """The most similar (``pg_trgm``) word of the vocabulary (the titles' and tags' words) that some
        document the caller may read holds: visibility is checked once per candidate word (an ``EXISTS``
        that stops at the first readable document), not once per document of every candidate."""
        found: dict[str, str] = {}
        async with self._db.read() as conn:
            schema, quoted = await self._trgm(conn)
            for word in dict.fromkeys(words):
                if len(word) < 3 or await self._known(conn, word, visibility):
                    continue
                unaccented = func.search_unaccent(V.c.word)
                candidates = (
                    select(V.c.word).where(unaccented.op(f"OPERATOR({quoted}.%)")(word), V.c.word != word).subquery("c")
                )
                readable = exists().where(W.c.word == candidates.c.word, visible(visibility, W.c.key))
                similar: Function[float] = Function(
                    "similarity", func.search_unaccent(candidates.c.word), literal(word), packagenames=(schema,)
                )
                query = select(candidates.c.word).where(readable).order_by(similar.desc(), candidates.c.word).limit(1)
                best = await conn.scalar(query)
                if best is not None:
                    found[word] = str(best)
        return found

    async def delete_stale(self, kinds: Sequence[DocumentKind], before: datetime) -> int:
        removed = await super().delete_stale(kinds, before)
        async with self._db.write() as conn:
            await conn.execute(_PRUNE_VOCABULARY)
            await conn.commit()
        return removed
