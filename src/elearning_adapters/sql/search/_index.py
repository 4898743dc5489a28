"""What both SQL engines share: writing documents with their access tokens, facets and words, and the
query around an engine's match (visibility, kinds, filters, facet counts, sort and the page).

An engine gives ``_matched`` (the keys its full-text query matches, with a rank), ``_highlights``
(the marked text of a page's documents) and its writes of the full-text columns. Visibility is a
semi-join on ``search_access`` inside every statement, so a total or a facet count only ever counts
what the caller may read.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.search._tables import search_access, search_documents, search_facets, search_words
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
    clean_text,
    highlight_html,
)
from elearning_core.search.ports import SearchIndex

D, A, F, W = search_documents, search_access, search_facets, search_words
BODY_LIMIT = 60_000
EXCERPT = 160


def visible(visibility: Visibility, key: Any = D.c.key) -> Any:
    if visibility.everything:
        return literal(True)
    return exists().where(A.c.key == key, A.c.token.in_(sorted(visibility.tokens)))


def _row(doc: SearchDocument, at: datetime) -> dict[str, Any]:
    return {
        "key": doc.key,
        "kind": doc.kind.value,
        "doc_id": doc.id,
        "course_id": doc.course_id,
        "lesson_id": doc.lesson_id,
        "title": clean_text(doc.title)[:300],
        "body": clean_text(doc.body)[:BODY_LIMIT],
        "tags": list(doc.tags),
        "people": clean_text(doc.people),
        "language": doc.language,
        "level": doc.level,
        "free": doc.free,
        "duration": doc.duration,
        "url": doc.url,
        "published_at": doc.published_at,
        "indexed_at": at,
    }


def plain_excerpt(title: str, body: str) -> str:
    return highlight_html(f"{title} — {body[:EXCERPT]}" if body else title)


class SqlSearchWriter:
    """Writes on a connection the caller's transaction holds (the projection's, with its inbox row)."""

    def __init__(self, conn: AsyncConnection, engine: SqlSearchEngine) -> None:
        self._conn, self._engine = conn, engine

    async def _remove(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            await self._engine.remove_text(self._conn, chunk)
            for table in (A, F, W, D):
                await self._conn.execute(delete(table).where(table.c.key.in_(chunk)))

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        docs = list({d.key: d for d in documents}.values())
        if not docs:
            return
        at = self._engine.now()
        await self._remove([d.key for d in docs])
        await self._conn.execute(insert(D), [_row(d, at) for d in docs])
        access = [{"key": d.key, "token": t} for d in docs for t in sorted(d.access)]
        if access:
            await self._conn.execute(insert(A), access)
        facets = [{"key": d.key, "facet": f, "value": v[:60]} for d in docs for f, v in dict.fromkeys(d.facet_values())]
        await self._conn.execute(insert(F), facets)
        words = [{"word": w[:60], "key": d.key} for d in docs for w in sorted(d.vocabulary())]
        if words:
            await self._conn.execute(insert(W), words)
        await self._engine.write_text(self._conn, docs)

    async def delete(self, keys: Sequence[str]) -> None:
        await self._remove(list(keys))

    async def delete_course(self, course_id: str, kinds: Sequence[DocumentKind], keep: Sequence[str] = ()) -> None:
        query = select(D.c.key).where(D.c.course_id == uuid.UUID(course_id), D.c.kind.in_([k.value for k in kinds]))
        keys = [k for k in (await self._conn.execute(query)).scalars() if k not in set(keep)]
        await self._remove(keys)

    async def delete_stale(self, kinds: Sequence[DocumentKind], before: datetime) -> int:
        query = select(D.c.key).where(D.c.kind.in_([k.value for k in kinds]), D.c.indexed_at < before)
        keys = list((await self._conn.execute(query)).scalars())
        await self._remove(keys)
        return len(keys)


class SqlSearchEngine(SearchIndex):
    capabilities = Capabilities()

    def __init__(self, database: Database, now: Any = None) -> None:
        self._db = database
        self.now = now or (lambda: datetime.now().astimezone())

    # -- the engine's part -------------------------------------------------------------------

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
