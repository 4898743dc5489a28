"""The offline evaluation is honest: on histories with structure the collaborative recommender beats the
popularity baseline by at least 2x hit rate@10; on histories without any, it does not beat it beyond noise.

The tolerance of the second check is statistical, not a guess: both hit rates are proportions over the
same test learners, so the standard error of their difference is at most ``sqrt(se_a**2 + se_b**2)`` (the
two are positively correlated, which only shrinks it). A recommender that found no real structure lands
within 3 such errors of the baseline (a one-sided false alarm rate of 0.13 %); the fixed seed makes the
run reproducible, the bound is what makes it meaningful."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from elearning_core.recommendation.evaluation import Report, evaluate, ndcg, time_cut
from elearning_core.recommendation.model import Interaction
from elearning_core.recommendation.synthetic import Parameters, generate


@pytest.fixture(scope="module")
def structured() -> Report:
    history = generate(Parameters(seed=17))
    return evaluate(history.interactions, history.documents)


@pytest.fixture(scope="module")
def unstructured() -> Report:
    history = generate(Parameters(seed=17, structured=False))
    return evaluate(history.interactions, history.documents)


def test_on_structured_histories_collaborative_beats_popularity_by_2x(structured: Report) -> None:
    collaborative, baseline = structured.of("collaborative"), structured.of("popularity")
    assert collaborative.cases == baseline.cases > 1_000
    assert collaborative.hit_rate >= 2 * baseline.hit_rate
    assert collaborative.ndcg >= 2 * baseline.ndcg


def test_on_histories_without_structure_collaborative_does_not_beat_popularity(unstructured: Report) -> None:
    collaborative, baseline = unstructured.of("collaborative"), unstructured.of("popularity")
    noise = math.hypot(collaborative.standard_error, baseline.standard_error)
    assert collaborative.cases > 1_000
    assert collaborative.hit_rate <= baseline.hit_rate + 3 * noise


def test_the_tolerance_would_catch_the_structured_gain(structured: Report) -> None:
    collaborative, baseline = structured.of("collaborative"), structured.of("popularity")
    noise = math.hypot(collaborative.standard_error, baseline.standard_error)
    assert collaborative.hit_rate > baseline.hit_rate + 3 * noise


def test_the_generator_follows_its_parameters() -> None:
    history = generate(Parameters(seed=3))
    p = history.parameters
    assert len(history.documents) == p.courses == 500
    assert len(set(history.cluster_of.values())) == p.clusters
    users = {i.user_id for i in history.interactions}
    assert len(users) == p.learners
    inside = 0
    by_user: dict[object, list[Interaction[int]]] = {}
    for i in history.interactions:
        by_user.setdefault(i.user_id, []).append(i)
    for mine in by_user.values():
        clusters = [history.cluster_of[i.course_id] for i in mine]
        top = sorted(set(clusters), key=clusters.count, reverse=True)[:3]
        inside += sum(c in top for c in clusters)
        # A series is taken in order: part n+1 never before part n (within the learner's series draws).
        assert len({i.course_id for i in mine}) == len(mine)
    assert inside / len(history.interactions) >= 0.8
    assert generate(Parameters(seed=3)).interactions == history.interactions


def test_series_are_taken_in_order() -> None:
    history = generate(Parameters(seed=5, inside_share=1.0))
    length = history.parameters.series_length
    for user_courses in _courses_by_user(history.interactions).values():
        taken = set(user_courses)
        for course in user_courses:
            if course % length:
                assert course - 1 in taken  # the previous part was taken (before: the order of the list)
                assert user_courses.index(course - 1) < user_courses.index(course)


def _courses_by_user(interactions: list[Interaction[int]]) -> dict[object, list[int]]:
    out: dict[object, list[int]] = {}
    for i in sorted(interactions, key=lambda i: i.at):
        out.setdefault(i.user_id, []).append(i.course_id)
    return out


def test_ndcg_and_the_time_cut() -> None:
    assert ndcg(["a", "b"], {"a"}) == 1.0
    assert ndcg(["b", "a"], {"a"}) == pytest.approx(1 / math.log2(3))
    assert ndcg(["b"], {"a"}) == 0.0
    at = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 11)]
    assert time_cut([Interaction(0, 0, t) for t in at], 0.8) == at[8]
    with pytest.raises(ValueError, match="no enrollments"):
        time_cut([], 0.8)
