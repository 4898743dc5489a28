"""The discussion rules through the service on the in-memory doubles: posting, access, anonymity, mentions,
moderation, reads and the events notifications consume."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from elearning_core.discussion.commands import (
    BlackoutPeriod,
    Blackouts,
    EditPost,
    NewAnnouncement,
    NewBan,
    NewReply,
    NewThread,
)
from elearning_core.discussion.events import Mentioned, ReplyPosted, ThreadCreated
from elearning_core.discussion.model import (
    DiscussionRefusal,
    DiscussionRuleBroken,
    ModerationAction,
    PostState,
    ThreadFlag,
    ThreadKind,
    ThreadSort,
)
from elearning_core.discussion.ports import Author, ThreadFilter
from elearning_core.identity.model import DELETED_NAME
from elearning_core.shared.errors import NotFound, PermissionDenied, TooManyAttempts, ValidationFailed
from tests.discussion_fakes import InMemoryDiscussionQueries
from tests.fakes import T0
from tests.unit.discussion.harness import COHORT_B, COURSE, LESSON, World, world


async def a_thread(w: World, who: str = "ann", **fields: object) -> uuid.UUID:
    values: dict[str, object] = {"title": "How do loops end?", "body": "Question body", **fields}
    view = await w.service.create_thread(w.who(who), COURSE, NewThread.model_validate(values))
    return view.id


async def test_a_thread_with_its_lesson_and_the_event_notifications_need() -> None:
    w = world()
    view = await w.service.create_thread(
        w.who("ann"), COURSE, NewThread(kind=ThreadKind.QUESTION, title="Loops", body="How?", lesson_id=LESSON)
    )
    assert (view.lesson_id, view.lesson_title, view.author.name) == (LESSON, "Loops", "Ann")
    event = w.data.outbox[0]
    assert isinstance(event, ThreadCreated)
    assert (event.course_id, event.author_id, event.anonymous, event.title) == (COURSE, w.users["ann"], False, "Loops")
    assert await InMemoryDiscussionQueries(w.data).followers(view.id) == [w.users["ann"]]


async def test_a_lesson_of_another_course_is_refused_by_field() -> None:
    w = world()
    with pytest.raises(ValidationFailed) as refused:
        await a_thread(w, lesson_id=str(uuid.uuid4()))
    assert refused.value.errors[0].field == "lesson_id"


async def test_replies_go_two_levels_deep_and_repliers_follow() -> None:
    w = world()
    thread_id = await a_thread(w)
    response = await w.service.reply(w.who("bob"), thread_id, NewReply(body="A response"))
    comment = await w.service.reply(w.who("ann"), thread_id, NewReply(body="A comment", parent_id=response.id))
    assert (response.depth, comment.depth, comment.parent_id) == (1, 2, response.id)
    with pytest.raises(DiscussionRuleBroken) as refused:
        await w.service.reply(w.who("bob"), thread_id, NewReply(body="too deep", parent_id=comment.id))
    assert refused.value.reason is DiscussionRefusal.TOO_DEEP
    replies = [e for e in w.data.outbox if isinstance(e, ReplyPosted)]
    assert [(e.parent_id, e.parent_author_id) for e in replies] == [
        (thread_id, w.users["ann"]),
        (response.id, w.users["bob"]),
    ]
    assert w.users["bob"] in await InMemoryDiscussionQueries(w.data).followers(thread_id)


async def test_markdown_is_rendered_and_scripts_neutralised_while_the_source_is_kept() -> None:
    w = world()
    thread_id = await a_thread(w, body='Hi <script>alert(1)</script><img src=x onerror="alert(2)"> **bold**')
    page = await w.service.thread_page(w.who("bob"), thread_id)
    html = page.posts[0].body_html
    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert "onerror" not in html
    assert "alert(1)" not in html
    assert "<script>" in page.posts[0].body


async def test_anonymous_posts_hide_the_author_from_peers_only() -> None:
    w = world()
    thread_id = await a_thread(w, anonymous=True)
    await w.service.reply(w.who("ann"), thread_id, NewReply(body="me again", anonymous=True))
    peer = await w.service.thread_page(w.who("bob"), thread_id)
    assert peer.thread.author.user_id is None
    assert peer.thread.author.name == "anonymous"
    assert all(p.author.user_id is None for p in peer.posts)
    listed = await w.service.list_threads(w.who("bob"), COURSE)
    assert listed.items[0].author.user_id is None
    staff = await w.service.thread_page(w.who("ta"), thread_id)
    assert {p.author.user_id for p in staff.posts} == {w.users["ann"]}
    own = await w.service.thread_page(w.who("ann"), thread_id)
    assert own.thread.author.user_id == w.users["ann"]
    created = w.data.outbox[0]
    assert isinstance(created, ThreadCreated)
    assert created.anonymous
    assert created.author_id == w.users["ann"]


async def test_cohort_threads_are_seen_by_that_cohort_and_staff_only() -> None:
    w = world()
    thread_id = await a_thread(w, cohort_id=str(uuid.UUID(int=301)))
    assert (await w.service.thread_page(w.who("bob"), thread_id)).thread.id == thread_id
    assert (await w.service.thread_page(w.who("ta"), thread_id)).thread.id == thread_id
    with pytest.raises(NotFound):
        await w.service.thread_page(w.who("cid"), thread_id)
    assert (await w.service.list_threads(w.who("cid"), COURSE)).items == []
    with pytest.raises(ValidationFailed):
        await a_thread(w, "ann", cohort_id=str(COHORT_B))


async def test_outsiders_neither_read_nor_post() -> None:
    w = world()
    thread_id = await a_thread(w)
    with pytest.raises(PermissionDenied):
        await w.service.list_threads(w.who("out"), COURSE)
    with pytest.raises(NotFound):
        await w.service.thread_page(w.who("out"), thread_id)
    with pytest.raises(NotFound):
        await w.service.reply(w.who("out"), thread_id, NewReply(body="hi"))
    with pytest.raises(NotFound):
        await w.service.list_threads(w.who("ann"), uuid.uuid4())


async def test_mentions_reach_only_people_who_can_see_the_thread() -> None:
    w = world()
    await w.service.block(w.who("bob"), w.users["ann"])
    u = w.users
    body = f"@{u['cid']} @{u['out']} @{u['ta']} @{u['bob']} @{u['ann']} and @{u['ta']} again"
    await a_thread(w, body=body, cohort_id=str(uuid.UUID(int=301)))
    mentioned = [e for e in w.data.outbox if isinstance(e, Mentioned)]
    assert len(mentioned) == 1
    assert mentioned[0].mentioned_user_ids == [u["ta"]]


async def test_blackouts_stop_learners_not_staff() -> None:
    w = world()
    period = BlackoutPeriod(starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(hours=1))
    await w.service.set_blackouts(w.who("ta"), COURSE, Blackouts(periods=[period]))
    with pytest.raises(DiscussionRuleBroken) as refused:
        await a_thread(w)
    assert refused.value.reason is DiscussionRefusal.BLACKOUT
    assert await a_thread(w, "ta")
    w.clock.advance(timedelta(hours=2))
    assert await a_thread(w)


async def test_a_banned_learner_cannot_post_until_the_ban_ends() -> None:
    w = world()
    thread_id = await a_thread(w)
    until = T0 + timedelta(days=1)
    await w.service.ban(w.who("ta"), COURSE, NewBan(user_id=w.users["bob"], until=until, reason="spam"))
    with pytest.raises(DiscussionRuleBroken) as refused:
        await w.service.reply(w.who("bob"), thread_id, NewReply(body="hi"))
    assert refused.value.reason is DiscussionRefusal.BANNED
    with pytest.raises(PermissionDenied):
        await w.service.ban(w.who("ann"), COURSE, NewBan(user_id=w.users["bob"], until=until, reason="x"))
    w.clock.advance(timedelta(days=2))
    assert (await w.service.reply(w.who("bob"), thread_id, NewReply(body="back"))).depth == 1


async def test_the_posting_rate_limit_holds_per_user() -> None:
    w = world(posts_per_minute=2)
    await a_thread(w)
    await a_thread(w)
    with pytest.raises(TooManyAttempts):
        await a_thread(w)
    assert await a_thread(w, "bob")


async def test_closed_threads_take_no_replies_and_locked_ones_no_edits() -> None:
    w = world()
    thread_id = await a_thread(w)
    with pytest.raises(PermissionDenied):
        await w.service.set_flag(w.who("ann"), thread_id, ThreadFlag.CLOSED, True)
    await w.service.set_flag(w.who("ta"), thread_id, ThreadFlag.CLOSED, True)
    with pytest.raises(DiscussionRuleBroken):
        await w.service.reply(w.who("bob"), thread_id, NewReply(body="late"))
    await w.service.set_flag(w.who("ta"), thread_id, ThreadFlag.LOCKED, True)
    with pytest.raises(DiscussionRuleBroken) as refused:
        await w.service.edit(w.who("ann"), thread_id, EditPost(body="changed"))
    assert refused.value.reason is DiscussionRefusal.THREAD_LOCKED


async def test_edits_keep_the_previous_bodies_and_only_the_author_edits() -> None:
    w = world()
    thread_id = await a_thread(w, body="first")
    w.clock.advance(timedelta(minutes=1))
    await w.service.edit(w.who("ann"), thread_id, EditPost(body="second", title="Better title"))
    await w.service.edit(w.who("ta"), thread_id, EditPost(body="third"))
    with pytest.raises(PermissionDenied):
        await w.service.edit(w.who("bob"), thread_id, EditPost(body="mine now"))
    first = await w.service.history(w.who("bob"), thread_id, limit=1)
    rest = await w.service.history(w.who("bob"), thread_id, cursor=first.next_cursor)
    assert [h.previous_body for h in first.items + rest.items] == ["first", "second"]
    assert rest.next_cursor is None
    page = await w.service.thread_page(w.who("bob"), thread_id)
    assert (page.thread.title, page.posts[0].body, page.posts[0].edited_at) == (
        "Better title",
        "third",
        T0 + timedelta(minutes=1),
    )


async def test_votes_count_once_per_person() -> None:
    w = world()
    thread_id = await a_thread(w)
    assert await w.service.vote(w.who("bob"), thread_id) == 1
    assert await w.service.vote(w.who("bob"), thread_id) == 1
    assert await w.service.vote(w.who("cid"), thread_id) == 2
    assert await w.service.vote(w.who("bob"), thread_id, up=False) == 1
    listed = await w.service.list_threads(w.who("ann"), COURSE, sort=ThreadSort.VOTES)
    assert listed.items[0].votes == 1


async def test_the_author_or_staff_accept_a_response_of_a_question() -> None:
    w = world()
    thread_id = await a_thread(w, kind="question")
    response = await w.service.reply(w.who("bob"), thread_id, NewReply(body="answer"))
    with pytest.raises(PermissionDenied):
        await w.service.accept(w.who("cid"), thread_id, response.id)
    view = await w.service.accept(w.who("ann"), thread_id, response.id)
    assert view.accepted_post_id == response.id
    assert "discussion.answer_accepted.v1" in w.types()
    discussion = await a_thread(w)
    with pytest.raises(DiscussionRuleBroken):
        await w.service.accept(w.who("ta"), discussion, None)


async def test_flags_once_per_person_then_auto_hide_and_the_queue() -> None:
    w = world(auto_hide_flags=2)
    thread_id = await a_thread(w)
    response = await w.service.reply(w.who("ann"), thread_id, NewReply(body="rude"))
    await w.service.flag(w.who("bob"), response.id, "rude")
    await w.service.flag(w.who("bob"), response.id, "rude again")
    queue = await w.service.moderation_queue(w.who("ta"), COURSE)
    assert [(q.post.id, q.reasons) for q in queue.items] == [(response.id, ["rude"])]
    assert w.data.posts[response.id].state is PostState.VISIBLE
    await w.service.flag(w.who("cid"), response.id, "spam")
    assert w.data.posts[response.id].state is PostState.HIDDEN
    assert "discussion.post_hidden.v1" in w.types()
    page = await w.service.thread_page(w.who("bob"), thread_id)
    assert [p.id for p in page.posts] == [thread_id]
    with pytest.raises(PermissionDenied):
        await w.service.moderation_queue(w.who("bob"), COURSE)


async def test_moderators_hide_restore_delete_with_reasons_in_the_audit_trail() -> None:
    w = world()
    thread_id = await a_thread(w)
    response = await w.service.reply(w.who("bob"), thread_id, NewReply(body="oops"))
    await w.service.moderate(w.who("ta"), response.id, ModerationAction.HIDE, "off topic")
    await w.service.moderate(w.who("ta"), response.id, ModerationAction.RESTORE, "fine after all")
    deleted = await w.service.moderate(w.who("ta"), response.id, ModerationAction.DELETE, "personal data")
    assert deleted.state is PostState.DELETED
    log = (await w.service.moderation_log(w.who("ta"), response.id)).items
    assert [(e.action, e.reason, e.actor_id) for e in log] == [
        (ModerationAction.HIDE, "off topic", w.users["ta"]),
        (ModerationAction.RESTORE, "fine after all", w.users["ta"]),
        (ModerationAction.DELETE, "personal data", w.users["ta"]),
    ]
    with pytest.raises(PermissionDenied):
        await w.service.moderate(w.who("ann"), thread_id, ModerationAction.HIDE, "no")
    with pytest.raises(NotFound):  # a deleted post is gone for learners
        await w.service.vote(w.who("ann"), response.id)


async def test_blocking_hides_the_blocked_learners_posts() -> None:
    w = world()
    thread_id = await a_thread(w, "bob")
    await w.service.reply(w.who("bob"), thread_id, NewReply(body="bob says"))
    await w.service.reply(w.who("cid"), thread_id, NewReply(body="cid says"))
    await w.service.subscribe(w.who("ann"), thread_id, "follow")
    await w.service.block(w.who("ann"), w.users["cid"])
    page = await w.service.thread_page(w.who("ann"), thread_id)
    assert [p.body for p in page.posts] == ["Question body", "bob says"]
    await w.service.block(w.who("ann"), w.users["bob"])
    assert (await w.service.list_threads(w.who("ann"), COURSE)).items == []
    # who blocked the thread's author hears nothing of it, though they followed it
    assert await InMemoryDiscussionQueries(w.data).followers(thread_id) == [w.users["bob"], w.users["cid"]]


async def test_a_deleted_accounts_posts_stay_shown_as_a_deleted_user() -> None:
    w = world()
    thread_id = await a_thread(w)
    w.data.users[w.users["ann"]] = Author("Ann", deleted=True)
    page = await w.service.thread_page(w.who("bob"), thread_id)
    assert (page.thread.author.user_id, page.thread.author.name, page.posts[0].body) == (
        None,
        DELETED_NAME,
        "Question body",
    )


async def test_lists_sort_filter_paginate_and_count_unread() -> None:
    w = world()
    ids = []
    for n in range(5):
        w.clock.advance(timedelta(minutes=1))
        ids.append(await a_thread(w, "ann" if n % 2 else "bob", kind="question" if n < 3 else "discussion"))
    w.clock.advance(timedelta(minutes=1))
    await w.service.reply(w.who("cid"), ids[0], NewReply(body="bump"))
    await w.service.set_flag(w.who("ta"), ids[2], ThreadFlag.PINNED, True)
    first = await w.service.list_threads(w.who("ann"), COURSE, limit=2)
    second = await w.service.list_threads(w.who("ann"), COURSE, limit=2, cursor=first.next_cursor)
    third = await w.service.list_threads(w.who("ann"), COURSE, limit=2, cursor=second.next_cursor)
    assert [t.id for t in first.items + second.items + third.items] == [ids[2], ids[0], ids[4], ids[3], ids[1]]
    assert third.next_cursor is None
    mine = await w.service.list_threads(w.who("ann"), COURSE, where=ThreadFilter(mine=True))
    assert {t.id for t in mine.items} == {ids[1], ids[3]}
    questions = await w.service.list_threads(w.who("ann"), COURSE, where=ThreadFilter(kind=ThreadKind.QUESTION))
    assert len(questions.items) == 3
    response = await w.service.reply(w.who("bob"), ids[1], NewReply(body="answer"))
    await w.service.accept(w.who("ann"), ids[1], response.id)
    unanswered = await w.service.list_threads(w.who("ann"), COURSE, sort=ThreadSort.UNANSWERED)
    assert [t.id for t in unanswered.items[:2]] == [ids[0], ids[2]]
    # ann wrote ids 1 and 3 (read on posting) but new replies came to 1 since.
    assert await w.service.unread_count(w.who("ann"), COURSE) == 4
    await w.service.mark_read(w.who("ann"), ids[0])
    assert await w.service.unread_count(w.who("ann"), COURSE) == 3
    with pytest.raises(ValidationFailed):
        await w.service.list_threads(w.who("cid"), COURSE, cursor=first.next_cursor)


async def test_announcements_are_staff_only_and_carry_rendered_html() -> None:
    w = world()
    with pytest.raises(PermissionDenied):
        await w.service.announce(w.who("ann"), COURSE, NewAnnouncement(title="Hi", body="x"))
    view = await w.service.announce(w.who("ta"), COURSE, NewAnnouncement(title="Exam", body="On *Monday*"))
    event = w.data.outbox[-1]
    assert event.type == "discussion.announcement_posted.v1"
    assert event.payload()["body_html"] == "<p>On <em>Monday</em></p>\n"
    assert [a.id for a in (await w.service.announcements(w.who("bob"), COURSE)).items] == [view.id]
    assert (await w.service.list_threads(w.who("bob"), COURSE)).items == []


async def test_muting_a_thread_takes_a_follower_or_watcher_out_of_its_audience() -> None:
    w = world()
    thread_id = await a_thread(w)
    await w.service.watch(w.who("cid"), COURSE, True)
    await w.service.subscribe(w.who("bob"), thread_id, "follow")
    queries = InMemoryDiscussionQueries(w.data)
    assert set(await queries.followers(thread_id)) == {w.users["ann"], w.users["bob"], w.users["cid"]}
    await w.service.subscribe(w.who("cid"), thread_id, "mute")
    await w.service.subscribe(w.who("ann"), thread_id, "mute")
    await w.service.reply(w.who("ann"), thread_id, NewReply(body="still muted"))
    assert await queries.followers(thread_id) == [w.users["bob"]]
    assert await queries.watchers(COURSE) == [w.users["cid"]]
