"""The recommenders, as pure functions over plain data (ids are any hashable: UUIDs in the platform,
ints in the synthetic histories).

- ``item_similarity``: "learners who took this also took", item-item cosine on binary co-occurrence of
  courses in learners' histories (enrollments, completed or not), shrunk towards 0 for pairs seen together
  by few learners: ``sim(i, j) = c_ij / sqrt(n_i * n_j) * c_ij / (c_ij + shrinkage)``. Symmetric, in
  [0, 1], and ``sim(i, i) = n_i / (n_i + shrinkage)`` bounds every ``sim(i, j)`` (``c_ij <= min(n_i, n_j)``).
- ``content_similarity``: TF-IDF over tags (counted twice) and text, cosine of the normalised vectors.
- ``popularity``: enrollments weighted by ``2 ** (-age / half_life)``.
- ``recommend``: the personal blend, with one explanation per item (the course of the learner's history
  that contributed most).

Training keeps at most ``max_neighbours`` per item and reads at most ``max_history`` courses per learner
(the latest), so its cost is bounded by ``learners * max_history ** 2``, not by the catalog squared.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_SHRINKAGE = 5.0
DEFAULT_MAX_NEIGHBOURS = 50
DEFAULT_MAX_HISTORY = 100
DEFAULT_HALF_LIFE_DAYS = 30.0
CONTENT_WEIGHT = 0.3
"""How much content similarity counts in the personal blend next to co-occurrence (which carries more
evidence of what learners take next, measured by ``elearning recommendations evaluate``)."""
TAG_WEIGHT = 2
_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "you",
        "your",
        "this",
        "that",
        "from",
        "into",
        "are",
        "our",
        "how",
        "its",
        "all",
        "can",
        "will",
        "not",
        "but",
        "what",
        "about",
        "more",
        "des",
        "les",
        "une",
        "est",
        "pour",
        "dans",
        "der",
        "die",
        "das",
        "und",
        "mit",
    ]
)


class Reason(StrEnum):
    """Why an item is recommended: the explanation's kind."""

    ALSO_TAKEN = "also_taken"
    SIMILAR = "similar"
    POPULAR = "popular"


@dataclass(frozen=True, slots=True)
class Interaction(Generic[K]):
    """One learner's enrollment in one course: when it started, and whether it was completed."""

    user_id: Hashable
    course_id: K
    at: datetime
    completed: bool = False


@dataclass(frozen=True, slots=True)
class Document(Generic[K]):
    """What content similarity reads of a course."""

    course_id: K
    title: str
    text: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation(Generic[K]):
    course_id: K
    score: float
    reason: Reason
    because: K | None = None
    """The course of the learner's history this one is most like (None for a popular pick)."""


Neighbours = dict[K, list[tuple[K, float]]]
"""Per course, its most similar courses, best first, with their scores."""


def _top(scores: Mapping[K, float], n: int, tie: Callable[[K], Any] = str) -> list[tuple[K, float]]:
    # Ties broken by the id's text (``tie``) so that a training run is reproducible whatever the dict order.
    best = heapq.nsmallest(n, scores.items(), key=lambda kv: (-kv[1], tie(kv[0])))
    return [(k, s) for k, s in best if s > 0.0]


def cosine_cooccurrence(both: int, n_i: int, n_j: int, shrinkage: float = DEFAULT_SHRINKAGE) -> float:
    """The collaborative score of a pair: taken together by ``both``, by ``n_i`` and ``n_j`` each."""
    if both <= 0 or n_i <= 0 or n_j <= 0:
        return 0.0
    score = both / math.sqrt(n_i * n_j) * (both / (both + shrinkage))
    return min(1.0, max(0.0, score))


