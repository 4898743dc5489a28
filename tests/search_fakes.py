"""In-memory doubles of the search ports, kept honest by tests/contract/test_search_index.py."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from elearning_core.search.model import (
    COUNT_CAP,
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Alternative,
    Capabilities,
    DocumentKind,
    Hit,
    QueryCount,
    QueryReport,
    QueryTerms,
    SearchDocument,
    SearchQuery,
    SearchResult,
    SearchSort,
    Suggestion,
    TotalRelation,
    Viewer,
    Visibility,
    clean_text,
    highlight_html,
    top_values,
    words_of,
)
from elearning_core.search.ports import QueryLog, SearchAudience, SearchIndex, Synonyms
from elearning_core.shared.ports import Principal

EXCERPT = 160


def _alt_matches(alt: Alternative, words: list[str]) -> bool:
    n = len(alt.words)
    for i in range(len(words) - n + 1):
        window = words[i : i + n]
        head_ok = window[:-1] == list(alt.words[:-1])
        last = window[-1]
        if head_ok and (last == alt.words[-1] or (alt.prefix and last.startswith(alt.words[-1]))):
            return True
    return False


def _matches(terms: QueryTerms, words: list[str]) -> bool:
    if any(w in words for w in terms.excluded):
        return False
    return all(any(_alt_matches(a, words) for a in g) for g in terms.groups)


def _mark(text: str, terms: QueryTerms) -> str:
    wanted = {w for g in terms.groups for a in g for w in a.words}
    prefixes = {a.words[-1] for g in terms.groups for a in g if a.prefix}
    out, last = [], 0
    for m in re.finditer(r"[^\W_]+", text):
        folded = " ".join(words_of(m.group()))
        if folded in wanted or any(folded.startswith(p) for p in prefixes):
            out.append(text[last : m.start()] + HIGHLIGHT_START + m.group() + HIGHLIGHT_END)
            last = m.end()
    out.append(text[last:])
    return "".join(out)


class InMemorySearchIndex(SearchIndex):
    capabilities = Capabilities()

    def __init__(self, now: object = None, *, count_cap: int = COUNT_CAP) -> None:
        self.docs: dict[str, SearchDocument] = {}
        self.indexed_at: dict[str, datetime] = {}
        self._now = now
        self.count_cap = count_cap

    def _words(self, d: SearchDocument) -> list[str]:
        return words_of(" ".join((d.title, d.body, " ".join(d.tags), d.people)))

    async def upsert(self, documents: Sequence[SearchDocument]) -> None:
        for d in documents:
            clean = SearchDocument(
                d.kind,
                d.id,
                d.course_id,
                clean_text(d.title)[:300],
                clean_text(d.body),
                d.url,
                d.published_at,
                d.access,
                d.tags,
                clean_text(d.people),
                d.language,
                d.level,
                d.free,
                d.duration,
                d.lesson_id,
            )
            self.docs.pop(d.key, None)  # a rewritten document is stored last, as a SQL row is
            self.docs[d.key] = clean
            self.indexed_at[d.key] = datetime.now().astimezone() if self._now is None else self._now()  # type: ignore[operator]

    async def delete(self, keys: Sequence[str]) -> None:
        for k in keys:
            self.docs.pop(k, None)

    async def delete_course(self, course_id: str, kinds: Sequence[DocumentKind], keep: Sequence[str] = ()) -> None:
        for k, d in list(self.docs.items()):
            if str(d.course_id) == course_id and d.kind in kinds and k not in keep:
                del self.docs[k]

    async def delete_stale(self, kinds: Sequence[DocumentKind], before: datetime) -> int:
        stale = [k for k, d in self.docs.items() if d.kind in kinds and self.indexed_at[k] < before]
        await self.delete(stale)
        return len(stale)

    def _score(self, d: SearchDocument, terms: QueryTerms) -> float:
        title = words_of(d.title)
        meta = words_of(" ".join((*d.tags, d.people)))
        body = words_of(d.body)
        score = 0.0
        for g in terms.groups:
            for weight, words in ((10.0, title), (5.0, meta), (1.0, body)):
                if any(_alt_matches(a, words) for a in g):
                    score += weight
        return score

    async def search(self, query: SearchQuery) -> SearchResult:
        found = []
        for d in self.docs.values():
            if not query.visibility.allows(d.access):
                continue
            if query.kinds and d.kind not in query.kinds:
                continue
            values = d.facet_values()
            if any(not any((f, v) in values for v in vs) for f, vs in query.filters.items()):
                continue
            if not (query.terms.empty and not query.terms.excluded) and not _matches(query.terms, self._words(d)):
                continue
            found.append(d)
        newest = query.sort is SearchSort.NEWEST or (query.terms.empty and not query.terms.excluded)
        if newest:
            found.sort(key=lambda d: d.key)
            found.sort(key=lambda d: d.published_at, reverse=True)
        capped = len(found) > self.count_cap
        found = found[: self.count_cap]  # the newest, or the first stored: as the SQL engines sample
        if not newest:
            found.sort(key=lambda d: (-self._score(d, query.terms), d.key))
        facets: dict[str, dict[str, int]] = {f: {} for f in query.facets}
        for d in found:
            for f, v in dict.fromkeys(d.facet_values()):
                if f in facets:
                    facets[f][v] = facets[f].get(v, 0) + 1
        page = found[query.offset : query.offset + query.limit]
        hits = []
        for d in page:
            if query.terms.empty:
                marked = highlight_html(d.title)
            else:
                body = _mark(d.body, query.terms)
                snippet = body[:EXCERPT] if HIGHLIGHT_START in body else ""
                title = _mark(d.title, query.terms)
                marked = highlight_html(f"{title} — {snippet}" if snippet else title)
            hits.append(Hit(d.kind, d.id, d.course_id, d.title, marked, d.url, d.lesson_id, d.published_at))
        ordered = {f: top_values(v) for f, v in facets.items()}
        return SearchResult(hits, len(found), ordered, total_relation=TotalRelation.GTE if capped else TotalRelation.EQ)

    async def suggest(self, terms: QueryTerms, visibility: Visibility, limit: int) -> list[Suggestion]:
        found = [
            d
            for d in self.docs.values()
            if d.kind is not DocumentKind.THREAD
            and visibility.allows(d.access)
            and _matches(QueryTerms(terms.groups), words_of(d.title))
        ]
        found.sort(key=lambda d: (d.kind is not DocumentKind.COURSE, -self._score(d, terms), d.key))
        seen: dict[str, Suggestion] = {}
        for d in found:
            seen.setdefault(d.title.casefold(), Suggestion(d.title, d.kind, d.id))
        return list(seen.values())[:limit]

    async def corrections(self, words: Sequence[str], visibility: Visibility) -> dict[str, str]:
        return {}

    async def count(self) -> dict[str, int]:
        return dict(Counter(d.kind.value for d in self.docs.values()))


class InMemorySynonyms(Synonyms):
    def __init__(self) -> None:
        self.table: dict[str, tuple[str, ...]] = {}

    async def all(self) -> dict[str, tuple[str, ...]]:
        return dict(sorted(self.table.items()))

    async def put(self, term: str, synonyms: tuple[str, ...]) -> None:
        self.table[term] = synonyms

    async def delete(self, term: str) -> bool:
        return self.table.pop(term, None) is not None


class InMemoryQueryLog(QueryLog):
    def __init__(self) -> None:
        self.entries: list[tuple[str, int, datetime]] = []

    async def record(self, text: str, results: int, at: datetime) -> None:
        self.entries.append((text, results, at))

    async def report(self, since: datetime, limit: int) -> QueryReport:
        counts: Counter[str] = Counter()
        zeros: Counter[str] = Counter()
        for text, results, at in self.entries:
            if at >= since:
                counts[text] += 1
                zeros[text] += results == 0
        frequent = sorted(counts, key=lambda t: (-counts[t], t))[:limit]
        zero = sorted((t for t in zeros if zeros[t]), key=lambda t: (-zeros[t], t))[:limit]
        return QueryReport(
            [QueryCount(t, counts[t], zeros[t]) for t in frequent], [QueryCount(t, counts[t], zeros[t]) for t in zero]
        )


class FakeSearchAudience(SearchAudience):
    def __init__(self) -> None:
        self.viewers: dict[uuid.UUID, Viewer] = {}
        self.organizations: dict[uuid.UUID, set[uuid.UUID]] = {}
        """An organization's courses."""

    async def viewer(self, principal: Principal, staff_of: Collection[uuid.UUID] = ()) -> Viewer:
        if principal.user_id is None:
            return Viewer()
        found = self.viewers.get(principal.user_id, Viewer())
        courses = {c for organization in staff_of for c in self.organizations.get(organization, ())}
        return replace(found, staff=found.staff | courses)
