"""Search routes: the search itself (facets with counts, highlights, cursor pages), as-you-type
suggestions, and the synonyms admins manage. Everyone may search; what a caller gets never counts
what they may not read (the core decides, the engine filters inside its query)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Request, Response, delete, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from elearning_core.search.commands import SynonymsSpec
from elearning_core.search.model import FACETS, MAX_QUERY_LENGTH, Hit
from elearning_core.search.service import SearchRequest, SearchService
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, page_parts, paged

ERRORS = problem_responses(400, 422)
ADMIN_ERRORS = problem_responses(400, 401, 403, 404, 422)
TAGS = ["search"]
Req = Request[Any, Any, Any]
Service = NamedDependency[SearchService]
Caller = NamedDependency[Principal]
Q = Annotated[str, QueryParameter(max_length=MAX_QUERY_LENGTH, description='Words, "a phrase", -excluded')]
Kind = Annotated[list[str] | None, QueryParameter(max_items=3, description="Only these kinds: course, lesson, thread")]
Level = Annotated[
    list[str] | None,
    QueryParameter(max_items=5, description="Only courses (and their lessons and threads) of these levels"),
]
Language = Annotated[list[str] | None, QueryParameter(max_items=10, description="Only items in these languages")]
Tag = Annotated[list[str] | None, QueryParameter(max_items=10, description="Only items with one of these tags")]
Duration = Annotated[
    list[str] | None, QueryParameter(max_items=3, description="Only courses of these lengths: under-1h, 1-5h, over-5h")
]
Free = Annotated[bool | None, QueryParameter(description="Only free (true) or only paid (false) courses")]
Sort = Annotated[str, QueryParameter(max_length=20, description="relevance (default) or newest")]
Facets = Annotated[
    list[str] | None,
    QueryParameter(
        max_items=len(FACETS),
        description=f"Facets to count, each once: {', '.join(FACETS)} (comma-separated or repeated)",
    ),
]
Term = Annotated[str, Parameter(max_length=40, description="The word whose synonyms these are (`js`)")]
SuggestQ = Annotated[
    str, QueryParameter(min_length=1, max_length=MAX_QUERY_LENGTH, description="What the user typed so far")
]
SuggestSize = Annotated[
    int,
    QueryParameter(ge=1, le=20, description="How many suggestions at most (1-20, default 8); not a page: no cursor"),
]


@dataclass(frozen=True, slots=True)
class SearchHitOut:
    kind: str
    id: str
    title: str
    highlight: str
    """HTML: the text escaped, the matches in ``<mark>``."""
    url: str
    course_id: str
    lesson_id: str | None
    published_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SearchResultsOut:
    """One page of search results, with the total and the facet counts of the result."""

    items: list[SearchHitOut]
    next_cursor: str | None
    total: int
    facets: dict[str, dict[str, int]]
    did_you_mean: str | None
    """Set when nothing matched as typed and a corrected query did: the results are the corrected query's."""
    total_relation: Literal["eq", "gte"]
    """``eq``: ``total`` and the facet counts count every match. ``gte``: more matched than the engine
    counts (1,000): ``total`` is that cap, a lower bound, and the facet counts are those of the matches
    counted (a sample: lower bounds too)."""


@dataclass(frozen=True, slots=True)
class SuggestionOut:
    text: str
    kind: str
    id: str


@dataclass(frozen=True, slots=True)
class SuggestionsOut:
    query: str
    suggestions: list[SuggestionOut]


@dataclass(frozen=True, slots=True)
class SynonymOut:
    term: str
    synonyms: list[str]


def _hit(h: Hit) -> SearchHitOut:
    return SearchHitOut(
        h.kind.value,
        str(h.id),
        h.title,
        h.highlight,
        h.url,
        str(h.course_id),
        str(h.lesson_id) if h.lesson_id else None,
        h.published_at,
    )


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@get(
    "/api/v1/search",
    tags=TAGS,
    summary="Search courses, lessons and discussion threads",
    description="Every word must match (accents and case ignored; the last word also as a prefix); "
    '`"a phrase"` keeps its words in order, `-word` excludes. Filters combine (OR within one, AND across). '
    "`facets` asks for counts over the whole result; lesson text and threads appear only to those who may "
    "read them, and are never counted for others. Past 1,000 matches `total_relation` is `gte`: the total is "
    "a lower bound and the facets count the 1,000 matches counted.",
    responses=ERRORS,
    response_headers=LINK,
    opt={"public": True},
)
async def search(
    request: Req,
    search_service: Service,
    principal: Caller,
    q: Q = "",
    kind: Kind = None,
    level: Level = None,
    language: Language = None,
    tag: Tag = None,
    duration: Duration = None,
    free: Free = None,
    sort: Sort = "relevance",
    facets: Facets = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[SearchResultsOut]:
    filters = {
        "level": frozenset(_split(level)),
        "language": frozenset(_split(language)),
        "tag": frozenset(_split(tag)),
        "duration": frozenset(_split(duration)),
        "free": frozenset() if free is None else frozenset({"true" if free else "false"}),
    }
    page = await search_service.search(
        principal,
        SearchRequest(
            q=q,
            kinds=frozenset(_split(kind)),
            filters={k: v for k, v in filters.items() if v},
            facets=tuple(_split(facets)),
            sort=sort,
            cursor=cursor,
            limit=limit,
        ),
    )
    result = page.result
    body, headers = page_parts(request, Page([_hit(h) for h in result.hits], page.next_cursor))
    out = SearchResultsOut(
        body.items, body.next_cursor, result.total, result.facets, result.did_you_mean, result.total_relation.value
    )
    return Response(out, headers=headers)


@get(
    "/api/v1/search/suggest",
    tags=TAGS,
    summary="As-you-type completions",
    description="Titles of courses and lessons the caller may read whose words start as typed.",
    responses=ERRORS,
    opt={"public": True},
)
async def suggest(search_service: Service, principal: Caller, q: SuggestQ, size: SuggestSize = 8) -> SuggestionsOut:
    found = await search_service.suggest(principal, q, size)
    return SuggestionsOut(q, [SuggestionOut(s.text, s.kind.value, str(s.id)) for s in found])


@get(
    "/api/v1/search/synonyms",
    tags=TAGS,
    summary="The search synonyms (admins)",
    responses=ADMIN_ERRORS,
    response_headers=LINK,
)
async def list_synonyms(
    request: Req,
    search_service: Service,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[SynonymOut]]:
    page = await search_service.synonym_page(principal, cursor, limit)
    return paged(request, page, lambda s: SynonymOut(s[0], list(s[1])))


@put(
    "/api/v1/search/synonyms/{term:str}",
    tags=TAGS,
    summary="Set a word's synonyms (admins)",
    description='`js` -> `["javascript"]`: a search for js also finds JavaScript. Replaces the word\'s list.',
    responses=ADMIN_ERRORS,
)
async def put_synonyms(
    search_service: Service, principal: Caller, term: Term, data: JSONBody[SynonymsSpec]
) -> SynonymOut:
    word, synonyms = await search_service.put_synonyms(principal, term, data.synonyms)
    return SynonymOut(word, list(synonyms))


@delete(
    "/api/v1/search/synonyms/{term:str}",
    tags=TAGS,
    summary="Remove a word's synonyms (admins)",
    status_code=HTTP_204_NO_CONTENT,
    responses=ADMIN_ERRORS,
)
async def delete_synonyms(search_service: Service, principal: Caller, term: Term) -> None:
    await search_service.delete_synonyms(principal, term)


SEARCH_HANDLERS = [search, suggest, list_synonyms, put_synonyms, delete_synonyms]