def item_similarity(
    baskets: Iterable[Collection[K]],
    *,
    shrinkage: float = DEFAULT_SHRINKAGE,
    max_neighbours: int = DEFAULT_MAX_NEIGHBOURS,
    tie: Callable[[K], Any] = str,
) -> Neighbours[K]:
    """Each course's ``max_neighbours`` most co-taken courses. ``baskets``: each learner's set of courses
    (already cut to ``max_history``; a course counted once per learner); equal scores ranked by ``tie``."""
    counts: Counter[K] = Counter()
    pairs: dict[K, Counter[K]] = defaultdict(Counter)
    for basket in baskets:
        items = list(dict.fromkeys(basket))
        counts.update(items)
        for a in items:
            row = pairs[a]
            row.update(items)
    neighbours: Neighbours[K] = {}
    for a, row in pairs.items():
        n_a = counts[a]
        scores = {b: cosine_cooccurrence(c, n_a, counts[b], shrinkage) for b, c in row.items() if b != a}
        neighbours[a] = _top(scores, max_neighbours, tie)
    return neighbours


def _indexed_similarity(baskets: list[list[K]], shrinkage: float, max_neighbours: int) -> Neighbours[K]:
    """``item_similarity`` on small ints standing for the ids (numbered in their text order, so the ties
    fall as they would on the ids): a UUID's hash and comparison are Python code, an int's are not, and
    the counting is most of training."""
    ids = sorted({c for basket in baskets for c in basket}, key=str)
    number = {c: n for n, c in enumerate(ids)}
    indexed = [[number[c] for c in basket] for basket in baskets]
    found = item_similarity(indexed, shrinkage=shrinkage, max_neighbours=max_neighbours, tie=int)
    return {ids[a]: [(ids[b], score) for b, score in listed] for a, listed in found.items()}


def baskets_of(interactions: Iterable[Interaction[K]], max_history: int = DEFAULT_MAX_HISTORY) -> list[list[K]]:
    """Each learner's courses, the latest ``max_history`` of them."""
    by_user: dict[Hashable, list[Interaction[K]]] = defaultdict(list)
    for i in interactions:
        by_user[i.user_id].append(i)
    baskets = []
    for history in by_user.values():
        if len(history) > max_history:
            history = sorted(history, key=lambda i: i.at)[-max_history:]
        baskets.append([i.course_id for i in history])
    return baskets


def fold(text: str) -> str:
    """Case and accents removed: ``Café`` and ``CAFE`` are one word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if w not in _STOP]


def tfidf_vectors(documents: Sequence[Document[K]]) -> dict[K, dict[str, float]]:
    """Each document's TF-IDF vector (log-scaled term counts, smooth IDF), normalised to length 1."""
    terms: dict[K, Counter[str]] = {}
    df: Counter[str] = Counter()
    for doc in documents:
        counted = Counter(words(f"{doc.title} {doc.text}"))
        for tag in doc.tags:
            counted[f"#{fold(tag)}"] += TAG_WEIGHT
        terms[doc.course_id] = counted
        df.update(counted.keys())
    n = len(documents)
    vectors: dict[K, dict[str, float]] = {}
    for course_id, counted in terms.items():
        raw = {t: (1.0 + math.log(c)) * (math.log((1 + n) / (1 + df[t])) + 1.0) for t, c in counted.items()}
        norm = math.sqrt(sum(v * v for v in raw.values()))
        vectors[course_id] = {t: v / norm for t, v in raw.items()} if norm > 0 else {}
    return vectors


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """The cosine of two normalised sparse vectors, summed in term order (the same float either way round),
    rounded to 12 places: a vector's norm is 1 only to within the last bit (two terms of 1/sqrt(2) give
    0.9999999999999998 with themselves), and a text must score no less with itself than with any other."""
    shared = sorted(a.keys() & b.keys())
    return min(1.0, max(0.0, round(math.fsum(a[t] * b[t] for t in shared), 12)))


