"""Properties of the discussion model: mention parsing, the reply tree's order, and who is shown as author."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from elearning_core.discussion.model import MENTIONS_MAX, Post, Thread, ThreadKind, Viewer, mentioned_ids
from elearning_core.discussion.queries import ordered
from tests.fakes import T0

uuids = st.uuids()
words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(st.lists(st.tuples(words, uuids), max_size=40), words)
def test_mentions_are_the_ids_after_an_at_sign_in_first_order_without_repeats(
    parts: list[tuple[str, uuid.UUID]], tail: str
) -> None:
    body = "".join(f"{text} @{user_id} " for text, user_id in parts) + tail
    expected: list[uuid.UUID] = []
    for _, user_id in parts:
        if user_id not in expected:
            expected.append(user_id)
    assert mentioned_ids(body) == expected[:MENTIONS_MAX]


@given(uuids)
def test_an_address_or_a_word_glued_to_the_at_sign_is_no_mention(user_id: uuid.UUID) -> None:
    assert mentioned_ids(f"mail me at someone@{user_id} or x@@{user_id}") == []


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 20)), max_size=30))
def test_the_tree_lists_each_response_before_its_comments_and_siblings_oldest_first(
    shape: list[tuple[int, int]],
) -> None:
    thread_id = uuid.uuid4()
    posts = [Post(thread_id, thread_id, None, 0, None, False, "opening", T0)]
    responses: list[Post] = []
    for minutes, parent in shape:
        at = T0 + timedelta(minutes=minutes)
        if responses and parent % 2:
            target = responses[parent % len(responses)]
            posts.append(Post(uuid.uuid4(), thread_id, target.id, 2, None, False, "c", at))
        else:
            responses.append(post := Post(uuid.uuid4(), thread_id, thread_id, 1, None, False, "r", at))
            posts.append(post)
    listed = ordered(list(reversed(posts)))
    assert sorted(p.id for p in listed) == sorted(p.id for p in posts)
    assert listed[0].depth == 0
    position = {p.id: n for n, p in enumerate(listed)}
    for post in posts:
        if post.parent_id is not None:
            assert position[post.parent_id] < position[post.id]
    tops = [p for p in listed if p.depth == 1]
    assert [(p.created_at, p.id) for p in tops] == sorted((p.created_at, p.id) for p in tops)


@given(st.booleans(), st.booleans(), st.booleans())
def test_only_staff_and_the_author_see_an_anonymous_author(staff: bool, own: bool, anonymous: bool) -> None:
    author, other = uuid.uuid4(), uuid.uuid4()
    viewer = Viewer(author if own else other, staff=staff, member=True)
    shown = viewer.shown_author(author, anonymous)
    assert shown == (author if (staff or own or not anonymous) else None)


def test_a_cohort_thread_is_seen_by_its_cohort_and_staff() -> None:
    cohort = uuid.uuid4()
    thread = Thread(uuid.uuid4(), uuid.uuid4(), ThreadKind.DISCUSSION, "t", None, False, T0, T0, cohort_id=cohort)
    assert Viewer(uuid.uuid4(), staff=False, member=True, cohort_id=cohort).sees_thread(thread)
    assert not Viewer(uuid.uuid4(), staff=False, member=True, cohort_id=uuid.uuid4()).sees_thread(thread)
    assert not Viewer(uuid.uuid4(), staff=False, member=False).sees_thread(thread)
    assert Viewer(None, staff=True, member=True).sees_thread(thread)
