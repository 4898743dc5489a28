"""What both SQL engines share: writing documents with their access tokens, facets and words, and the
query around an engine's match (visibility, kinds, filters, facet counts, sort and the page).

An engine gives ``_matched`` (the keys its full-text query matches, with a rank), ``_highlights``
(the marked text of a page's documents) and its writes of the full-text columns. Visibility is a
semi-join on ``search_access`` inside every statement, so a total or a facet count only ever counts
what the caller may read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search._tables import search_access, search_documents, search_facets, search_words
from elearning_adapters.sql.search._writer import SqlSearchWriter, insert_rows
from elearning_core.search.model import (
    Capabilities,
    DocumentKind,
    Hit,
    QueryTerms,
    SearchDocument,
    SearchQuery,
    SearchResult,
    SearchSort,
    Suggestion,
    Visibility,
    highlight_html,
)
from elearning_core.search.ports import SearchIndex

D, A, F, W = search_documents, search_access, search_facets, search_words
EXCERPT = 160


def visible(visibility: Visibility, key: Any = D.c.key) -> Any:
    if visibility.everything:
        return literal(True)
    return exists().where(A.c.key == key, A.c.token.in_(sorted(visibility.tokens)))


def plain_excerpt(title: str, body: str) -> str:
    return highlight_html(f"{title} — {body[:EXCERPT]}" if body else title)


class SqlSearchEngine(SearchIndex):
    capabilities = Capabilities()

    def __init__(self, database: Database, now: Any = None) -> None:
        self._db = database
        self.now = now or (lambda: datetime.now().astimezone())

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

    async def _matched(self, conn: AsyncConnection, terms: QueryTerms, *, ranked: bool = True) -> Any:
        """``(key, rank)`` of the documents the terms match (rank 0 unless ``ranked``: the count and
        the facets need no rank, and computing it is most of a broad query's cost); None: no
        full-text condition (browse)."""
        raise NotImplementedError

    async def _highlights(self, conn: AsyncConnection, terms: QueryTerms, keys: list[str]) -> dict[str, str]:
        raise NotImplementedError

    async def _suggest_matched(self, conn: AsyncConnection, terms: QueryTerms) -> Any:
        """``(key, rank)`` of the documents whose title the terms match."""
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

    def _where(self, query: SearchQuery) -> list[Any]:
        where = [visible(query.visibility)]
        if query.kinds:
            where.append(D.c.kind.in_(sorted(k.value for k in query.kinds)))
        for facet, values in sorted(query.filters.items()):
            where.append(exists().where(F.c.key == D.c.key, F.c.facet == facet, F.c.value.in_(sorted(values))))
        return where

    async def search(self, query: SearchQuery) -> SearchResult:
        async with self._db.read() as conn:
            return await self._search(conn, query)

    async def _keys(self, conn: AsyncConnection, query: SearchQuery, *, ranked: bool) -> tuple[Any, bool]:
        """The subquery ``(key, rank, published_at)`` of what the caller may read that matches; and
        whether there was a full-text condition."""
        matched = await self._matched(conn, query.terms, ranked=ranked)
        if matched is None:
            base = select(D.c.key, literal(0.0).label("rank"), D.c.published_at).where(*self._where(query))
        else:
            m = matched.subquery("m")
            base = select(D.c.key, m.c.rank, D.c.published_at).join(m, m.c.key == D.c.key).where(*self._where(query))
        return base.subquery("k"), matched is not None

    async def _search(self, conn: AsyncConnection, query: SearchQuery) -> SearchResult:
        by_rank = query.sort is SearchSort.RELEVANCE
        keys, matching = await self._keys(conn, query, ranked=by_rank)
        unranked = keys if not by_rank else (await self._keys(conn, query, ranked=False))[0]
        if not by_rank or not matching:
            order = [keys.c.published_at.desc(), keys.c.key]
        else:
            order = [keys.c.rank.desc(), keys.c.key]
        page_query = (
            select(D.c.key, D.c.kind, D.c.doc_id, D.c.course_id, D.c.lesson_id, D.c.title, D.c.url, D.c.published_at)
            .join(keys, keys.c.key == D.c.key)
            .order_by(*order)
            .limit(query.limit)
            .offset(query.offset)
        )
        total = int(await conn.scalar(select(func.count()).select_from(unranked)) or 0)
        facets: dict[str, dict[str, int]] = {f: {} for f in query.facets}
        if query.facets and total:
            facet_query = (
                select(F.c.facet, F.c.value, func.count())
                .join(unranked, unranked.c.key == F.c.key)
                .where(F.c.facet.in_(query.facets))
                .group_by(F.c.facet, F.c.value)
            )
            for facet, value, count in (await conn.execute(facet_query)).all():
                facets[facet][value] = int(count)
        rows = (await conn.execute(page_query)).mappings().all() if total > query.offset else []
        marked = await self._highlights(conn, query.terms, [r["key"] for r in rows]) if rows else {}
        hits = [
            Hit(
                DocumentKind(r["kind"]),
                r["doc_id"],
                r["course_id"],
                r["title"],
                marked.get(r["key"]) or highlight_html(r["title"]),
                r["url"],
                r["lesson_id"],
                r["published_at"],
            )
            for r in rows
        ]
        ordered = {f: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for f, v in facets.items()}
        return SearchResult(hits, total, ordered)

    async def suggest(self, terms: QueryTerms, visibility: Visibility, limit: int) -> list[Suggestion]:
        async with self._db.read() as conn:
            m = (await self._suggest_matched(conn, terms)).subquery("m")
            query = (
                select(D.c.title, D.c.kind, D.c.doc_id)
                .join(m, m.c.key == D.c.key)
                .where(visible(visibility), D.c.kind != DocumentKind.THREAD.value)
                .order_by((D.c.kind == DocumentKind.COURSE.value).desc(), m.c.rank.desc(), D.c.key)
                .limit(limit * 3)
            )
            rows = (await conn.execute(query)).all()
        seen: dict[str, Suggestion] = {}
        for title, kind, doc_id in rows:
            seen.setdefault(title.casefold(), Suggestion(title, DocumentKind(kind), doc_id))
        return list(seen.values())[:limit]

    async def corrections(self, words: Sequence[str], visibility: Visibility) -> dict[str, str]:
        return {}

    async def count(self) -> dict[str, int]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(D.c.kind, func.count()).group_by(D.c.kind))).all()
        return {kind: int(n) for kind, n in rows}


def and_all(clauses: list[Any]) -> Any:
    return and_(*clauses) if clauses else literal(True)
