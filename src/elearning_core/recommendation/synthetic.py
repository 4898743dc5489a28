"""Synthetic enrollment histories, for the evaluation's tests and the benchmarks (docs/modules/recommendation.md).

Structured (the default parameters): 5,000 learners, 500 courses in 25 topic clusters, each cluster made
of series of 4 courses taken in order (part 1 before part 2). Each learner is drawn to 1-3 clusters; 80 %
of their enrollments are inside them (the next part of a series of those clusters, the series picked by
popularity), the other 20 % anywhere in the catalog by popularity. Popularity is Zipf-distributed over
the series (exponent 1.0, in a random order of the series). Each learner enrolls 2-20 times (mean about 8),
their enrollments spread over a year, one every 1-30 days.

Unstructured (``structured=False``): the same learners, catalog, counts, times and Zipf popularity, but
every enrollment drawn from the popularity alone: no clusters, no series. A recommender that beats
popularity there has found structure that is not in the data (the evaluation's honesty check).

Every course has a title and tags drawn from its cluster's vocabulary, for content similarity.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from elearning_core.recommendation.model import Document, Interaction

START = datetime(2026, 1, 1, tzinfo=UTC)
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "ze",
    "pa",
    "qu",
    "fi",
    "do",
    "be",
    "gu",
    "ha",
    "ji",
    "ky",
    "lu",
    "wo",
]


@dataclass(frozen=True, slots=True)
class Parameters:
    learners: int = 5_000
    courses: int = 500
    clusters: int = 25
    series_length: int = 4
    clusters_per_learner: tuple[int, int] = (1, 3)
    inside_share: float = 0.8
    enrollments_per_learner: tuple[int, int] = (2, 20)
    zipf_exponent: float = 1.0
    span_days: int = 365
    completion_rate: float = 0.6
    structured: bool = True
    seed: int = 17


@dataclass(frozen=True, slots=True)
class History:
    parameters: Parameters
    interactions: list[Interaction[int]]
    documents: list[Document[int]]
    cluster_of: dict[int, int]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(3))


def _sampler(weights: list[float], rng: random.Random) -> _Draw:
    cumulative = list(itertools.accumulate(weights))
    return _Draw(cumulative, rng)


class _Draw:
    def __init__(self, cumulative: list[float], rng: random.Random) -> None:
        self._cumulative, self._rng = cumulative, rng

    def __call__(self) -> int:
        return bisect.bisect_left(self._cumulative, self._rng.random() * self._cumulative[-1])


def generate(p: Parameters = Parameters()) -> History:
    rng = random.Random(p.seed)
    per_cluster = p.courses // p.clusters
    series_per_cluster = max(1, per_cluster // p.series_length)
    cluster_of = {c: c // per_cluster for c in range(per_cluster * p.clusters)}
    courses = len(cluster_of)
    # Series: consecutive courses of a cluster, in order.
    series = [
        list(range(base + s * p.series_length, min(base + (s + 1) * p.series_length, base + per_cluster)))
        for base in range(0, courses, per_cluster)
        for s in range(series_per_cluster)
    ]
    series_of_cluster = [list(range(k * series_per_cluster, (k + 1) * series_per_cluster)) for k in range(p.clusters)]
    ranks = list(range(1, len(series) + 1))
    rng.shuffle(ranks)
    series_weight = [1.0 / r**p.zipf_exponent for r in ranks]
    # A course's own weight: its series' weight, less for later parts (fewer get there).
    course_weight = [0.0] * courses
    for s, members in enumerate(series):
        for position, c in enumerate(members):
            course_weight[c] = series_weight[s] / (1 + position)
    anywhere = _sampler(course_weight, rng)
    vocab = [[_word(rng) for _ in range(12)] for _ in range(p.clusters)]
    documents = []
    for c in range(courses):
        words = vocab[cluster_of[c]]
        picked = rng.sample(words, 5)
        documents.append(
            Document(
                c, f"{picked[0]} {picked[1]} part {c % p.series_length + 1}", " ".join(picked[2:]), tuple(picked[:2])
            )
        )

    interactions: list[Interaction[int]] = []
    for user in range(p.learners):
        count = rng.randint(*p.enrollments_per_learner) if rng.random() < 0.5 else rng.randint(2, 8)
        mine = rng.sample(range(p.clusters), rng.randint(*p.clusters_per_learner))
        mine_series = [s for k in mine for s in series_of_cluster[k]]
        inside = _sampler([series_weight[s] for s in mine_series], rng)
        at = START + timedelta(days=rng.uniform(0, p.span_days * 0.7))
        taken: set[int] = set()
        for _ in range(count * 3):  # bounded: retries when a draw is already taken
            if len(taken) >= count:
                break
            if p.structured and rng.random() < p.inside_share:
                members = series[mine_series[inside()]]
                course = next((c for c in members if c not in taken), members[-1])
            else:
                course = anywhere()
            if course in taken:
                continue
            taken.add(course)
            interactions.append(Interaction(user, course, at, rng.random() < p.completion_rate))
            at += timedelta(days=rng.uniform(1, 30), seconds=rng.randint(0, 86_399))
    return History(p, interactions, documents, cluster_of)
