"""What the search module needs from outside: the index (two engines and a fake pass one contract
suite), the synonyms admins manage, the caller's memberships, and the query log."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from elearning_core.search.model import (
    Capabilities,
    DocumentKind,
    QueryReport,
    QueryTerms,
    SearchDocument,
    SearchQuery,
    SearchResult,
    Suggestion,
    Viewer,
    Visibility,
)
from elearning_core.shared.ports import Principal


class SearchIndexWriter(Protocol):
    """The projection's side: idempotent writes (a document replaces the one with its key)."""

    async def upsert(self, documents: Sequence[SearchDocument]) -> None: ...

    async def delete(self, keys: Sequence[str]) -> None: ...

    async def delete_course(self, course_id: str, kinds: Sequence[DocumentKind], keep: Sequence[str] = ()) -> None:
        """Every document of ``course_id`` of those kinds except the ``keep`` keys."""
        ...

    async def delete_stale(self, kinds: Sequence[DocumentKind], before: datetime) -> int:
        """Documents of those kinds not written since ``before`` (the end of an online reindex)."""
        ...


class SearchIndex(SearchIndexWriter, Protocol):
    capabilities: Capabilities

    async def search(self, query: SearchQuery) -> SearchResult: ...

    async def suggest(self, terms: QueryTerms, visibility: Visibility, limit: int) -> list[Suggestion]: ...

    async def corrections(self, words: Sequence[str], visibility: Visibility) -> dict[str, str]:
        """For each word, the closest other word of the documents the caller may read (typo-tolerant
        engines only; others answer ``{}``)."""
        ...

    async def count(self) -> dict[str, int]: ...


class Synonyms(Protocol):
    async def all(self) -> dict[str, tuple[str, ...]]: ...

    async def put(self, term: str, synonyms: tuple[str, ...]) -> None: ...

    async def delete(self, term: str) -> bool: ...


class SearchAudience(Protocol):
    """Who the caller is in the courses: enrollments, cohorts, owned courses (grants come with the principal)."""

    async def viewer(self, principal: Principal, staff_of: Collection[uuid.UUID] = ()) -> Viewer:
        """``staff_of``: organizations on which the caller holds a staff grant: their courses are staff courses."""
        ...


class QueryLog(Protocol):
    async def record(self, text: str, results: int, at: datetime) -> None: ...

    async def report(self, since: datetime, limit: int) -> QueryReport: ...


SynonymTable = Mapping[str, tuple[str, ...]]
