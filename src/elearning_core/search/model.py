"""What the search index holds and how a query is put to it.

A ``SearchDocument`` is one searchable thing (a published course, a lesson of a published version,
a discussion thread) with the access tokens that say who may read it. A caller's ``Visibility`` is
the set of tokens they hold, decided here from their grants, enrollments and cohorts; an engine
applies it inside its query, so totals, facet counts, suggestions and did-you-mean never reflect a
document the caller may not read.

Queries are parsed here once (``parse_query``), so every engine gets the same terms: groups of
alternatives (a word, a quoted phrase, and the synonyms of a word), excluded words, and whether the
last word is a prefix (as-you-type).
"""

from __future__ import annotations

import enum
import html
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

PUBLIC = "public"
FACETS = ("kind", "level", "language", "tag", "free", "duration")
MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
MAX_OFFSET = 1_000
COUNT_CAP = 1_000
"""How many matches an engine counts, facets and ranks at most per query (``TotalRelation.GTE`` past it)."""
FACET_VALUES = 100
"""How many values a facet lists at most: its most frequent ones (Meilisearch's ``maxValuesPerFacet``); a tag
facet over a thousand matches could otherwise list a thousand tags."""


def top_values(counts: Mapping[str, int]) -> dict[str, int]:
    """A facet's values as a result lists them: by count, most first, then by value; the first ``FACET_VALUES``."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_VALUES])


HIGHLIGHT_START, HIGHLIGHT_END = "\ue000", "\ue001"
"""Private-use markers an engine puts around matches before the text is HTML-escaped (then ``<mark>``)."""

_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')


class DocumentKind(enum.StrEnum):
    COURSE = "course"
    LESSON = "lesson"
    THREAD = "thread"


class SearchSort(enum.StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"


class TotalRelation(enum.StrEnum):
    """How a result's ``total`` relates to the number of matches (Elasticsearch's ``total.relation``)."""

    EQ = "eq"
    """Exact: the total and the facet counts count every match the caller may read."""
    GTE = "gte"
    """More matched than an engine counts (its cap): ``total`` is the cap, a lower bound, and the facet
    counts are those of the first ``total`` matches (a sample, lower bounds too)."""


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD without combining marks, casefolded."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words_of(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def clean_text(text: str) -> str:
    """Text as indexed: without the highlight markers (a document cannot forge a highlight)."""
    return text.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")


def course_members(course_id: uuid.UUID) -> str:
    return f"course:{course_id}"


def course_staff(course_id: uuid.UUID) -> str:
    return f"staff:{course_id}"


def cohort_members(cohort_id: uuid.UUID) -> str:
    return f"cohort:{cohort_id}"


def duration_bucket(seconds: int | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    hours = seconds / 3600
    return "under-1h" if hours < 1 else "1-5h" if hours <= 5 else "over-5h"


@dataclass(frozen=True, slots=True)
class SearchDocument:
    kind: DocumentKind
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    body: str
    url: str
    published_at: datetime
    access: frozenset[str]
    """Who may read it: any caller holding one of these tokens (``PUBLIC``, ``course:``, ``staff:``, ``cohort:``)."""
    tags: tuple[str, ...] = ()
    people: str = ""
    language: str = "en"
    level: str | None = None
    free: bool | None = None
    duration: str | None = None
    lesson_id: uuid.UUID | None = None

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.id}"

    def facet_values(self) -> list[tuple[str, str]]:
        values = [("kind", self.kind.value), ("language", self.language)]
        if self.level is not None:
            values.append(("level", self.level))
        if self.free is not None:
            values.append(("free", "true" if self.free else "false"))
        if self.duration is not None:
            values.append(("duration", self.duration))
        values.extend(("tag", t) for t in sorted(set(self.tags)))
        return values

    def vocabulary(self) -> set[str]:
        """The words did-you-mean may propose from this document (title and tags)."""
        return {w for w in words_of(" ".join((self.title, *self.tags))) if len(w) >= 3}


@dataclass(frozen=True, slots=True)
class Viewer:
    """What the access rules need to know about a caller: read from their grants and enrollments."""

    admin: bool = False
    enrolled: frozenset[uuid.UUID] = frozenset()
    cohorts: frozenset[uuid.UUID] = frozenset()
    staff: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class Visibility:
    """The tokens a caller holds; ``everything`` for platform admins."""

    tokens: frozenset[str] = frozenset({PUBLIC})
    everything: bool = False

    @classmethod
    def of(cls, viewer: Viewer) -> Visibility:
        """The rules: everyone reads public documents; enrolled learners and staff read their courses'
        gated lessons and course-wide threads; staff also read every cohort's threads of their courses
        (``staff:``); a learner reads the threads of their own cohort."""
        tokens = {PUBLIC}
        tokens.update(course_members(c) for c in viewer.enrolled | viewer.staff)
        tokens.update(course_staff(c) for c in viewer.staff)
        tokens.update(cohort_members(k) for k in viewer.cohorts)
        return cls(frozenset(tokens), everything=viewer.admin)

    def allows(self, access: Iterable[str]) -> bool:
        return self.everything or not self.tokens.isdisjoint(access)

    def cache_key(self) -> str:
        return "*" if self.everything else ",".join(sorted(self.tokens))


@dataclass(frozen=True, slots=True)
class Alternative:
    """One way a group matches: a word, or a phrase of several words in order."""

    words: tuple[str, ...]
    prefix: bool = False
    """The last word may be the start of a longer one (as-you-type)."""


@dataclass(frozen=True, slots=True)
class QueryTerms:
    groups: tuple[tuple[Alternative, ...], ...] = ()
    """Every group must match (AND); within a group any alternative (OR)."""
    excluded: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.groups

    def words(self) -> list[str]:
        return [w for g in self.groups for w in g[0].words]

    def text(self) -> str:
        """The query as a user would type it (the first alternative of each group)."""
        parts = []
        for group in self.groups:
            first = group[0]
            parts.append(first.words[0] if len(first.words) == 1 else '"' + " ".join(first.words) + '"')
        return " ".join([*parts, *(f"-{w}" for w in self.excluded)])

    def corrected(self, corrections: Mapping[str, str]) -> QueryTerms:
        groups = tuple(
            tuple(Alternative(tuple(corrections.get(w, w) for w in a.words), False) for a in g) for g in self.groups
        )
        return QueryTerms(groups, self.excluded)


def parse_query(
    text: str, synonyms: Mapping[str, tuple[str, ...]] | None = None, *, prefix_last: bool = True
) -> QueryTerms:
    """Web-search syntax: words (all must match), ``"a phrase"``, ``-word`` to exclude. Folded
    (case and accents); a word with synonyms matches any of them; the last bare word is also a prefix
    (when the text does not end with a space). At most ``MAX_TERMS`` groups."""
    synonyms = synonyms or {}
    groups: list[tuple[Alternative, ...]] = []
    excluded: list[str] = []
    for m in _TOKEN.finditer(text):
        negated = bool(m.group(1) or m.group(3))
        words = tuple(words_of(m.group(2) if m.group(2) is not None else m.group(4)))
        if not words:
            continue
        if negated:
            excluded.extend(words)
            continue
        if m.group(2) is not None:
            groups.append((Alternative(words),))
            continue
        for w in words:
            alts = [Alternative((w,))]
            alts.extend(Alternative(tuple(words_of(s))) for s in synonyms.get(w, ()) if words_of(s))
            groups.append(tuple(alts))
    groups = groups[:MAX_TERMS]
    ends_bare = bool(text) and not text[-1].isspace() and not text.rstrip().endswith('"')
    if prefix_last and groups and ends_bare and not text.split()[-1].startswith("-"):
        last = groups[-1]
        groups[-1] = (Alternative(last[0].words, prefix=True), *last[1:])
    return QueryTerms(tuple(groups), tuple(dict.fromkeys(excluded))[:MAX_TERMS])


@dataclass(frozen=True, slots=True)
class SearchQuery:
    terms: QueryTerms
    visibility: Visibility
    kinds: frozenset[DocumentKind] = frozenset()
    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Facet -> accepted values: OR within a facet, AND across facets."""
    facets: tuple[str, ...] = ()
    sort: SearchSort = SearchSort.RELEVANCE
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True, slots=True)
class Hit:
    kind: DocumentKind
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    highlight: str
    """HTML: the matched text escaped, matches in ``<mark>``."""
    url: str
    lesson_id: uuid.UUID | None = None
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]]
    did_you_mean: str | None = None
    total_relation: TotalRelation = TotalRelation.EQ


@dataclass(frozen=True, slots=True)
class Suggestion:
    text: str
    kind: DocumentKind
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine guarantees beyond the common contract."""

    english_stemming: bool = False
    stemming_beyond_english: bool = False
    typo_tolerance: bool = False


@dataclass(frozen=True, slots=True)
class QueryCount:
    text: str
    count: int
    zero_results: int


@dataclass(frozen=True, slots=True)
class QueryReport:
    most_frequent: list[QueryCount]
    zero_results: list[QueryCount]


def highlight_html(marked: str) -> str:
    """Escape a marked fragment, then turn the markers into ``<mark>``: the text can never inject HTML."""
    escaped = html.escape(marked, quote=True)
    return escaped.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>")
