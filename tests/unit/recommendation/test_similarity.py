"""Properties of the similarity scores: symmetric, bounded in [0, 1], and a course is at least as similar to
itself as to any other (co-occurrence and content alike); and the popularity decay."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.recommendation.model import (
    Document,
    Interaction,
    Model,
    content_similarity,
    cosine,
    cosine_cooccurrence,
    item_similarity,
    popularity,
    recommend,
    tfidf_vectors,
)

COURSES = list(range(8))
baskets = st.lists(st.sets(st.sampled_from(COURSES), min_size=1, max_size=6), min_size=1, max_size=40)
shrinkages = st.floats(min_value=0.0, max_value=50.0)
words = st.sampled_from(["python", "data", "café", "Cafe", "design", "music", "art", "history", "the", "x"])
documents = st.lists(st.tuples(st.lists(words, max_size=8), st.lists(words, max_size=3)), min_size=1, max_size=8).map(
    lambda docs: [Document(i, " ".join(text), "", tuple(tags)) for i, (text, tags) in enumerate(docs)]
)


def _pair_scores(data: list[set[int]], shrinkage: float) -> dict[tuple[int, int], float]:
    """Every pair's score, self-pairs included, from the counts (the formula ``item_similarity`` ranks by)."""
    count = {c: sum(c in b for b in data) for c in COURSES}
    return {
        (a, b): cosine_cooccurrence(sum(a in x and b in x for x in data), count[a], count[b], shrinkage)
        for a, b in itertools.product(COURSES, COURSES)
    }


@settings(max_examples=300, deadline=None)
@given(data=baskets, shrinkage=shrinkages)
def test_co_occurrence_scores_are_symmetric_bounded_and_maximal_on_the_diagonal(
    data: list[set[int]], shrinkage: float
) -> None:
    scores = _pair_scores(data, shrinkage)
    for (a, b), score in scores.items():
        assert 0.0 <= score <= 1.0
        assert score == scores[(b, a)]
        assert scores[(a, a)] >= score
        assert scores[(b, b)] >= score


@settings(max_examples=200, deadline=None)
@given(data=baskets, shrinkage=shrinkages)
def test_the_neighbour_lists_hold_those_scores_best_first_and_never_the_course_itself(
    data: list[set[int]], shrinkage: float
) -> None:
    scores = _pair_scores(data, shrinkage)
    neighbours = item_similarity(data, shrinkage=shrinkage, max_neighbours=3)
    for course, listed in neighbours.items():
        assert course not in [other for other, _ in listed]
        assert [s for _, s in listed] == sorted((s for _, s in listed), reverse=True)
        for other, score in listed:
            assert score == scores[(course, other)] > 0
            # What is listed in one direction has the same score in the other.
            back = dict(neighbours.get(other, []))
            assert course not in back or back[course] == score
        unlisted = [scores[(course, o)] for o in COURSES if o != course and o not in dict(listed)]
        if len(listed) == 3:
            assert all(s <= listed[-1][1] for s in unlisted)


@settings(max_examples=300, deadline=None)
@given(docs=documents)
def test_content_scores_are_symmetric_bounded_and_a_text_is_most_like_itself(docs: list[Document[int]]) -> None:
    vectors = tfidf_vectors(docs)
    for a, b in itertools.product(vectors, vectors):
        score = cosine(vectors[a], vectors[b])
        assert 0.0 <= score <= 1.0
        assert score == cosine(vectors[b], vectors[a])
        assert cosine(vectors[a], vectors[a]) >= score
    for course, listed in content_similarity(docs).items():
        assert all(other != course and 0 < s <= 1 for other, s in listed)


def test_shrinkage_ranks_a_pair_seen_once_below_a_pair_seen_often() -> None:
    # A and B: always together, 20 learners; C and D: 1 learner only, perfectly "similar" unshrunk.
    data = [{0, 1}] * 20 + [{2, 3}]
    assert cosine_cooccurrence(1, 1, 1, shrinkage=0) == cosine_cooccurrence(20, 20, 20, shrinkage=0) == 1.0
    assert cosine_cooccurrence(1, 1, 1) < cosine_cooccurrence(20, 20, 20)
    neighbours = item_similarity(data)
    assert neighbours[0][0][1] > neighbours[2][0][1]


def test_accents_and_case_do_not_split_a_word_and_tags_weigh_more() -> None:
    docs = [
        Document(0, "Café design"),
        Document(1, "CAFE design"),
        Document(2, "design music", tags=("music",)),
        Document(3, "design music"),
        Document(4, "design art", tags=("Café",)),
    ]
    vectors = tfidf_vectors(docs)
    assert cosine(vectors[0], vectors[1]) > 0.99
    # Tags are terms of their own ("#music"), weighing more than the same word in the text.
    assert "#music" in vectors[2]
    assert "#cafe" in vectors[4]
    assert vectors[2]["#music"] > vectors[2]["music"]


def test_popularity_halves_every_half_life() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    recent = [Interaction(u, "new", now) for u in range(4)]
    old = [Interaction(u, "old", now - timedelta(days=30)) for u in range(8)]
    scores = popularity(recent + old, now, half_life_days=30)
    assert scores["new"] == 4.0
    assert abs(scores["old"] - 4.0) < 1e-9


@given(st.lists(st.uuids(), min_size=3, max_size=20, unique=True))
def test_ties_ranked_by_a_uuids_number_fall_as_by_its_text(ids: list[uuid.UUID]) -> None:
    # The personal list breaks score ties by ``UUID.int`` (the service's ``tie``), standing for the text.
    had, *others = ids
    model: Model[uuid.UUID] = Model(also_taken={had: [(o, 0.5) for o in others]})
    by_text = [r.course_id for r in recommend([had], model, limit=len(ids))]
    by_number = [r.course_id for r in recommend([had], model, limit=len(ids), tie=lambda u: u.int)]
    assert by_number == by_text == sorted(others, key=str)
