"""The pagination contract (docs/pagination.md), executable: every list the API serves pages alike.

Two halves. The OpenAPI document is checked so that a new route cannot drift: no GET answers a
bare JSON array, ``limit`` never comes without ``cursor``, a page is ``{items, next_cursor}`` and
documents its ``Link`` header. Then every listing is walked on SQLite and PostgreSQL through more
items than one page, following the ``Link`` header: nothing repeated, nothing skipped, the last
page says so (``next_cursor`` null, no ``Link``), and a forged cursor or one of another listing
or filter is a 422 naming ``cursor``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.certificate.commands import AwardSettings
from elearning_core.certificate.model import SubjectKind
from elearning_core.identity.commands import CreateOrganization, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.e2e.assessment_helpers import (
    API,
    KINDS,
    Person,
    a_question,
    answer,
    course,
    create_question,
    create_quiz,
    enroll,
    fixed,
    person,
    quiz_settings,
    start,
    submit,
)
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, Json, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMIT = 2
"""Items per page in the walks: every listing below holds more than one page."""
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


# -- the OpenAPI document ------------------------------------------------------------------


def _resolve(doc: Json, schema: Json) -> Json:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def contract_violations(doc: Json) -> list[str]:
    """What in the document breaks the contract, one line per finding (empty: it holds)."""
    found = []
    for path, item in doc["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        where = f"GET {path}"
        params = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        ok = operation["responses"].get("200", {})
        schema = _resolve(doc, ok.get("content", {}).get("application/json", {}).get("schema", {}))
        properties = schema.get("properties", {})
        if schema.get("type") == "array":
            found.append(f"{where}: answers a bare JSON array")
        if "limit" in params and "cursor" not in params:
            found.append(f"{where}: has limit without cursor")
        if {"after", "next_after"} & (params | properties.keys()):
            found.append(f"{where}: pages with after/next_after, not cursor/next_cursor")
        items = _resolve(doc, properties.get("items", {}))
        # A list response: paged, or a wrapper around an array (``{"items": [...]}`` and little else);
        # an entity that holds a bounded array among its fields (an attempt's items) is no list.
        wrapper = items.get("type") == "array" and len(properties) <= 2
        listed = wrapper or "cursor" in params or "next_cursor" in properties
        if not listed:
            continue
        if not {"items", "next_cursor"} <= set(schema.get("required", [])) or items.get("type") != "array":
            found.append(f"{where}: a list response without required items (array) and next_cursor")
        if not {"limit", "cursor"} <= params:
            found.append(f"{where}: a list without the limit and cursor parameters")
        if "Link" not in ok.get("headers", {}):
            found.append(f"{where}: a paged response without its Link header documented")
    return found


async def test_the_checker_finds_each_kind_of_drift() -> None:  # async only to share the module's mark
    """The checker itself: each rule fires on a document that breaks it (a checker that never
    fails would pass any API)."""
    page = {"type": "object", "properties": {"items": {"type": "array"}}, "required": ["items"]}
    bad = {
        "components": {"schemas": {"Page": page}},
        "paths": {
            "/bare": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "array"}}}}}}},
            "/limit": {"get": {"parameters": [{"name": "limit", "in": "query"}], "responses": {}}},
            "/page": {
                "get": {
                    "parameters": [{"name": "after", "in": "query"}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/x/Page"}}}}},
                }
            },
        },
    }
    found = "\n".join(contract_violations(bad))
    for expected in (
        "GET /bare: answers a bare JSON array",
        "GET /limit: has limit without cursor",
        "GET /page: pages with after/next_after",
        "GET /page: a list response without required items (array) and next_cursor",
        "GET /page: a list without the limit and cursor parameters",
        "GET /page: a paged response without its Link header documented",
    ):
        assert expected in found


# -- a world with more than one page of everything ----------------------------------------


@dataclass
class World:
    """Every listing's URL and the ids it must list, exactly."""

    listings: dict[str, tuple[str, dict[str, str], set[str]]] = field(default_factory=dict)
    """name -> (URL, the caller's headers, the expected ids)."""


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("pagination"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


async def ok(response: Awaitable[Any], status: int = 200) -> Json:
    answered = await response
    assert answered.status_code == status, answered.text
    return dict(answered.json())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(running: Api) -> World:
    api = await running.reset()
    client, w = api.client, World()
    owner = await person(api, name="owner")
    learners = [await person(api, name="learner") for _ in range(5)]
    people = [owner, *learners]

    # The catalog, and a learner enrolled in five courses (newest first on /me/enrollments).
    catalog = [await course(api) for _ in range(5)]
    mine = []
    for course_id in catalog:
        mine.append(
            (await ok(client.post(f"{COURSES}/{course_id}/enrollments", headers=learners[0].headers), 201))["id"]
        )

    # One course with five of each of its lists.
    main = await course(api, owner=owner)
    base = f"{COURSES}/{main}"
    for who in learners:
        await enroll(api, main, who)
    cohorts = [
        (await ok(client.post(f"{base}/cohorts", json={"name": f"C{i}"}, headers=ADMIN), 201))["id"] for i in range(5)
    ]
    videos = [
        (await ok(client.post(f"{base}/videos", json={"title": f"V{i}"}, headers=ADMIN), 201))["id"] for i in range(5)
    ]
    vtt = {**ADMIN, "Content-Type": "text/vtt"}
    languages = ["de", "en", "es", "fr", "pt-BR"]
    for language in languages:
        cues = "WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n"
        await ok(client.put(f"{API}/videos/{videos[0]}/captions/{language}", content=cues, headers=vtt), 201)
    questions = [await create_question(api, main, a_question("true_false"), ADMIN) for _ in range(5)]
    dated = [{"due_at": f"2031-0{i + 1}-01T00:00:00Z"} for i in range(3)] + [{}, {}]  # two without: title decides
    quizzes = [
        await create_quiz(api, main, quiz_settings(f"Q{i}", [fixed(questions[i])], **dated[i]), ADMIN, publish=True)
        for i in range(5)
    ]
    attempts = [(await start(api, quizzes[0]["id"], who))["id"] for who in learners]

    # Statistics over three questions; a grading queue of three essays.
    graded = await create_quiz(
        api, main, quiz_settings("Three", [fixed(q) for q in questions[:3]]), ADMIN, publish=True
    )
    for who in learners[:2]:
        attempt = await start(api, graded["id"], who)
        for q in questions[:3]:
            await answer(api, attempt["id"], q["id"], KINDS["true_false"].right, who)
        await submit(api, attempt["id"], who)
    essays = [await create_question(api, main, a_question("essay"), ADMIN) for _ in range(3)]
    marked = await create_quiz(api, main, quiz_settings("Essays", [fixed(q) for q in essays]), ADMIN, publish=True)
    attempt = await start(api, marked["id"], learners[0])
    for q in essays:
        await answer(api, attempt["id"], q["id"], KINDS["essay"].right, learners[0])
    await submit(api, attempt["id"], learners[0])

    # A course published four times: four versions.
    versioned = await api.course_with_outline("Versioned")
    for n in range(4):
        await ok(client.patch(f"{COURSES}/{versioned['id']}", json={"title": f"Versioned {n}"}, headers=ADMIN))
        await api.publish(versioned["id"])

    organizations = []
    for i in range(5):
        created = await api.platform.identity.create_organization(
            SYSTEM, CreateOrganization(slug=f"org-{i}-{uuid.uuid4().hex[:6]}", name=f"Org {i}")
        )
        organizations.append(str(created.id))

    # The owner teaches its course and assists in the five catalog courses.
    for course_id in catalog:
        grant = RoleGrantSpec(role="teaching_assistant", scope="course", scope_id=uuid.UUID(course_id))
        await api.platform.identity.grant_role(SYSTEM, uuid.UUID(owner.id), grant)

    # Five published paths (one catalog course each), all of which the first learner follows.
    paths, path_enrollments = [], []
    for i, course_id in enumerate(catalog):
        body = {"title": f"Path {i}", "slug": f"path-{i}-{uuid.uuid4().hex[:6]}"}
        path = await ok(client.post("/api/v1/learning-paths", json=body, headers=ADMIN), 201)
        structure = {"parts": [{"kind": "required", "course_ids": [course_id]}]}
        await ok(client.put(f"/api/v1/learning-paths/{path['id']}/structure", json=structure, headers=ADMIN))
        await ok(client.post(f"/api/v1/learning-paths/{path['id']}/publish", headers=ADMIN))
        paths.append(path["id"])
        enrolled = client.post(f"/api/v1/learning-paths/{path['id']}/enrollment", headers=learners[0].headers)
        path_enrollments.append((await ok(enrolled, 201))["id"])
    # Certificates: the first learner's in the five catalog courses, and every learner's in the main one.
    certificates = api.platform.certificates
    for course_id in [*catalog, main]:
        await certificates.set_award(SYSTEM, SubjectKind.COURSE, uuid.UUID(course_id), AwardSettings(enabled=True))
    my_certificates = set()
    for course_id in catalog:
        issued = await certificates.record_completion(
            uuid.UUID(learners[0].id), SubjectKind.COURSE, uuid.UUID(course_id)
        )
        assert issued is not None
        my_certificates.add(str(issued.id))
    course_certificates = set()
    for who in learners:
        issued = await certificates.record_completion(uuid.UUID(who.id), SubjectKind.COURSE, uuid.UUID(main))
        assert issued is not None
        course_certificates.add(str(issued.id))
        if who is learners[0]:
            my_certificates.add(str(issued.id))

    published = {*catalog, main, versioned["id"]}
    assert api.platform.events is not None
    await api.platform.events.drain()  # the progress projection: one row per enrollment
    w.listings = {
        "my certificates": ("/api/v1/me/certificates", learners[0].headers, my_certificates),
        "course certificates": (f"{base}/certificates", ADMIN, course_certificates),
        "catalog": (COURSES, {}, published),
        "versions": (f"{COURSES}/{versioned['id']}/versions", ADMIN, {"1", "2", "3", "4"}),
        "users": ("/api/v1/admin/users", ADMIN, {p.id for p in people}),
        "organizations": ("/api/v1/organizations", ADMIN, set(organizations)),
        "enrollments": (f"{base}/enrollments", ADMIN, await _enrollment_ids(api, main, learners)),
        "my enrollments": (
            "/api/v1/me/enrollments",
            learners[0].headers,
            {*mine, *await _enrollment_ids(api, main, learners[:1])},
        ),
        "cohorts": (f"{base}/cohorts", learners[1].headers, set(cohorts)),
        "videos": (f"{base}/videos", ADMIN, set(videos)),
        "captions": (f"{API}/videos/{videos[0]}/captions", ADMIN, set(languages)),
        "questions": (f"{base}/questions", ADMIN, {q["id"] for q in [*questions, *essays]}),
        "quizzes": (f"{base}/quizzes", learners[2].headers, {q["id"] for q in [*quizzes, graded, marked]}),
        "attempts": (f"{API}/quizzes/{quizzes[0]['id']}/attempts", ADMIN, set(attempts)),
        "statistics": (f"{API}/quizzes/{graded['id']}/statistics", ADMIN, {q["id"] for q in questions[:3]}),
        "grading queue": (f"{base}/grading-queue", ADMIN, {f"{attempt['id']}/{q['id']}" for q in essays}),
        "teaching": ("/api/v1/me/teaching", owner.headers, {*catalog, main}),
        "course progress": (f"{base}/progress/learners", ADMIN, {p.id for p in learners}),
        "my progress": ("/api/v1/me/progress", learners[0].headers, {*catalog, main}),
        "learning paths": ("/api/v1/learning-paths", {}, set(paths)),
        "my learning paths": ("/api/v1/me/learning-paths", learners[0].headers, set(path_enrollments)),
    }
    return w


async def _enrollment_ids(api: Api, course_id: str, learners: list[Person]) -> set[str]:
    """The enrollments' ids, each read on its own (not through the listing under test)."""
    ids = set()
    for who in learners:
        again = await api.client.post(f"{COURSES}/{course_id}/enrollments", headers=who.headers)
        assert again.status_code == 200, again.text  # already enrolled: the same enrollment back
        ids.add(again.json()["id"])
    return ids


def _id_of(name: str, item: Json) -> str:
    if name == "versions":
        return str(item["number"])
    if name == "captions":
        return str(item["language"])
    if name == "statistics":
        return str(item["question_id"])
    if name == "my learning paths":
        return str(item["enrollment_id"])
    if name == "grading queue":
        return f"{item['attempt_id']}/{item['question_id']}"
    if name == "course progress":
        return str(item["user_id"])
    if name == "my progress":
        return str(item["course_id"])
    return str(item["id"])


async def walk(api: Api, url: str, headers: dict[str, str], params: dict[str, Any]) -> list[Json]:
    """Every page of a listing, from the first, each next one reached through its Link header."""
    pages: list[Json] = []
    response = await api.client.get(url, params=params, headers=headers)
    for _ in range(100):
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        pages.append(page)
        link = response.headers.get("link")
        if page["next_cursor"] is None:
            assert link is None, "the last page links to nothing"
            return pages
        assert len(page["items"]) == params["limit"], "only the last page may be short"
        assert link is not None, "a page with a next one links to it"
        match = LINK.match(link)
        assert match, link
        target = urlsplit(match["url"])
        assert target.path == url
        query = dict(parse_qsl(target.query))
        assert query == {k: str(v) for k, v in params.items()} | {"cursor": page["next_cursor"]}
        response = await api.client.get(match["url"], headers=headers)
    raise AssertionError("the listing never ended")


LISTINGS = [
    "catalog",
    "my certificates",
    "course certificates",
    "versions",
    "users",
    "organizations",
    "enrollments",
    "my enrollments",
    "cohorts",
    "videos",
    "captions",
    "questions",
    "quizzes",
    "attempts",
    "statistics",
    "grading queue",
    "teaching",
    "course progress",
    "my progress",
    "learning paths",
    "my learning paths",
]


@pytest.mark.parametrize("name", LISTINGS)
async def test_each_listing_pages_through_everything_once(world: World, running: Api, name: str) -> None:
    url, headers, expected = world.listings[name]
    pages = await walk(running, url, headers, {"limit": LIMIT})
    seen = [_id_of(name, item) for page in pages for item in page["items"]]
    assert len(pages) > 1
    assert len(seen) == len(set(seen)), "an item came twice"
    assert set(seen) == expected
    # One page holding everything gives the same items in the same order.
    (whole,) = await walk(running, url, headers, {"limit": 100})
    assert [_id_of(name, item) for item in whole["items"]] == seen


@pytest.mark.parametrize("name", LISTINGS)
async def test_a_forged_cursor_or_one_of_another_listing_is_a_422_naming_cursor(
    world: World, running: Api, name: str
) -> None:
    url, headers, _ = world.listings[name]
    first = await ok(running.client.get(url, params={"limit": 1}, headers=headers))
    cursor = first["next_cursor"]
    assert cursor
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert_problem(await running.client.get(url, params={"cursor": forged}, headers=headers), 422, field="cursor")
    assert_problem(
        await running.client.get(url, params={"cursor": "not a cursor"}, headers=headers), 422, field="cursor"
    )
    other_name = "catalog" if name != "catalog" else "users"
    other_url, other_headers, _ = world.listings[other_name]
    elsewhere = (await ok(running.client.get(other_url, params={"limit": 1}, headers=other_headers)))["next_cursor"]
    refused = await running.client.get(url, params={"cursor": elsewhere}, headers=headers)
    assert_problem(refused, 422, field="cursor")


async def test_a_cursor_is_bound_to_its_filters(world: World, running: Api) -> None:
    users, _, _ = world.listings["users"]
    active = await ok(running.client.get(users, params={"limit": 1, "status": "active"}, headers=ADMIN))
    assert active["next_cursor"]
    other_filter = {"cursor": active["next_cursor"], "status": "suspended"}
    assert_problem(await running.client.get(users, params=other_filter, headers=ADMIN), 422, field="cursor")
    no_filter = await running.client.get(users, params={"cursor": active["next_cursor"]}, headers=ADMIN)
    assert_problem(no_filter, 422, field="cursor")
    same = await running.client.get(users, params={"cursor": active["next_cursor"], "status": "active"}, headers=ADMIN)
    assert same.status_code == 200, same.text


async def test_the_link_keeps_the_other_parameters_and_a_lone_page_has_none(world: World, running: Api) -> None:
    nothing = await running.client.get(COURSES, params={"limit": 1, "q": "no such course & co"})
    assert nothing.status_code == 200, nothing.text
    assert nothing.json() == {"items": [], "next_cursor": None}
    assert "link" not in nothing.headers
    page = await running.client.get(COURSES, params={"limit": 1, "q": "course", "language": "en"})
    match = LINK.match(page.headers["link"])
    assert match
    assert dict(parse_qsl(urlsplit(match["url"]).query)) == {
        "limit": "1",
        "q": "course",
        "language": "en",
        "cursor": page.json()["next_cursor"],
    }
    followed = await running.client.get(match["url"])
    assert followed.status_code == 200, followed.text
    assert followed.json()["items"][0]["id"] != page.json()["items"][0]["id"]


async def test_the_openapi_document_holds_the_contract(running: Api) -> None:
    doc = (await running.client.get("/schema/openapi.json")).json()
    assert contract_violations(doc) == []
    paged = [
        p
        for p, item in doc["paths"].items()
        if "cursor" in {q["name"] for q in item.get("get", {}).get("parameters", [])}
    ]
    assert len(paged) >= len(LISTINGS)  # every listing above is a paged operation
