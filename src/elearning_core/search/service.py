"""The search use cases: search, suggest, the synonyms admins manage and the query report.

Who may read what is decided here (``Visibility.of`` the caller's grants and memberships); the
engine only applies it inside its query. A query that finds nothing on a typo-tolerant engine is
tried once more with each word replaced by the closest word of a document the caller may read, and
the answer says so (``did_you_mean``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from elearning_core.auth.model import COURSE_STAFF, Grant, Role, ScopeKind, permissions_of
from elearning_core.search.model import (
    FACETS,
    MAX_OFFSET,
    MAX_QUERY_LENGTH,
    DocumentKind,
    QueryReport,
    SearchQuery,
    SearchResult,
    SearchSort,
    Suggestion,
    Viewer,
    Visibility,
    parse_query,
    words_of,
)
from elearning_core.search.ports import QueryLog, SearchAudience, SearchIndex, Synonyms
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal

MAX_SYNONYMS = 20


@dataclass(frozen=True, slots=True)
class SearchRequest:
    q: str = ""
    kinds: frozenset[str] = frozenset()
    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    facets: tuple[str, ...] = ()
    sort: str = SearchSort.RELEVANCE.value
    cursor: str | None = None
    limit: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True, slots=True)
class SearchPage:
    result: SearchResult
    next_cursor: str | None


def is_platform_admin(actor: Principal) -> bool:
    return actor.has_role("admin") or any(isinstance(g, Grant) and g.role is Role.PLATFORM_ADMIN for g in actor.grants)


def _staff_scopes(actor: Principal, kind: ScopeKind) -> frozenset[uuid.UUID]:
    """The ids of the ``kind`` scopes (courses, organizations) on which the actor holds a staff grant."""
    return frozenset(
        g.scope.id
        for g in actor.grants
        if isinstance(g, Grant) and g.scope.kind is kind and g.scope.id and COURSE_STAFF in permissions_of(g)
    )


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}", [FieldError(name, message)])


def _check_query(q: str, name: str = "q") -> str:
    if len(q) > MAX_QUERY_LENGTH:
        raise _invalid(name, f"must be at most {MAX_QUERY_LENGTH} characters")
    return q


def _listing(request: SearchRequest) -> str:
    """Cursors are bound to the query, its filters and its sort."""
    filters = sorted((k, sorted(v)) for k, v in request.filters.items())
    return scope_of("search", request.q, sorted(request.kinds), filters, request.facets, request.sort)


class SearchService:
    def __init__(
        self,
        index: SearchIndex,
        audience: SearchAudience,
        synonyms: Synonyms,
        log: QueryLog,
        clock: Clock,
        cursors: CursorCodec,
    ) -> None:
        self._index, self._audience, self._synonyms = index, audience, synonyms
        self._log, self._clock, self._cursors = log, clock, cursors

    async def visibility(self, actor: Principal) -> Visibility:
        if is_platform_admin(actor):
            return Visibility.of(Viewer(admin=True))
        if actor.user_id is None:
            return Visibility()
        viewer = await self._audience.viewer(actor, _staff_scopes(actor, ScopeKind.ORGANIZATION))
        return Visibility.of(replace(viewer, staff=viewer.staff | _staff_scopes(actor, ScopeKind.COURSE)))

    def _query(self, request: SearchRequest, synonyms: Mapping[str, tuple[str, ...]]) -> SearchQuery:
        q = _check_query(request.q)
        limit = check_page_size(request.limit)
        try:
            kinds = frozenset(DocumentKind(k) for k in request.kinds)
        except ValueError:
            raise _invalid("kind", f"must be one of {', '.join(k.value for k in DocumentKind)}") from None
        try:
            sort = SearchSort(request.sort)
        except ValueError:
            raise _invalid("sort", "must be relevance or newest") from None
        unknown = [f for f in request.facets if f not in FACETS]
        if unknown:
            raise _invalid("facets", f"unknown facet {unknown[0]!r} (known: {', '.join(FACETS)})")
        for name, values in request.filters.items():
            if name not in FACETS or name == "kind":
                raise _invalid(name, "is not a filter")
            if name == "free" and not values <= {"true", "false"}:
                raise _invalid("free", "must be true or false")
        terms = parse_query(q, synonyms)
        offset = self._cursors.after(_listing(request), request.cursor, lambda key: int(key[0])) or 0
        if not 0 <= offset <= MAX_OFFSET:
            raise _invalid("cursor", "is invalid or was altered")
        filters = {k: v for k, v in request.filters.items() if v}
        return SearchQuery(
            terms, Visibility(), kinds, filters, tuple(dict.fromkeys(request.facets)), sort, offset, limit
        )

    async def search(self, actor: Principal, request: SearchRequest) -> SearchPage:
        query = self._query(request, await self._synonyms.all())
        query = replace(query, visibility=await self.visibility(actor))
        result = await self._index.search(query)
        if result.total == 0 and query.terms.groups and self._index.capabilities.typo_tolerance:
            corrections = await self._index.corrections(query.terms.words(), query.visibility)
            if corrections:
                fixed = replace(query, terms=query.terms.corrected(corrections))
                retried = await self._index.search(fixed)
                if retried.total:
                    result = replace(retried, did_you_mean=fixed.terms.text())
        if request.q.strip() and request.cursor is None:
            await self._log.record(" ".join(words_of(request.q))[:MAX_QUERY_LENGTH], result.total, self._clock.now())
        end = query.offset + len(result.hits)
        more = end < result.total and end < MAX_OFFSET and len(result.hits) == query.limit
        return SearchPage(result, self._cursors.encode(_listing(request), [end]) if more else None)

    async def suggest(self, actor: Principal, q: str, limit: int = 8) -> list[Suggestion]:
        _check_query(q)
        if not 1 <= limit <= 20:
            raise _invalid("size", "must be between 1 and 20")
        terms = parse_query(q, prefix_last=True)
        if terms.empty:
            return []
        return await self._index.suggest(terms, await self.visibility(actor), limit)

    def _require_admin(self, actor: Principal, action: str) -> None:
        if not is_platform_admin(actor):
            raise PermissionDenied(action, "only platform admins manage search")

    async def synonyms(self, actor: Principal) -> dict[str, tuple[str, ...]]:
        self._require_admin(actor, "read the search synonyms")
        return await self._synonyms.all()

    async def synonym_page(
        self, actor: Principal, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[tuple[str, tuple[str, ...]]]:
        """The synonyms in term order, a page at a time."""
        table = await self.synonyms(actor)
        return self._cursors.slice(
            scope_of("search-synonyms"), list(table.items()), cursor, check_page_size(limit), lambda s: [s[0]]
        )

    async def put_synonyms(self, actor: Principal, term: str, synonyms: list[str]) -> tuple[str, tuple[str, ...]]:
        """``term`` (one word) also finds each of ``synonyms`` (words or phrases); the list replaces the old one."""
        self._require_admin(actor, "manage the search synonyms")
        words = words_of(term)
        if len(words) != 1 or len(term) > 40:
            raise _invalid("term", "must be one word of at most 40 characters")
        cleaned = tuple(dict.fromkeys(" ".join(words_of(s)) for s in synonyms if words_of(s)))
        cleaned = tuple(s for s in cleaned if s != words[0])
        if not cleaned or len(cleaned) > MAX_SYNONYMS or any(len(s) > 80 for s in cleaned):
            raise _invalid("synonyms", f"must hold 1 to {MAX_SYNONYMS} words or phrases of at most 80 characters")
        await self._synonyms.put(words[0], cleaned)
        return words[0], cleaned

    async def delete_synonyms(self, actor: Principal, term: str) -> None:
        self._require_admin(actor, "manage the search synonyms")
        word = " ".join(words_of(term))
        if not await self._synonyms.delete(word):
            raise NotFound("synonym", term)

    async def report(self, actor: Principal, *, days: int = 30, limit: int = 20) -> QueryReport:
        self._require_admin(actor, "read the search report")
        if not 1 <= days <= 366 or not 1 <= limit <= 100:
            raise _invalid("days", "days must be 1-366 and limit 1-100")
        return await self._log.report(self._clock.now() - timedelta(days=days), limit)
