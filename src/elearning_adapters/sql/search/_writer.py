"""Writing documents: the rows of a batch go in set-based, a statement per table, whatever the batch's size.

Only the documents indexed already have access, facet and word rows to drop, so a fresh rebuild
(nothing indexed yet) deletes nothing (on PostgreSQL it looks, by key, without asking first). The engine writes the document rows with their full-text part
(``SqlSearchEngine.write_documents``): on PostgreSQL one ``INSERT ... SELECT`` from the batch as JSON
that computes every ``tsvector`` in the same statement and replaces an indexed row in place (``ON
CONFLICT``), clears the batch's keys' side rows, then writes the side rows from JSON arrays; on SQLite,
after asking which keys are indexed, a multi-row insert and the FTS5 rows copied from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.search._tables import search_access, search_documents, search_facets, search_words
from elearning_core.search.model import DocumentKind, SearchDocument, clean_text

if TYPE_CHECKING:
    from elearning_adapters.sql.search._index import SqlSearchEngine

D, A, F, W = search_documents, search_access, search_facets, search_words
BODY_LIMIT = 60_000
CHUNK = 500


def _text(value: str, limit: int | None = None) -> str:
    """As stored: no highlight markers (a document cannot forge a highlight), no NUL (PostgreSQL refuses it)."""
    cleaned = clean_text(value).replace("\x00", "")
    return cleaned if limit is None else cleaned[:limit]


def document_row(doc: SearchDocument, at: datetime) -> dict[str, Any]:
    return {
        "key": doc.key,
        "kind": doc.kind.value,
        "doc_id": doc.id,
        "course_id": doc.course_id,
        "lesson_id": doc.lesson_id,
        "title": _text(doc.title, 300),
        "body": _text(doc.body, BODY_LIMIT),
        "tags": list(doc.tags),
        "people": _text(doc.people),
        "language": doc.language,
        "level": doc.level,
        "free": doc.free,
        "duration": doc.duration,
        "url": doc.url,
        "published_at": doc.published_at,
        "indexed_at": at,
    }


def access_rows(docs: Sequence[SearchDocument], keys: Sequence[str]) -> list[tuple[str, str]]:
    return [(key, t) for d, key in zip(docs, keys, strict=True) for t in sorted(d.access)]


def facet_rows(docs: Sequence[SearchDocument], keys: Sequence[str]) -> list[tuple[str, str, str]]:
    return [(key, f, v[:60]) for d, key in zip(docs, keys, strict=True) for f, v in dict.fromkeys(d.facet_values())]


def word_rows(docs: Sequence[SearchDocument], keys: Sequence[str]) -> list[tuple[str, str]]:
    """The words did-you-mean proposes (``SearchDocument.vocabulary``), each with the document that holds it
    (its access decides who may be proposed the word)."""
    return [(w[:60], key) for d, key in zip(docs, keys, strict=True) for w in sorted(d.vocabulary())]


async def insert_rows(conn: AsyncConnection, docs: Sequence[SearchDocument], at: datetime) -> None:
    """The portable write of new rows (SQLite): multi-row inserts of the documents and their side rows."""
    await conn.execute(insert(D), [document_row(d, at) for d in docs])
    keys = [d.key for d in docs]
    access = [{"key": k, "token": t} for k, t in access_rows(docs, keys)]
    if access:
        await conn.execute(insert(A), access)
    facets = [{"key": k, "facet": f, "value": v} for k, f, v in facet_rows(docs, keys)]
    if facets:
        await conn.execute(insert(F), facets)
    words = [{"word": w, "key": k} for w, k in word_rows(docs, keys)]
    if words:
        await conn.execute(insert(W), words)


class SqlSearchWriter:
    """Writes on a connection the caller's transaction holds (the projection's, with its inbox row)."""

    def __init__(self, conn: AsyncConnection, engine: SqlSearchEngine) -> None:
        self.conn, self._engine = conn, engine

    async def indexed(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` have a document row now."""
        found: set[str] = set()
        statement = select(D.c.key).where(D.c.key.in_(bindparam("keys", expanding=True)))
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start : start + CHUNK])
            found.update((await self.conn.execute(statement, {"keys": chunk})).scalars())
        return found

    async def remove(self, keys: Sequence[str]) -> None:
        """Drop the keys' rows: the full-text part, the side rows and the document rows."""
        for start in range(0, len(keys), CHUNK):
            chunk = list(keys[start : start + CHUNK])
            await self._engine.remove_text(self.conn, chunk)
            for table in (A, F, W, D):
                await self.conn.execute(delete(table).where(table.c.key.in_(chunk)))

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        # In key order: two writers of overlapping batches (the live projection and a reindex) lock the
        # rows they share in the same order, so neither deadlocks the other.
        docs = sorted({d.key: d for d in documents}.values(), key=lambda d: d.key)
        if docs:
            await self._engine.write_documents(self, docs, self._engine.now())

    async def delete(self, keys: Sequence[str]) -> None:
        await self.remove(list(keys))

    async def delete_course(self, course_id: str, kinds: Sequence[DocumentKind], keep: Sequence[str] = ()) -> None:
        query = select(D.c.key).where(D.c.course_id == uuid.UUID(course_id), D.c.kind.in_([k.value for k in kinds]))
        kept = set(keep)
        await self.remove([k for k in (await self.conn.execute(query)).scalars() if k not in kept])

    async def delete_stale(self, kinds: Sequence[DocumentKind], before: datetime) -> int:
        query = select(D.c.key).where(D.c.kind.in_([k.value for k in kinds]), D.c.indexed_at < before)
        keys = list((await self.conn.execute(query)).scalars())
        await self.remove(keys)
        return len(keys)
