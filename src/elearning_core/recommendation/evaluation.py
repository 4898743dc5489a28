"""Offline evaluation: split enrollments by time, train on the past, score the future.

The cut is the time before which ``train_share`` of the enrollments started. Every learner with at
least one enrollment on each side is a test case: the recommenders rank the catalog for them from their
past courses alone (which they never get back), and the case is a hit when the next course they
enrolled in after the cut is in the top ``k`` (next-item protocol: a learner with many later courses is
not an easier case). NDCG@k of that one relevant course is ``1 / log2(rank + 1)``. Every recommender sees the same training data and the same
cases; the popularity baseline is the decayed popularity at the cut.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime

from elearning_core.recommendation.model import (
    Document,
    Interaction,
    K,
    Model,
    Training,
    recommend,
    train,
)

TOP_K = 10
RECOMMENDERS = ("popularity", "collaborative", "content", "blended")


@dataclass(frozen=True, slots=True)
class Score:
    recommender: str
    hit_rate: float
    ndcg: float
    cases: int

    @property
    def standard_error(self) -> float:
        """Of the hit rate, as a binomial proportion over the cases."""
        if self.cases == 0:
            return 0.0
        return math.sqrt(max(self.hit_rate * (1 - self.hit_rate), 1e-12) / self.cases)


@dataclass(frozen=True, slots=True)
class Report:
    cut: datetime
    train_interactions: int
    scores: list[Score]

    def of(self, recommender: str) -> Score:
        return next(s for s in self.scores if s.recommender == recommender)


def time_cut(interactions: Sequence[Interaction[K]], train_share: float) -> datetime:
    if not 0 < train_share < 1:
        raise ValueError("train_share must be between 0 and 1")
    if not interactions:
        raise ValueError("there is nothing to evaluate: no enrollments")
    times = sorted(i.at for i in interactions)
    return times[min(len(times) - 1, int(len(times) * train_share))]


def ndcg(ranked: Sequence[Hashable], relevant: set[Hashable], k: int = TOP_K) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal if ideal > 0 else 0.0


def _variants(model: Model[K]) -> dict[str, tuple[Model[K], float]]:
    """Each recommender as the blend restricted to its signal (``content_weight`` last)."""
    none: Model[K] = Model(popular=model.popular)
    return {
        "popularity": (none, 0.0),
        "collaborative": (Model(also_taken=model.also_taken, popular=model.popular), 0.0),
        "content": (Model(similar=model.similar, popular=model.popular), 1.0),
        "blended": (model, 0.3),
    }


def evaluate(
    interactions: Sequence[Interaction[K]],
    documents: Sequence[Document[K]],
    *,
    train_share: float = 0.8,
    k: int = TOP_K,
    progress: Callable[[int, int], None] | None = None,
    training: Training = Training(),
) -> Report:
    cut = time_cut(interactions, train_share)
    past = [i for i in interactions if i.at < cut]
    future: dict[Hashable, set[K]] = defaultdict(set)
    history: dict[Hashable, list[Interaction[K]]] = defaultdict(list)
    for i in past:
        history[i.user_id].append(i)
    for i in sorted((i for i in interactions if i.at >= cut and i.user_id in history), key=lambda i: i.at):
        future[i.user_id] = future[i.user_id] or {i.course_id}
    model = train(past, documents, cut, training)
    cases = sorted(future, key=str)
    hits: dict[str, int] = defaultdict(int)
    gains: dict[str, float] = defaultdict(float)
    variants = _variants(model)
    for n, user in enumerate(cases):
        had = [i.course_id for i in sorted(history[user], key=lambda i: i.at)]
        relevant: set[Hashable] = set(future[user])
        relevant.difference_update(had)
        for name, (variant, weight) in variants.items():
            ranked = [r.course_id for r in recommend(had, variant, limit=k, content_weight=weight)]
            hits[name] += any(c in relevant for c in ranked)
            gains[name] += ndcg(ranked, relevant, k)
        if progress is not None:
            progress(n + 1, len(cases))
    total = len(cases)
    scores = [
        Score(name, hits[name] / total if total else 0.0, gains[name] / total if total else 0.0, total)
        for name in variants
    ]
    return Report(cut, len(past), scores)
