"""The discussion API as a client sees it: XSS payloads neutralised; the access matrix (outsiders, cohort
scoping, an anonymous author never shown to a learner in any response, mentions outside the audience
dropped, banned and blocked users, blackouts); rule refusals as problems naming the rule; votes counted once;
the moderation queue."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text

from elearning_adapters.settings import Settings
from tests.e2e.assessment_helpers import Person, course, person
from tests.e2e.http_helpers import BACKENDS, Api, Json, assert_problem, backend_settings, open_read_pool, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

COURSES = "/api/v1/courses"
XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    "[click](javascript:alert(3))",
    '<a href="javascript:alert(4)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    '<svg onload="alert(5)"></svg>',
]


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("discussion"), discussion_auto_hide_flags=2)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


class Cast:
    def __init__(self, course_id: str, teacher: Person, ta: Person, learners: dict[str, Person], cohort: str) -> None:
        self.course_id, self.teacher, self.ta, self.learners, self.cohort = course_id, teacher, ta, learners, cohort

    def __getitem__(self, name: str) -> Person:
        return self.learners[name]


async def cast(api: Api) -> Cast:
    teacher = await person(api, name="teacher")
    course_id = await course(api, owner=teacher)
    ta = await person(api, role="teaching_assistant", course_id=course_id, name="assistant")
    made = await api.client.post(f"{COURSES}/{course_id}/cohorts", json={"name": "A"}, headers=teacher.headers)
    other = await api.client.post(f"{COURSES}/{course_id}/cohorts", json={"name": "B"}, headers=teacher.headers)
    assert made.status_code == 201, made.text
    learners = {}
    for name, cohort in (("ann", made.json()["id"]), ("bob", made.json()["id"]), ("cid", other.json()["id"])):
        learners[name] = who = await person(api, name=name)
        joined = await api.client.post(
            f"{COURSES}/{course_id}/enrollments", json={"cohort_id": cohort}, headers=who.headers
        )
        assert joined.status_code == 201, joined.text
    learners["out"] = await person(api, name="outsider")
    return Cast(course_id, teacher, ta, learners, made.json()["id"])


async def new_thread(api: Api, c: Cast, who: Person, **body: object) -> Json:
    response = await api.client.post(
        f"{COURSES}/{c.course_id}/threads", json={"title": "A thread", "body": "Body", **body}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def discussion_events(api: Api, event_type: str) -> list[Json]:
    async with api.platform.database.read() as conn:
        rows = (
            await conn.execute(text("SELECT payload FROM outbox WHERE event_type = :t ORDER BY id"), {"t": event_type})
        ).scalars()
        return [r if isinstance(r, dict) else json.loads(r) for r in rows]


async def test_xss_payloads_are_neutralised_in_threads_and_replies(api: Api) -> None:
    c = await cast(api)
    thread = await new_thread(api, c, c["ann"], body="\n\n".join(XSS))
    reply = await api.client.post(
        f"/api/v1/threads/{thread['id']}/replies", json={"body": "\n\n".join(XSS)}, headers=c["bob"].headers
    )
    assert reply.status_code == 201, reply.text
    page = (await api.client.get(f"/api/v1/threads/{thread['id']}", headers=c["cid"].headers)).json()
    for post in page["posts"]:
        html = post["body_html"].lower()
        # text that merely reads "javascript:" is harmless; a link or handler carrying it is not
        for needle in ("<script", "onerror", "onload", 'href="javascript', "<iframe", "<svg", "alert(1)"):
            assert needle not in html, (needle, html)
        assert post["body"] == "\n\n".join(XSS)  # the source is kept as written


async def test_outsiders_get_403_on_the_list_and_404_on_a_thread(api: Api) -> None:
    c = await cast(api)
    thread = await new_thread(api, c, c["ann"])
    assert_problem(await api.client.get(f"{COURSES}/{c.course_id}/threads", headers=c["out"].headers), 403)
    assert_problem(await api.client.get(f"{COURSES}/{c.course_id}/threads"), 401)
    assert_problem(await api.client.get(f"/api/v1/threads/{thread['id']}", headers=c["out"].headers), 404)
    assert_problem(
        await api.client.post(f"/api/v1/threads/{thread['id']}/replies", json={"body": "x"}, headers=c["out"].headers),
        404,
    )
    assert_problem(await api.client.get(f"/api/v1/threads/{uuid.uuid4()}", headers=c["ann"].headers), 404)
    assert_problem(await api.client.get(f"{COURSES}/{uuid.uuid4()}/threads", headers=c["ann"].headers), 404)


async def test_cohort_threads_are_seen_by_their_cohort_and_staff_only(api: Api) -> None:
    c = await cast(api)
    thread = await new_thread(api, c, c["ann"], cohort_id=c.cohort)
    for who, status in ((c["bob"], 200), (c.ta, 200), (c.teacher, 200), (c["cid"], 404)):
        assert (await api.client.get(f"/api/v1/threads/{thread['id']}", headers=who.headers)).status_code == status
    listed = (await api.client.get(f"{COURSES}/{c.course_id}/threads", headers=c["cid"].headers)).json()
    assert listed["items"] == []
    # Staff may scope to any cohort of the course, not to one that is not the course's (it would reach no one).
    for url in (f"{COURSES}/{c.course_id}/threads", f"{COURSES}/{c.course_id}/announcements"):
        body = {"title": "T", "body": "B", "cohort_id": str(uuid.uuid4())}
        refused = assert_problem(await api.client.post(url, json=body, headers=c.ta.headers), 422, field="cohort_id")
        assert "not a cohort of this course" in refused["detail"]


async def test_an_anonymous_author_is_never_shown_to_another_learner(api: Api) -> None:
    c = await cast(api)
    ann, bob = c["ann"], c["bob"]
    thread = await new_thread(api, c, ann, anonymous=True, kind="question")
    tid = thread["id"]
    response = await api.client.post(
        f"/api/v1/threads/{tid}/replies", json={"body": "me too", "anonymous": True}, headers=ann.headers
    )
    reply_id = response.json()["id"]
    await api.client.patch(f"/api/v1/posts/{tid}", json={"body": "edited"}, headers=ann.headers)
    answer = await api.client.post(f"/api/v1/threads/{tid}/replies", json={"body": "answer"}, headers=bob.headers)
    seen_by_bob = [
        await api.client.get(f"{COURSES}/{c.course_id}/threads", headers=bob.headers),
        await api.client.get(f"{COURSES}/{c.course_id}/threads", params={"sort": "votes"}, headers=bob.headers),
        await api.client.get(f"/api/v1/threads/{tid}", headers=bob.headers),
        await api.client.get(f"/api/v1/posts/{tid}/history", headers=bob.headers),
        await api.client.put(f"/api/v1/posts/{reply_id}/vote", headers=bob.headers),
        await api.client.put(
            f"/api/v1/threads/{tid}/accepted-answer", json={"post_id": answer.json()["id"]}, headers=c.ta.headers
        ),
        await api.client.put(f"/api/v1/threads/{tid}/subscription", json={"state": "follow"}, headers=bob.headers),
    ]
    for seen in seen_by_bob[:5]:
        assert seen.status_code == 200, seen.text
        assert ann.id not in seen.text, seen.text
    page = seen_by_bob[2].json()
    assert page["thread"]["author"] == {"user_id": None, "name": "anonymous", "anonymous": True, "deleted": False}
    staff = (await api.client.get(f"/api/v1/threads/{tid}", headers=c.ta.headers)).json()
    assert staff["thread"]["author"]["user_id"] == ann.id
    own = (await api.client.get(f"/api/v1/threads/{tid}", headers=ann.headers)).json()
    assert own["posts"][1]["author"]["user_id"] == ann.id
    # the event keeps the author for notifications, flagged anonymous
    created = [e for e in await discussion_events(api, "discussion.thread_created.v1") if e["thread_id"] == tid]
    assert (created[0]["author_id"], created[0]["anonymous"]) == (ann.id, True)


async def test_mentions_outside_the_audience_are_dropped(api: Api) -> None:
    c = await cast(api)
    body = f"@{c['bob'].id} @{c['cid'].id} @{c['out'].id} @{c.ta.id}"
    thread = await new_thread(api, c, c["ann"], body=body, cohort_id=c.cohort)
    mentioned = [e for e in await discussion_events(api, "discussion.mentioned.v1") if e["thread_id"] == thread["id"]]
    assert len(mentioned) == 1
    assert sorted(mentioned[0]["mentioned_user_ids"]) == sorted([c["bob"].id, c.ta.id])


async def test_banned_users_blackouts_and_blocks(api: Api) -> None:
    c = await cast(api)
    thread = await new_thread(api, c, c["ann"])
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    bans = f"{COURSES}/{c.course_id}/discussion/bans"
    ban = {"user_id": c["bob"].id, "until": until, "reason": "spam"}
    assert_problem(await api.client.post(bans, json=ban, headers=c["ann"].headers), 403)
    assert (await api.client.post(bans, json=ban, headers=c.ta.headers)).status_code == 201
    refused = assert_problem(
        await api.client.post(f"/api/v1/threads/{thread['id']}/replies", json={"body": "x"}, headers=c["bob"].headers),
        409,
    )
    assert refused["type"] == "urn:elearning:problem:discussion-banned"
    now = datetime.now(UTC)
    period = {"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()}
    blackouts = f"{COURSES}/{c.course_id}/discussion/blackouts"
    assert (await api.client.put(blackouts, json={"periods": [period]}, headers=c.teacher.headers)).status_code == 200
    dark = assert_problem(
        await api.client.post(
            f"{COURSES}/{c.course_id}/threads", json={"title": "t", "body": "b"}, headers=c["cid"].headers
        ),
        409,
    )
    assert dark["type"] == "urn:elearning:problem:discussion-blackout"
    assert (await new_thread(api, c, c.ta))["author"]["user_id"] == c.ta.id
    assert (await api.client.put(blackouts, json={"periods": []}, headers=c.teacher.headers)).status_code == 200
    await new_thread(api, c, c["cid"], title="from cid")
    assert (await api.client.put(f"/api/v1/me/blocks/{c['cid'].id}", headers=c["ann"].headers)).status_code == 204
    titles = [
        t["title"]
        for t in (await api.client.get(f"{COURSES}/{c.course_id}/threads", headers=c["ann"].headers)).json()["items"]
    ]
    assert "from cid" not in titles
    assert (await api.client.delete(f"/api/v1/me/blocks/{c['cid'].id}", headers=c["ann"].headers)).status_code == 204
    titles = [
        t["title"]
        for t in (await api.client.get(f"{COURSES}/{c.course_id}/threads", headers=c["ann"].headers)).json()["items"]
    ]
    assert "from cid" in titles


async def test_votes_flags_and_the_moderation_queue(api: Api) -> None:
    c = await cast(api)
    thread = await new_thread(api, c, c["ann"])
    for _ in range(3):
        voted = await api.client.put(f"/api/v1/posts/{thread['id']}/vote", headers=c["bob"].headers)
        assert voted.json() == {"post_id": thread["id"], "votes": 1}
    reply = (
        await api.client.post(
            f"/api/v1/threads/{thread['id']}/replies", json={"body": "rude"}, headers=c["bob"].headers
        )
    ).json()
    flags = f"/api/v1/posts/{reply['id']}/flags"
    assert (await api.client.post(flags, json={"reason": "rude"}, headers=c["ann"].headers)).status_code == 204
    assert_problem(await api.client.post(flags, json={"reason": ""}, headers=c["ann"].headers), 422, field="reason")
    queue_url = f"{COURSES}/{c.course_id}/discussion/moderation-queue"
    assert_problem(await api.client.get(queue_url, headers=c["ann"].headers), 403)
    queue = (await api.client.get(queue_url, headers=c.ta.headers)).json()
    assert [(q["post"]["id"], q["reasons"]) for q in queue["items"]] == [(reply["id"], ["rude"])]
    assert (await api.client.post(flags, json={"reason": "spam"}, headers=c["cid"].headers)).status_code == 204
    page = (await api.client.get(f"/api/v1/threads/{thread['id']}", headers=c["cid"].headers)).json()
    assert [p["id"] for p in page["posts"]] == [thread["id"]]  # auto-hidden after two flags
    restored = await api.client.post(
        f"/api/v1/posts/{reply['id']}/moderation", json={"action": "restore", "reason": "fine"}, headers=c.ta.headers
    )
    assert restored.json()["state"] == "visible"
    log = (await api.client.get(f"/api/v1/posts/{reply['id']}/moderation", headers=c.ta.headers)).json()["items"]
    assert [e["action"] for e in log] == ["auto_hide", "restore"]
    assert (await api.client.get(queue_url, headers=c.ta.headers)).json()["items"] == []


async def test_rules_of_a_thread_answer_as_problems(api: Api) -> None:
    c = await cast(api)
    thread = await new_thread(api, c, c["ann"])
    flags = f"/api/v1/threads/{thread['id']}/staff-flags"
    assert_problem(await api.client.put(flags, json={"flag": "closed"}, headers=c["ann"].headers), 403)
    assert (await api.client.put(flags, json={"flag": "closed"}, headers=c.ta.headers)).json()["closed"] is True
    closed = assert_problem(
        await api.client.post(f"/api/v1/threads/{thread['id']}/replies", json={"body": "x"}, headers=c["bob"].headers),
        409,
    )
    assert closed["type"] == "urn:elearning:problem:thread-closed"
    not_question = assert_problem(
        await api.client.put(
            f"/api/v1/threads/{thread['id']}/accepted-answer", json={"post_id": None}, headers=c.ta.headers
        ),
        409,
    )
    assert not_question["type"] == "urn:elearning:problem:not-a-question"
    assert_problem(
        await api.client.post(
            f"{COURSES}/{c.course_id}/threads", json={"title": "", "body": "b"}, headers=c["ann"].headers
        ),
        422,
        field="title",
    )
    assert_problem(
        await api.client.post(
            f"{COURSES}/{c.course_id}/threads",
            json={"title": "t", "body": "b", "kind": "announcement"},
            headers=c["ann"].headers,
        ),
        422,
        field="kind",
    )


async def test_announcements_and_unread_counts(api: Api) -> None:
    c = await cast(api)
    url = f"{COURSES}/{c.course_id}/announcements"
    assert_problem(await api.client.post(url, json={"title": "t", "body": "b"}, headers=c["ann"].headers), 403)
    posted = await api.client.post(url, json={"title": "Exam", "body": "On **Monday**"}, headers=c.teacher.headers)
    assert posted.status_code == 201, posted.text
    listed = (await api.client.get(url, headers=c["bob"].headers)).json()
    assert [a["id"] for a in listed["items"]] == [posted.json()["id"]]
    event = [
        e for e in await discussion_events(api, "discussion.announcement_posted.v1") if e["course_id"] == c.course_id
    ]
    assert event[0]["body_html"] == "<p>On <strong>Monday</strong></p>\n"
    unread = f"{COURSES}/{c.course_id}/discussion/unread"
    thread = await new_thread(api, c, c["ann"])
    assert (await api.client.get(unread, headers=c["bob"].headers)).json() == {"course_id": c.course_id, "unread": 1}
    assert (await api.client.put(f"/api/v1/threads/{thread['id']}/read", headers=c["bob"].headers)).status_code == 204
    assert (await api.client.get(unread, headers=c["bob"].headers)).json()["unread"] == 0


async def inbox_types(api: Api, who: Person) -> list[str]:
    response = await api.client.get("/api/v1/me/notifications", headers=who.headers, params={"limit": 100})
    assert response.status_code == 200, response.text
    return sorted(item["type"] for item in response.json()["items"])


async def test_replies_mentions_and_announcements_reach_the_inboxes_of_those_who_may_see_them(api: Api) -> None:
    """The discussion events through the notification module: a reply notifies the thread's followers (its
    author), a mention notifies the mentioned, never the poster; an announcement reaches every learner."""
    c = await cast(api)
    thread = await new_thread(api, c, c["ann"])
    replied = await api.client.post(
        f"/api/v1/threads/{thread['id']}/replies", json={"body": f"Ask @{c['cid'].id}"}, headers=c["bob"].headers
    )
    assert replied.status_code == 201, replied.text
    events = api.platform.events
    assert events is not None
    await events.drain()
    assert "discussion_reply" in await inbox_types(api, c["ann"])
    assert "discussion_mention" in await inbox_types(api, c["cid"])
    assert not {"discussion_reply", "discussion_mention"} & set(await inbox_types(api, c["bob"]))
    assert not {"discussion_reply", "discussion_mention"} & set(await inbox_types(api, c["out"]))
    posted = await api.client.post(
        f"{COURSES}/{c.course_id}/announcements",
        json={"title": "Exam", "body": "On **Monday**"},
        headers=c.teacher.headers,
    )
    assert posted.status_code == 201, posted.text
    await events.drain()
    await api.platform.scheduler.run_now("notifications.fan-out")
    for name in ("ann", "bob", "cid"):
        assert "announcement" in await inbox_types(api, c[name]), name
    assert "announcement" not in await inbox_types(api, c["out"])