def content_similarity(
    documents: Sequence[Document[K]], *, max_neighbours: int = DEFAULT_MAX_NEIGHBOURS, max_postings: int | None = None
) -> Neighbours[K]:
    """Each course's most similar courses by text. Candidates come from an inverted index; a term held by
    more than ``max_postings`` courses (default: a tenth of them, at least 50) proposes no candidates (it
    still counts in the score): a word every course has would make every pair a candidate."""
    vectors = tfidf_vectors(documents)
    if max_postings is None:
        max_postings = max(50, len(documents) // 10)
    postings: dict[str, list[K]] = defaultdict(list)
    for course_id, vector in vectors.items():
        for term in vector:
            postings[term].append(course_id)
    neighbours: Neighbours[K] = {}
    for course_id, vector in vectors.items():
        candidates: set[K] = set()
        for term in vector:
            listed = postings[term]
            if len(listed) <= max_postings:
                candidates.update(listed)
        candidates.discard(course_id)
        scores = {other: cosine(vector, vectors[other]) for other in candidates}
        neighbours[course_id] = _top(scores, max_neighbours)
    return neighbours


def popularity(
    interactions: Iterable[Interaction[K]], now: datetime, half_life_days: float = DEFAULT_HALF_LIFE_DAYS
) -> dict[K, float]:
    """Each course's enrollments, each weighted by how recent it is (half as much every ``half_life_days``)."""
    scores: dict[K, float] = defaultdict(float)
    half_life = half_life_days * 86_400.0
    for i in interactions:
        age = max(0.0, (now - i.at).total_seconds())
        scores[i.course_id] += 2.0 ** (-age / half_life)
    return dict(scores)


@dataclass(frozen=True, slots=True)
class Model(Generic[K]):
    """A trained model: what the read model stores."""

    also_taken: Neighbours[K] = field(default_factory=dict)
    similar: Neighbours[K] = field(default_factory=dict)
    popular: list[tuple[K, float]] = field(default_factory=list)
    trained_at: datetime | None = None
    interactions: int = 0


@dataclass(frozen=True, slots=True)
class Training:
    """The training's knobs (docs/modules/recommendation.md)."""

    shrinkage: float = DEFAULT_SHRINKAGE
    max_neighbours: int = DEFAULT_MAX_NEIGHBOURS
    max_history: int = DEFAULT_MAX_HISTORY
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    popular_kept: int = 500


def train(
    interactions: Sequence[Interaction[K]],
    documents: Sequence[Document[K]],
    now: datetime,
    training: Training = Training(),
    progress: Callable[[str], None] | None = None,
) -> Model[K]:
    """Every recommender at once; ``progress`` is told each one done (``also_taken``, ``similar``, ``popular``)."""
    step = progress or (lambda _stage: None)
    t = training
    also = _indexed_similarity(baskets_of(interactions, t.max_history), t.shrinkage, t.max_neighbours)
    step("also_taken")
    similar = content_similarity(documents, max_neighbours=t.max_neighbours)
    step("similar")
    popular = _top(popularity(interactions, now, t.half_life_days), t.popular_kept)
    step("popular")
    return Model(also, similar, popular, now, len(interactions))


def recommend(
    history: Sequence[K],
    model: Model[K],
    *,
    limit: int,
    exclude: Collection[K] = (),
    allowed: Callable[[K], bool] | None = None,
    content_weight: float = CONTENT_WEIGHT,
    tie: Callable[[K], Any] = str,
) -> list[Recommendation[K]]:
    """The learner's ranked list: co-taken and similar courses of ``history`` (latest last) blended, then
    popular ones; never a course of ``history`` or ``exclude``, and only courses ``allowed`` accepts. Equal
    scores are ranked by ``tie`` (the id's text; for UUIDs their ``int`` ranks the same, without building
    a string per candidate)."""
    taken = set(history) | set(exclude)
    scores: dict[K, float] = defaultdict(float)
    best: dict[K, tuple[float, K, Reason]] = {}
    for source, weight, reason in (
        (model.also_taken, 1.0, Reason.ALSO_TAKEN),
        (model.similar, content_weight, Reason.SIMILAR),
    ):
        if weight <= 0:
            continue
        for had in history:
            for other, score in source.get(had, ()):
                if other in taken:
                    continue
                part = weight * score
                scores[other] += part
                if other not in best or part > best[other][0]:
                    best[other] = (part, had, reason)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], tie(kv[0])))
    out: list[Recommendation[K]] = []
    for course_id, score in ranked:
        if len(out) >= limit:
            return out
        if allowed is None or allowed(course_id):
            _, because, reason = best[course_id]
            out.append(Recommendation(course_id, score, reason, because))
    for course_id, _score in model.popular:
        if len(out) >= limit:
            break
        if course_id in taken or course_id in scores or (allowed is not None and not allowed(course_id)):
            continue
        out.append(Recommendation(course_id, 0.0, Reason.POPULAR, None))
    return out
