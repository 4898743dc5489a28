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

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import String

from elearning_adapters.sql.search._index import D, SqlSearchEngine, W, visible
from elearning_adapters.sql.search._tables import LANGUAGES, PG_CONFIGS
from elearning_core.search.model import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Alternative,
    Capabilities,
    QueryTerms,
    SearchDocument,
)

_HEADLINE = f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}"
_TEXT = text(
    "UPDATE search_documents SET tsv = "
    "setweight(to_tsvector(CAST(:cfg AS regconfig), translate(title, '<>', '  ')), 'A') || "
    "setweight(to_tsvector(CAST(:cfg AS regconfig), translate(:meta, '<>', '  ')), 'B') || "
    "setweight(to_tsvector(CAST(:cfg AS regconfig), translate(body, '<>', '  ')), 'C') || "
    "setweight(to_tsvector('search_simple', translate(title, '<>', '  ')), 'A') || "
    "setweight(to_tsvector('search_simple', translate(:meta, '<>', '  ')), 'B') || "
    "setweight(to_tsvector('search_simple', translate(body, '<>', '  ')), 'C') "
    "WHERE key = :key"
)
"""Angle brackets become spaces first: the text search parser would take ``<Culture>`` for a tag and skip it."""


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

    async def write_text(self, conn: AsyncConnection, docs: Sequence[SearchDocument]) -> None:
        rows = [{"key": d.key, "cfg": config_of(d.language), "meta": " ".join((*d.tags, d.people))} for d in docs]
        await conn.execute(_TEXT, rows)

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
