"""What both SQL engines share: writing documents with their access tokens, facets and words, and the
query around an engine's match (visibility, kinds, filters, facet counts, sort and the page).

An engine gives ``_candidates`` (at most ``count_cap + 1`` documents its full-text query matches, with
a rank: the limit is inside the statement), ``_titles`` (title completions from its title structure),
``_page_rows`` (a page's documents with their marked text) and its writes of the full-text columns.
Visibility is a semi-join on ``search_access`` inside every statement, so a total, a facet count or the
sample they are counted on only ever holds what the caller may read.

Work per query is bounded: the total and the facets are counted exactly up to ``count_cap`` matches;
past it the result says ``TotalRelation.GTE``, the total is the cap and the facets are those of the
``count_cap`` matches sampled (the newest when sorting by date, else the first in the engine's storage
order, which only relevance ranks). A word in every document thus costs a cap's worth of rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search._tables import search_access, search_documents, search_facets, search_words
from elearning_adapters.sql.search._writer import SqlSearchWriter, insert_rows
from elearning_core.search.model import (
    COUNT_CAP,
    FACET_VALUES,
    Capabilities,
    DocumentKind,
    Hit,
    QueryTerms,
    SearchDocument,
    SearchQuery,
    SearchResult,
    SearchSort,
    Suggestion,
    TotalRelation,
    Visibility,
    highlight_html,
    top_values,
)
from elearning_core.search.ports import SearchIndex

D, A, F, W = search_documents, search_access, search_facets, search_words
_NULL: Any = cast(null(), String)
EXCERPT = 160


PAGE_COLUMNS = (D.c.key, D.c.kind, D.c.doc_id, D.c.course_id, D.c.lesson_id, D.c.title, D.c.url, D.c.published_at)
"""What a hit shows of its document."""


def visible(visibility: Visibility, key: Any = D.c.key) -> Any:
    if visibility.everything:
        return literal(True)
    return exists().where(A.c.key == key, A.c.token.in_(sorted(visibility.tokens)))


_FACET_COLUMNS = {"kind": D.c.kind, "language": D.c.language, "level": D.c.level, "free": D.c.free}
_FACET_COLUMNS |= {"duration": D.c.duration, "tag": D.c.tags}


def sampled(query: SearchQuery) -> list[Any]:
    """What a candidate row carries besides its rank: its key, its date and the columns of the facets
    asked for (the facets are counted on the sampled rows themselves, with no second read)."""
    return [D.c.key, D.c.published_at, *(_FACET_COLUMNS[f].label(f"f_{f}") for f in dict.fromkeys(query.facets))]


def facet_value(first: Any, facet: str) -> Any:
    """A single-valued facet's value in a sampled row, as text (``free`` as ``true``/``false``; NULL when the
    document has none)."""
    column = first.c[f"f_{facet}"]
    if facet == "free":
        return case((column.is_(None), _NULL), (column, "true"), else_="false")
    return cast(column, String)


_STATEMENTS_KEPT = 256


def _shape(query: SearchQuery) -> tuple[Any, ...]:
    """What of a query the sample statement embeds besides its named parameters: the facets, kinds, filters
    and the caller's tokens (an anonymous caller's statements are shared by every anonymous search)."""
    filters = tuple(sorted((f, tuple(sorted(v))) for f, v in query.filters.items()))
    kinds = tuple(sorted(k.value for k in query.kinds))
    return tuple(dict.fromkeys(query.facets)), kinds, filters, query.visibility.cache_key()


def plain_excerpt(title: str, body: str) -> str:
    return highlight_html(f"{title} — {body[:EXCERPT]}" if body else title)


class SqlSearchEngine(SearchIndex):
    capabilities = Capabilities()
    _kind: Any = D.c.kind
    _json_elements = "json_each"
    """The table function giving a JSON array's elements as rows of ``value`` (the tag facet)."""
    """The kind as the reads filter on it (an engine may hide its index from the planner)."""

    def __init__(self, database: Database, now: Any = None, *, count_cap: int = COUNT_CAP) -> None:
        self._db = database
        self.now = now or (lambda: datetime.now().astimezone())
        self.count_cap = count_cap
        """Matches counted, faceted and ranked per query at most (``TotalRelation.GTE`` past it)."""
        self._statements: dict[tuple[Any, ...], Any] = {}
        """Sample statements by shape (``_sample``), the oldest dropped past ``_STATEMENTS_KEPT``: building one
        cost a search more client CPU than running it."""

    # -- the engine's part -------------------------------------------------------------------

    async def write_documents(self, writer: SqlSearchWriter, docs: Sequence[SearchDocument], at: datetime) -> None:
        """Write the documents (distinct keys, in key order) indexed at ``at``. Portably: drop what the
        indexed ones had, then insert every row and the full-text part."""
        existing = await writer.indexed([d.key for d in docs])
        if existing:
            await writer.remove(sorted(existing))
        await insert_rows(writer.conn, docs, at)
        await self.write_text(writer.conn, docs)

    async def write_text(self, conn: AsyncConnection, docs: Sequence[SearchDocument]) -> None:
        raise NotImplementedError

    async def remove_text(self, conn: AsyncConnection, keys: Sequence[str]) -> None:
        raise NotImplementedError

    async def _candidates(self, conn: AsyncConnection, query: SearchQuery, size: int, *, newest: bool) -> Any:
        """``sampled`` columns and ``rank`` of at most ``size`` documents the caller may read that the
        terms match and the kinds and filters admit (``_where``): the newest ones when ``newest`` (rank 0),
        else the first ones in the engine's storage order, ranked. The limit is inside the statement, so a
        word in every document costs ``size`` rows, not the corpus; and as visibility is inside it too
        (each engine's full-text index holds the access tokens), which documents these are never depends
        on what the caller may not read."""
        raise NotImplementedError

    def _scalar_facets(self, first: Any, facets: list[str]) -> list[Any]:
        """Selects of ``(2, facet, value, count)`` rows of the single-valued facets over the sample's ``first``
        rows: a ``GROUP BY`` per facet (an engine may count them all in one pass)."""
        return [
            select(literal(2), literal(facet), facet_value(first, facet), func.count())
            .select_from(first)
            .group_by(facet_value(first, facet))
            for facet in facets
        ]

    async def _page_rows(
        self, conn: AsyncConnection, terms: QueryTerms, keys: list[str]
    ) -> dict[str, tuple[Any, str | None]]:
        """A page's documents (``PAGE_COLUMNS``) by key, each with its marked text (None: none to mark). Here
        unmarked, for a query without terms; an engine marks the matches of the others in the same read."""
        rows = (await conn.execute(select(*PAGE_COLUMNS).where(D.c.key.in_(keys)))).mappings()
        return {r["key"]: (r, None) for r in rows}

    def _bytewise(self, value: Any) -> Any:
        """``value`` ordered byte by byte (as Python orders strings), whatever the database's collation."""
        return value

    @contextlib.asynccontextmanager
    async def _index_scans(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """Around a bounded read (``_candidates``, ``_titles``): what the engine's planner needs to use the
        full-text index for it. Nothing by default."""
        yield

    async def _titles(self, conn: AsyncConnection, terms: QueryTerms, where: list[Any], size: int) -> Any:
        """``(title, kind, doc_id)`` of at most ``size`` documents ``where`` admits whose title the terms
        match (the last word as a prefix), from the engine's title structure."""
        raise NotImplementedError

    # -- writes ------------------------------------------------------------------------------

    def writer(self, conn: AsyncConnection) -> SqlSearchWriter:
        return SqlSearchWriter(conn, self)

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        async with self._db.write() as conn:
            await self.writer(conn).upsert(documents)
            await conn.commit()

    async def delete(self, keys: Sequence[str]) -> None:
        async with self._db.write() as conn:
            await self.writer(conn).delete(keys)
            await conn.commit()

    async def delete_course(self, course_id: str, kinds: Sequence[DocumentKind], keep: Sequence[str] = ()) -> None:
        async with self._db.write() as conn:
            await self.writer(conn).delete_course(course_id, kinds, keep)
            await conn.commit()

    async def delete_stale(self, kinds: Sequence[DocumentKind], before: datetime) -> int:
        async with self._db.write() as conn:
            removed = await self.writer(conn).delete_stale(kinds, before)
            await conn.commit()
            return removed

    # -- reads -------------------------------------------------------------------------------

    def _where(self, query: SearchQuery, *, access: bool = True) -> list[Any]:
        """Visibility (unless the engine applies it in its full-text match: ``access=False``), kinds, filters."""
        where = [visible(query.visibility)] if access else []
        if query.kinds:
            where.append(self._kind.in_(sorted(k.value for k in query.kinds)))
        for facet, values in sorted(query.filters.items()):
            where.append(exists().where(F.c.key == D.c.key, F.c.facet == facet, F.c.value.in_(sorted(values))))
        return where

    async def search(self, query: SearchQuery) -> SearchResult:
        async with self._db.read() as conn:
            return await self._search(conn, query)

    async def _sample(
        self, conn: AsyncConnection, query: SearchQuery
    ) -> tuple[list[str], int, dict[str, dict[str, int]]]:
        """One statement: the sample (at most ``count_cap + 1`` matches, a materialized CTE), then from it
        the page's keys in order, how many it holds, and the facet counts of its first ``count_cap``; so
        only a page and the counts leave the database, not the sample."""
        browse = query.terms.empty and not query.terms.excluded
        newest = browse or query.sort is SearchSort.NEWEST
        params = {} if browse else {k: v for k, v in (await self._candidate_params(conn, query)).items() if v}
        shape = (browse, newest, query.terms.empty, tuple(sorted(params)), *_shape(query))
        statement = self._statements.get(shape)
        if statement is None:
            statement = await self._sample_statement(conn, query, browse=browse, newest=newest)
            if len(self._statements) >= _STATEMENTS_KEPT:
                self._statements.pop(next(iter(self._statements)))
            self._statements[shape] = statement
        async with self._index_scans(conn):
            found = await conn.execute(statement, {**params, "page_limit": query.limit, "page_offset": query.offset})
            rows = found.all()
        keys = sorted((int(n), k) for part, k, _, n in rows if part == 0)
        matched = next(int(n) for part, _, _, n in rows if part == 1)
        facets: dict[str, dict[str, int]] = {f: {} for f in dict.fromkeys(query.facets)}
        for part, facet, value, n in rows:
            if part == 2 and value is not None:  # documents without the facet's value are not counted
                facets[facet][value] = int(n)
        ordered = {f: top_values(v) for f, v in facets.items()}
        return [k for _, k in keys], matched, ordered

    async def _candidate_params(self, conn: AsyncConnection, query: SearchQuery) -> dict[str, str]:
        """The values of the named parameters ``_candidates`` binds (the query's own text), by name: a
        statement of the same shape (``_shape``) is built once and run with these."""
        raise NotImplementedError

    async def _sample_statement(self, conn: AsyncConnection, query: SearchQuery, *, browse: bool, newest: bool) -> Any:
        """The statement ``_sample`` runs; the page's bounds are the parameters ``page_limit`` and ``page_offset``."""
        size = self.count_cap + 1
        if browse:
            statement = (
                select(*sampled(query), literal(0.0).label("rank"))
                .where(*self._where(query))
                .order_by(D.c.published_at.desc(), D.c.key)
                .limit(size)
            )
        else:
            statement = await self._candidates(conn, query, size, newest=newest)
        sample = statement.cte("sample").prefix_with("MATERIALIZED")
        order = [sample.c.published_at.desc(), sample.c.key] if newest else []
        first = select(sample).order_by(*order).limit(self.count_cap).subquery("first")
        by = [first.c.published_at.desc(), first.c.key] if newest else [first.c.rank.desc(), first.c.key]
        position = func.row_number().over(order_by=by)
        page = (
            select(literal(0).label("part"), first.c.key.label("k"), _NULL.label("v"), position.label("n"))
            .order_by(*by)
            .limit(bindparam("page_limit", type_=Integer))
            .offset(bindparam("page_offset", type_=Integer))
            .subquery("page")
        )
        parts: list[Any] = [
            select(page),
            select(literal(1), _NULL, _NULL, func.count()).select_from(sample),
        ]
        scalar = [f for f in dict.fromkeys(query.facets) if f != "tag"]
        if scalar:
            parts.extend(self._scalar_facets(first, scalar))
        for facet in dict.fromkeys(query.facets):
            column = first.c[f"f_{facet}"]
            if facet == "tag":
                tags = getattr(func, self._json_elements)(column).table_valued("value").alias("t")
                value: Any = func.substr(tags.c.value, 1, 60)
                count = func.count(func.distinct(first.c.key))
                top = (
                    select(literal(2).label("part"), literal(facet).label("k"), value.label("v"), count.label("n"))
                    .select_from(first)
                    .join(tags, true())
                    .group_by(value)
                    .order_by(count.desc(), self._bytewise(value))
                    .limit(FACET_VALUES)
                    .subquery("top_tags")
                )
                parts.append(select(top))  # the only facet with more values than a result lists
        return union_all(*parts)

    async def _search(self, conn: AsyncConnection, query: SearchQuery) -> SearchResult:
        page, matched, facets = await self._sample(conn, query)
        hits: list[Hit] = []
        if page:
            found = await self._page_rows(conn, query.terms, page)
            for key in page:
                r, marked = found[key]
                hits.append(
                    Hit(
                        DocumentKind(r["kind"]),
                        r["doc_id"],
                        r["course_id"],
                        r["title"],
                        marked or highlight_html(r["title"]),
                        r["url"],
                        r["lesson_id"],
                        r["published_at"],
                    )
                )
        capped = matched > self.count_cap
        relation = TotalRelation.GTE if capped else TotalRelation.EQ
        return SearchResult(hits, min(matched, self.count_cap), facets, total_relation=relation)

    async def suggest(self, terms: QueryTerms, visibility: Visibility, limit: int) -> list[Suggestion]:
        """Course titles first, then lessons': each kind a bounded read of the title structure."""
        seen: dict[str, Suggestion] = {}
        async with self._db.read() as conn, self._index_scans(conn):
            for kind in (DocumentKind.COURSE, DocumentKind.LESSON):
                where = [visible(visibility), self._kind == kind.value]
                rows = (await conn.execute(await self._titles(conn, terms, where, limit * 3))).all()
                for title, kind_, doc_id in rows:
                    seen.setdefault(title.casefold(), Suggestion(title, DocumentKind(kind_), doc_id))
                if len(seen) >= limit:
                    break
        return list(seen.values())[:limit]

    async def corrections(self, words: Sequence[str], visibility: Visibility) -> dict[str, str]:
        return {}

    async def count(self) -> dict[str, int]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(D.c.kind, func.count()).group_by(D.c.kind))).all()
        return {kind: int(n) for kind, n in rows}


def and_all(clauses: list[Any]) -> Any:
    return and_(*clauses) if clauses else literal(True)
