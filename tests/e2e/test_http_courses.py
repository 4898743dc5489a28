"""``/api/v1/courses`` as a client sees it: authoring, public reads, bad input and auth.

Every test runs on the embedded SQLite file and on PostgreSQL. Refused
requests are checked twice: the answer is a problem document, and the course
and the tables (outbox included) are exactly as they were before.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.shared.ports import SYSTEM
from tests.e2e.http_helpers import (
    ADMIN,
    ADMIN_TOKEN,
    BACKENDS,
    COURSES,
    Api,
    Checks,
    Json,
    assert_problem,
    backend_settings,
    course_spec,
    random_id,
    serve,
)

# One app per backend for the whole module (building one costs more than most tests);
# every test starts from empty tables.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("e2e"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


# -- helpers -----------------------------------------------------------------------------


def shape(outline: Json) -> list[tuple[str, list[str]]]:
    """Section and lesson titles in order, after checking positions are 0..n-1 at both levels."""
    sections = outline["sections"]
    assert [s["position"] for s in sections] == list(range(len(sections)))
    for section in sections:
        assert [lesson["position"] for lesson in section["lessons"]] == list(range(len(section["lessons"])))
    return [(s["title"], [lesson["title"] for lesson in s["lessons"]]) for s in sections]


# A lesson's content fields in the draft (staff) view before any content is set.
EMPTY_DRAFT_CONTENT: Json = {
    "kind": "text",
    "body_html": "",
    "body_markdown": "",
    "video_id": None,
    "assessment_id": None,
    "attachments": [],
    "duration_seconds": None,
    "preview": False,
    "access": "open",
    "available_at": None,
    "requirements": [],
    "unmet_requirements": [],
    "refusal": None,
}
# What a new section carries besides its id, title, position and lessons: no release date, no requirements.
NO_RELEASE: Json = {"release_at": None, "release_after_days": None, "available_at": None, "requirements": []}


def as_version(draft: Json, number: int) -> Json:
    """The draft outline as learners read it once published as version ``number`` (no Markdown sources)."""
    sections = [{**s, "lessons": [{**x, "body_markdown": None} for x in s["lessons"]]} for s in draft["sections"]]
    return {**draft, "version_number": number, "has_unpublished_changes": False, "sections": sections}


def as_anonymous(outline: Json) -> Json:
    """A published outline as the anonymous read gates it: no lesson open (none of these is a preview)."""
    sections = [
        {**s, "lessons": [{**x, "access": "enrollment_required"} for x in s["lessons"]]} for s in outline["sections"]
    ]
    return {**outline, "sections": sections}


def section_of(outline: Json, title: str) -> Json:
    return next(s for s in outline["sections"] if s["title"] == title)


def lesson_id(outline: Json, section_title: str, lesson_title: str) -> str:
    return next(x["id"] for x in section_of(outline, section_title)["lessons"] if x["title"] == lesson_title)


def write_requests(outline: Json) -> list[tuple[str, str, str, Json | None]]:
    """Every course-scoped write, with a body that would succeed on an editable draft of this outline."""
    course = f"{COURSES}/{outline['id']}"
    first = outline["sections"][0]
    section = f"{course}/sections/{first['id']}"
    lesson = f"{section}/lessons/{first['lessons'][0]['id']}"
    return [
        ("update", "PATCH", course, {"title": "Changed title"}),
        ("add section", "POST", f"{course}/sections", {"title": "New section"}),
        (
            "reorder sections",
            "PUT",
            f"{course}/sections/order",
            {"section_ids": [s["id"] for s in outline["sections"]][::-1]},
        ),
        ("rename section", "PATCH", section, {"title": "Renamed section"}),
        ("remove section", "DELETE", section, None),
        ("add lesson", "POST", f"{section}/lessons", {"title": "New lesson"}),
        (
            "reorder lessons",
            "PUT",
            f"{section}/lessons/order",
            {"lesson_ids": [x["id"] for x in first["lessons"]][::-1]},
        ),
        ("rename lesson", "PATCH", lesson, {"title": "Renamed lesson"}),
        ("remove lesson", "DELETE", lesson, None),
        ("publish", "POST", f"{course}/publish", None),
        ("unpublish", "POST", f"{course}/unpublish", None),
        ("archive", "POST", f"{course}/archive", None),
        ("delete", "DELETE", course, None),
    ]


async def list_slugs(api: Api, **params: Any) -> list[str]:
    response = await api.client.get(COURSES, params=params)
    assert response.status_code == 200, response.text
    return [item["slug"] for item in response.json()["items"]]


# -- the authoring flow --------------------------------------------------------------------


async def test_authoring_flow_from_draft_to_archive(api: Api) -> None:
    client = api.client
    response = await client.post(
        COURSES,
        json={
            "title": "  Python for Data Work  ",
            "summary": "Pandas and friends",
            "description": "A long description.",
            "language": "EN",
            "level": "intermediate",
            "tags": ["Python", "data  analysis", "python"],
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    course_id = created["id"]
    url = f"{COURSES}/{course_id}"
    assert response.headers["location"] == url
    assert uuid.UUID(course_id)
    assert {k: v for k, v in created.items() if k not in ("id", "created_at", "updated_at")} == {
        "slug": "python-for-data-work",
        "title": "Python for Data Work",
        "summary": "Pandas and friends",
        "description": "A long description.",
        "language": "en",
        "level": "intermediate",
        "tags": ["python", "data analysis"],
        "owner_id": None,
        "status": "draft",
        "version": 1,
        "published_at": None,
        "sections": [],
        "organization_id": None,
        "published_version": None,
        "has_unpublished_changes": False,
        "version_number": None,
    }
    assert created["created_at"] == created["updated_at"]
    # What the write returned is what the read model serves.
    assert await api.outline(course_id) == created

    # Sections: appended by default, inserted at a position, clamped to the end when past it.
    basics = await api.add_section(course_id, "Basics")
    assert basics == {"id": basics["id"], "title": "Basics", "position": 0, "lessons": [], **NO_RELEASE}
    assert (await api.add_section(course_id, "Advanced"))["position"] == 1
    assert (await api.add_section(course_id, "Intro", position=0))["position"] == 0
    assert (await api.add_section(course_id, "Appendix", position=99))["position"] == 3
    outline = await api.outline(course_id)
    assert shape(outline) == [("Intro", []), ("Basics", []), ("Advanced", []), ("Appendix", [])]
    assert outline["version"] == 5

    # Lessons, the same way, inside one section.
    first = await api.add_lesson(course_id, basics["id"], "Variables")
    assert first == {"id": first["id"], "title": "Variables", "position": 0, **EMPTY_DRAFT_CONTENT}
    assert (await api.add_lesson(course_id, basics["id"], "Loops"))["position"] == 1
    assert (await api.add_lesson(course_id, basics["id"], "Functions", position=1))["position"] == 1
    assert (await api.add_lesson(course_id, basics["id"], "Modules", position=50))["position"] == 3
    advanced_id = section_of(outline, "Advanced")["id"]
    await api.add_lesson(course_id, advanced_id, "Decorators")
    outline = await api.outline(course_id)
    assert shape(outline) == [
        ("Intro", []),
        ("Basics", ["Variables", "Functions", "Loops", "Modules"]),
        ("Advanced", ["Decorators"]),
        ("Appendix", []),
    ]
    version = outline["version"]
    assert version == 10

    async def write(method: str, path: str, body: Json | None = None) -> Json:
        """An outline-returning write: 200, one version step, and the same outline on a re-read."""
        nonlocal version
        response = await client.request(method, url + path, json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["version"] == version + 1
        version += 1
        assert await api.outline(course_id) == result
        return result

    outline = await write("PATCH", f"/sections/{basics['id']}", {"title": "Fundamentals"})
    loops = lesson_id(outline, "Fundamentals", "Loops")
    outline = await write("PATCH", f"/sections/{basics['id']}/lessons/{loops}", {"title": "Loops and iteration"})
    assert shape(outline)[1] == ("Fundamentals", ["Variables", "Functions", "Loops and iteration", "Modules"])

    new_order = [section_of(outline, t)["id"] for t in ("Appendix", "Advanced", "Fundamentals", "Intro")]
    outline = await write("PUT", "/sections/order", {"section_ids": new_order})
    assert [title for title, _ in shape(outline)] == ["Appendix", "Advanced", "Fundamentals", "Intro"]

    lessons = {x["title"]: x["id"] for x in section_of(outline, "Fundamentals")["lessons"]}
    lesson_order = [lessons[t] for t in ("Modules", "Loops and iteration", "Variables", "Functions")]
    outline = await write("PUT", f"/sections/{basics['id']}/lessons/order", {"lesson_ids": lesson_order})
    assert shape(outline)[2] == ("Fundamentals", ["Modules", "Loops and iteration", "Variables", "Functions"])

    # Removals answer 204 with no body; positions close up.
    response = await client.delete(f"{url}/sections/{basics['id']}/lessons/{lessons['Variables']}", headers=ADMIN)
    assert response.status_code == 204, response.text
    assert response.content == b""
    response = await client.delete(f"{url}/sections/{section_of(outline, 'Appendix')['id']}", headers=ADMIN)
    assert response.status_code == 204, response.text
    outline = await api.outline(course_id)
    assert shape(outline) == [
        ("Advanced", ["Decorators"]),
        ("Fundamentals", ["Modules", "Loops and iteration", "Functions"]),
        ("Intro", []),
    ]
    version = outline["version"]

    # Details, with and without optimistic concurrency.
    outline = await write(
        "PATCH",
        "",
        {
            "title": "Python for Analysts",
            "summary": "Numbers",
            "level": "advanced",
            "tags": ["Analytics"],
            "expected_version": version,
        },
    )
    assert (outline["title"], outline["summary"], outline["level"], outline["tags"]) == (
        "Python for Analysts",
        "Numbers",
        "advanced",
        ["analytics"],
    )
    assert outline["slug"] == "python-for-data-work"  # a title change never moves the slug
    stale = await client.patch(url, json={"title": "Lost update", "expected_version": version - 1}, headers=ADMIN)
    body = assert_problem(stale, 409)
    assert body["type"] == "urn:elearning:problem:conflict"
    assert await api.outline(course_id) == outline
    # A PATCH that changes nothing is not a new version.
    response = await client.patch(url, json={"title": "Python for Analysts"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == version
    outline = await write("PATCH", "", {"slug": "python-analysts"})

    # Publish: public from now on, by id, by slug and in the catalog.
    published = await write("POST", "/publish")
    assert published["status"] == "published"
    assert datetime.fromisoformat(published["published_at"]) >= datetime.fromisoformat(published["created_at"])
    assert (published["published_version"], published["has_unpublished_changes"]) == (1, False)
    anonymous = await client.get(url)
    assert anonymous.status_code == 200, anonymous.text
    # Learners read version 1: the draft as published, without the Markdown sources (gated: the
    # anonymous reader may open no lesson).
    assert anonymous.json() == as_anonymous(as_version(published, 1))
    by_slug = await client.get(f"{COURSES}/by-slug/python-analysts")
    assert by_slug.status_code == 200, by_slug.text
    assert by_slug.json() == as_anonymous(as_version(published, 1))
    assert await list_slugs(api) == ["python-analysts"]

    # A published course keeps its slug and cannot be deleted.
    assert_problem(await client.patch(url, json={"slug": "another-slug"}, headers=ADMIN), 409)
    assert_problem(await client.delete(url, headers=ADMIN), 409)
    assert_problem(await client.post(f"{url}/publish", headers=ADMIN), 409)
    assert await api.outline(course_id) == published

    unpublished = await write("POST", "/unpublish")
    assert unpublished["status"] == "draft"
    assert_problem(await client.get(url), 404)
    assert await list_slugs(api) == []

    await write("POST", "/publish")
    archived = await write("POST", "/archive")
    assert archived["status"] == "archived"
    assert_problem(await client.get(url), 404)
    assert await list_slugs(api) == []


async def test_archived_course_refuses_every_edit(api: Api) -> None:
    outline = await api.course_with_outline()
    response = await api.client.post(f"{COURSES}/{outline['id']}/archive", headers=ADMIN)
    assert response.status_code == 200, response.text
    before = await api.snapshot(outline["id"])

    checks = Checks()
    for name, method, url, body in write_requests(outline):
        with checks.case(name):
            response = await api.client.request(method, url, json=body, headers=ADMIN)
            problem = assert_problem(response, 409)
            assert problem["type"] == "urn:elearning:problem:conflict"
            assert await api.snapshot(outline["id"]) == before
    checks.verify()


async def test_deleting_a_draft_frees_its_slug(api: Api) -> None:
    outline = await api.course_with_outline(slug="short-lived")
    url = f"{COURSES}/{outline['id']}"
    counts = await api.row_counts()

    response = await api.client.delete(url, headers=ADMIN)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(await api.client.get(url, headers=ADMIN), 404)
    assert_problem(await api.client.get(f"{COURSES}/by-slug/short-lived", headers=ADMIN), 404)
    assert_problem(await api.client.delete(url, headers=ADMIN), 404)
    after = await api.row_counts()
    # The outline went with it, and the deletion was recorded as one event.
    assert (after["courses"], after["course_sections"], after["course_lessons"]) == (0, 0, 0)
    assert after["outbox"] == counts["outbox"] + 1

    again = await api.create("Born again", slug="short-lived")
    assert again["id"] != outline["id"]


async def test_publishing_needs_a_lesson(api: Api) -> None:
    course = await api.create("Empty course")
    url = f"{COURSES}/{course['id']}"
    body = assert_problem(await api.client.post(f"{url}/publish", headers=ADMIN), 409)
    assert "lesson" in body["detail"]
    await api.add_section(course["id"], "Still empty")
    before = await api.snapshot(course["id"])
    assert_problem(await api.client.post(f"{url}/publish", headers=ADMIN), 409)
    assert await api.snapshot(course["id"]) == before
    assert before[0].status == "draft"


async def test_published_course_keeps_at_least_one_lesson(api: Api) -> None:
    outline = await api.create("Tiny")
    section = await api.add_section(outline["id"], "Only section")
    lesson = await api.add_lesson(outline["id"], section["id"], "Only lesson")
    empty = await api.add_section(outline["id"], "Empty section")
    await api.publish(outline["id"])
    url = f"{COURSES}/{outline['id']}/sections"
    before = await api.snapshot(outline["id"])

    assert_problem(await api.client.delete(f"{url}/{section['id']}/lessons/{lesson['id']}", headers=ADMIN), 409)
    assert_problem(await api.client.delete(f"{url}/{section['id']}", headers=ADMIN), 409)
    assert await api.snapshot(outline["id"]) == before
    response = await api.client.delete(f"{url}/{empty['id']}", headers=ADMIN)
    assert response.status_code == 204, response.text
    assert shape(await api.outline(outline["id"])) == [("Only section", ["Only lesson"])]


async def test_slug_must_be_unique(api: Api) -> None:
    first = await api.create("Intro to Python", slug="intro-python")
    second = await api.create("Intro to Rust")
    before = await api.snapshot(second["id"])

    body = assert_problem(
        await api.client.post(COURSES, json={"title": "X", "slug": "intro-python"}, headers=ADMIN), 409
    )
    assert "intro-python" in body["detail"]
    assert_problem(
        await api.client.patch(f"{COURSES}/{second['id']}", json={"slug": "intro-python"}, headers=ADMIN), 409
    )
    assert await api.snapshot(second["id"]) == before
    # Keeping one's own slug is not a collision.
    response = await api.client.patch(f"{COURSES}/{first['id']}", json={"slug": "intro-python"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["slug"] == "intro-python"


async def test_derived_slugs_are_transliterated_and_made_unique_with_a_suffix(api: Api) -> None:
    slugs = [(await api.create(title))["slug"] for title in ("Intro to Python", "Intro to Python", "Курс по Java")]  # noqa: RUF001
    assert slugs == ["intro-to-python", "intro-to-python-2", "kurs-po-java"]


async def test_lookup_by_slug(api: Api) -> None:
    outline = await api.course_with_outline(slug="find-me")
    response = await api.client.get(f"{COURSES}/by-slug/find-me", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == outline
    body = assert_problem(await api.client.get(f"{COURSES}/by-slug/nobody-here", headers=ADMIN), 404)
    assert "nobody-here" in body["detail"]
    assert_problem(await api.client.get(f"{COURSES}/by-slug/{'x' * 300}", headers=ADMIN), 404)


async def test_unknown_ids_are_404_problems(api: Api) -> None:
    outline = await api.course_with_outline()
    other = await api.course_with_outline("Another course")
    missing = random_id()
    course = f"{COURSES}/{outline['id']}"
    basics = section_of(outline, "Basics")
    other_section = other["sections"][0]["id"]
    before = await api.snapshot(outline["id"])

    requests: list[tuple[str, str, str, Json | None]] = [
        ("get unknown course", "GET", f"{COURSES}/{missing}", None),
        ("patch unknown course", "PATCH", f"{COURSES}/{missing}", {"title": "x"}),
        ("delete unknown course", "DELETE", f"{COURSES}/{missing}", None),
        ("publish unknown course", "POST", f"{COURSES}/{missing}/publish", None),
        ("add section to unknown course", "POST", f"{COURSES}/{missing}/sections", {"title": "x"}),
        ("add lesson to unknown section", "POST", f"{course}/sections/{missing}/lessons", {"title": "x"}),
        (
            "add lesson to another course's section",
            "POST",
            f"{course}/sections/{other_section}/lessons",
            {"title": "x"},
        ),
        ("rename unknown section", "PATCH", f"{course}/sections/{missing}", {"title": "x"}),
        ("remove unknown section", "DELETE", f"{course}/sections/{missing}", None),
        ("rename unknown lesson", "PATCH", f"{course}/sections/{basics['id']}/lessons/{missing}", {"title": "x"}),
        ("remove unknown lesson", "DELETE", f"{course}/sections/{basics['id']}/lessons/{missing}", None),
        (
            "rename a lesson through the wrong section",
            "PATCH",
            f"{course}/sections/{section_of(outline, 'More')['id']}/lessons/{basics['lessons'][0]['id']}",
            {"title": "x"},
        ),
    ]
    checks = Checks()
    for name, method, url, body in requests:
        with checks.case(name):
            problem = assert_problem(await api.client.request(method, url, json=body, headers=ADMIN), 404)
            assert problem["type"] == "urn:elearning:problem:not-found"
            assert problem["instance"] == url
            assert await api.snapshot(outline["id"]) == before
    checks.verify()
    anonymous = assert_problem(await api.client.get(f"{COURSES}/{missing}"), 404)
    assert anonymous["detail"] == f"course {missing} was not found"


async def test_concurrent_updates_with_the_same_expected_version_let_one_win(api: Api) -> None:
    course = await api.create("Contended")
    url = f"{COURSES}/{course['id']}"
    outbox = (await api.row_counts())["outbox"]

    responses = await asyncio.gather(
        *(
            api.client.patch(url, json={"title": f"Writer {i}", "expected_version": course["version"]}, headers=ADMIN)
            for i in range(5)
        )
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [(r.status_code, r.text) for r in responses]
    for loser in (r for r in responses if r.status_code != 200):
        assert_problem(loser, 409)
    final = await api.outline(course["id"])
    assert final == winners[0].json()
    assert final["version"] == course["version"] + 1
    assert (await api.row_counts())["outbox"] == outbox + 1


# -- public reads -----------------------------------------------------------------------------

CATALOG = [
    course_spec(
        "python-basics",
        title="Python Basics",
        summary="Start coding today",
        language="en",
        level="beginner",
        tags=["python", "programming"],
    ),
    course_spec(
        "python-avance",
        title="Python avancé",
        summary="Décorateurs et générateurs",
        language="fr",
        level="advanced",
        tags=["python"],
    ),
    course_spec(
        "data-viz",
        title="Data Visualisation",
        summary="Charts that are 100% honest",
        language="en",
        level="intermediate",
        tags=["data", "plots"],
    ),
    course_spec(
        "snake-case-naming",
        title="Snake_case naming",
        summary="Names that read well",
        language="en-gb",
        level="beginner",
        tags=["style"],
    ),
    course_spec(
        "snakescase", title="Snakescase", summary="A made-up word, 100 times", language="en", level="all_levels"
    ),
    course_spec(
        "rust-intro",
        title="Rust for Pythonistas",
        summary="Ownership explained",
        language="de",
        level="intermediate",
        tags=["rust"],
    ),
    # Match nearly every filter below, yet must never be listed.
    course_spec(
        "python-draft",
        status="draft",
        title="Python draft",
        summary="100% unfinished Snake_case plots",
        language="en",
        level="beginner",
        tags=["python", "data"],
    ),
    course_spec(
        "python-archived",
        status="archived",
        title="Python archived",
        summary="100% retired",
        language="fr",
        level="advanced",
        tags=["python"],
    ),
]


async def test_anonymous_sees_published_courses_only(api: Api) -> None:
    ids = dict(zip([s.slug for s in CATALOG], await api.seed(*CATALOG), strict=True))
    published = [s.slug for s in CATALOG if s.status == "published"][::-1]

    response = await api.client.get(COURSES)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    assert [item["slug"] for item in page["items"]] == published  # newest first
    first = page["items"][0]
    assert first["id"] == ids["rust-intro"]
    assert {k: first[k] for k in ("title", "status", "language", "level", "tags", "section_count", "lesson_count")} == {
        "title": "Rust for Pythonistas",
        "status": "published",
        "language": "de",
        "level": "intermediate",
        "tags": ["rust"],
        "section_count": 1,
        "lesson_count": 1,
    }
    assert "description" not in first  # the catalog is summaries; the outline is per course
    # The admin's catalog is the same published listing.
    assert await list_slugs(api) == published

    response = await api.client.get(f"{COURSES}/{ids['python-basics']}")
    assert response.status_code == 200, response.text
    assert response.json()["sections"][0]["lessons"][0]["title"] == "Lesson 1"
    assert (await api.client.get(f"{COURSES}/by-slug/python-basics")).status_code == 200

    for slug in ("python-draft", "python-archived"):
        course_id = ids[slug]
        hidden = assert_problem(await api.client.get(f"{COURSES}/{course_id}"), 404)
        # Indistinguishable from a course that does not exist.
        assert hidden["detail"] == f"course {course_id} was not found"
        assert_problem(await api.client.get(f"{COURSES}/by-slug/{slug}"), 404)
        visible = await api.client.get(f"{COURSES}/{course_id}", headers=ADMIN)
        assert visible.status_code == 200, visible.text
        assert visible.json()["slug"] == slug
        by_slug = await api.client.get(f"{COURSES}/by-slug/{slug}", headers=ADMIN)
        assert by_slug.status_code == 200, by_slug.text
        assert by_slug.json()["id"] == course_id


async def test_catalog_filters(api: Api) -> None:
    await api.seed(*CATALOG)
    expectations: list[tuple[dict[str, str], list[str]]] = [
        ({"language": "fr"}, ["python-avance"]),
        ({"language": "FR"}, ["python-avance"]),
        ({"language": "en"}, ["snakescase", "data-viz", "python-basics"]),
        ({"language": "en-gb"}, ["snake-case-naming"]),
        ({"level": "beginner"}, ["snake-case-naming", "python-basics"]),
        ({"level": "advanced"}, ["python-avance"]),
        ({"level": "all_levels"}, ["snakescase"]),
        ({"tag": "python"}, ["python-avance", "python-basics"]),
        ({"tag": "PYTHON"}, ["python-avance", "python-basics"]),
        ({"tag": "pyth"}, []),  # tags match whole
        ({"q": "python"}, ["rust-intro", "python-avance", "python-basics"]),  # title, tag
        ({"q": "PyThOn"}, ["rust-intro", "python-avance", "python-basics"]),
        ({"q": "ownership"}, ["rust-intro"]),  # summary
        ({"q": "plots"}, ["data-viz"]),  # tag only
        ({"q": "AVANCÉ"}, ["python-avance"]),  # non-ASCII, case-insensitive
        ({"q": "100"}, ["snakescase", "data-viz"]),
        ({"q": "100%"}, ["snakescase", "data-viz"]),  # % is no wildcard: the word 100
        ({"q": "snake_case"}, ["snake-case-naming"]),  # two words ("snakescase" is one)
        ({"q": "cAsE"}, ["snake-case-naming"]),  # words, not substrings
        ({"q": "no such words"}, []),
        ({"language": "en", "level": "beginner", "tag": "python"}, ["python-basics"]),
        ({"language": "fr", "level": "beginner"}, []),
        ({"tag": "python", "q": "basics"}, ["python-basics"]),
    ]
    checks = Checks()
    for params, expected in expectations:
        with checks.case(str(params)):
            assert await list_slugs(api, **params) == expected
    checks.verify()
    assert_problem(await api.client.get(COURSES, params={"level": "expert"}), 422, field="level")
    assert_problem(await api.client.get(COURSES, params={"q": "x" * 201}), 422, field="q")


async def test_anonymous_catalog_pages_are_answered_from_their_bytes_and_never_stale(api: Api) -> None:
    """The page memo on the production app (issue 13): a repeated anonymous page is byte-for-byte the one
    the handler rendered (body and Link header, and what a signed-in caller gets), a change to the catalog
    shows on the very next anonymous read, and a caller with a bad token is still refused."""
    # The embedded default has a catalog cache (in-process), so the memo is in play.
    assert await api.platform.courses.catalog_version() is not None
    await api.seed(*CATALOG)
    first = await api.client.get(COURSES, params={"limit": 2})
    again = await api.client.get(COURSES, params={"limit": 2})
    signed_in = await api.client.get(COURSES, params={"limit": 2}, headers=ADMIN)
    assert first.status_code == again.status_code == signed_in.status_code == 200
    assert again.content == first.content == signed_in.content
    assert again.headers["link"] == first.headers["link"] == signed_in.headers["link"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]  # the middleware still runs

    course = await api.course_with_outline("Brand new", slug="brand-new")
    await api.publish(course["id"])
    after = await api.client.get(COURSES, params={"limit": 2})
    assert after.json()["items"][0]["slug"] == "brand-new"

    refused = await api.client.get(COURSES, params={"limit": 2}, headers={"Authorization": "Bearer not-a-token"})
    assert_problem(refused, 401)


async def walk(api: Api, limit: int, **params: Any) -> list[list[Json]]:
    """Follow ``next_cursor`` from the first page to the last; returns the pages."""
    pages: list[list[Json]] = []
    cursor = None
    while True:
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        response = await api.client.get(COURSES, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


async def test_cursor_pagination_walks_every_page_newest_first(api: Api) -> None:
    ids = await api.seed(*(course_spec(f"course-{i:02d}") for i in range(45)))

    pages = await walk(api, 20)
    assert [len(page) for page in pages] == [20, 20, 5]
    listed = [item["id"] for page in pages for item in page]
    assert listed == ids[::-1]  # every course once, the last published first
    published_at = [datetime.fromisoformat(item["published_at"]) for page in pages for item in page]
    assert published_at == sorted(published_at, reverse=True)
    # A filter paginates within its own matches.
    assert [[item["slug"] for item in page] for page in await walk(api, 2, q="course 4")] == [
        ["course-44", "course-43"],
        ["course-42", "course-41"],
        ["course-40"],
    ]


async def test_cursor_pagination_breaks_ties_on_id(api: Api) -> None:
    # One import publishes every course at the same instant: only the id orders them.
    courses = await api.platform.courses.import_courses(SYSTEM, [course_spec(f"twin-{i:02d}") for i in range(25)])
    assert len({c.published_at for c in courses}) == 1
    pages = await walk(api, 7)
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    listed = [item["id"] for page in pages for item in page]
    assert listed == sorted((str(c.id) for c in courses), key=lambda i: uuid.UUID(i).int, reverse=True)


async def test_bad_cursors_and_limits_are_422(api: Api) -> None:
    await api.seed(*(course_spec(f"course-{i}", tags=["even" if i % 2 == 0 else "odd"]) for i in range(6)))
    first = await api.client.get(COURSES, params={"limit": 2, "tag": "even"})
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor
    middle = len(cursor) // 2
    tampered = cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]

    checks = Checks()
    bad: list[tuple[str, dict[str, Any], str]] = [
        ("tampered cursor", {"tag": "even", "cursor": tampered}, "cursor"),
        ("garbage cursor", {"tag": "even", "cursor": "not-a-cursor"}, "cursor"),
        ("cursor of another tag", {"tag": "odd", "cursor": cursor}, "cursor"),
        ("cursor of a filtered list on the full list", {"cursor": cursor}, "cursor"),
        ("cursor with another text filter", {"tag": "even", "q": "course", "cursor": cursor}, "cursor"),
        ("oversized cursor", {"cursor": "A" * 600}, "cursor"),
        ("limit 0", {"limit": 0}, "limit"),
        ("limit 101", {"limit": 101}, "limit"),
        ("negative limit", {"limit": -1}, "limit"),
        ("non-numeric limit", {"limit": "ten"}, "limit"),
    ]
    for name, params, field in bad:
        with checks.case(name):
            body = assert_problem(await api.client.get(COURSES, params=params), 422, field=field)
            assert body["type"] == "urn:elearning:problem:validation-failed"
    checks.verify()

    # The genuine cursor still works, and the page-size bounds themselves are accepted.
    second = await api.client.get(COURSES, params={"limit": 2, "tag": "even", "cursor": cursor})
    assert second.status_code == 200, second.text
    assert [item["slug"] for item in second.json()["items"]] == ["course-0"]
    for limit in (1, 100):
        assert (await api.client.get(COURSES, params={"limit": limit})).status_code == 200


# -- bad input: a problem document, and nothing changed -----------------------------------------


async def test_create_rejects_bad_input(api: Api) -> None:
    existing = await api.course_with_outline()
    before = await api.snapshot(existing["id"])
    cases: list[tuple[str, Any, str]] = [
        ("unknown field", {"title": "Ok", "colour": "blue"}, "colour"),
        ("no title", {"summary": "Nothing else"}, "title"),
        ("null title", {"title": None}, "title"),
        ("title of the wrong type", {"title": 42}, "title"),
        ("tags not a list", {"title": "Ok", "tags": "python"}, "tags"),
        ("unknown level", {"title": "Ok", "level": "expert"}, "level"),
        ("title of 201 characters", {"title": "x" * 201}, "title"),
        ("blank title", {"title": "   "}, "title"),
        ("title with a control character", {"title": "Bell\u0007"}, "title"),
        ("summary of 501 characters", {"title": "Ok", "summary": "s" * 501}, "summary"),
        ("slug with a space and capitals", {"title": "Ok", "slug": "Bad Slug"}, "slug"),
        ("slug too short", {"title": "Ok", "slug": "a"}, "slug"),
        ("slug with edge hyphens", {"title": "Ok", "slug": "-x-"}, "slug"),
        ("slug with a double hyphen", {"title": "Ok", "slug": "ab--cd"}, "slug"),
        ("slug of 81 characters", {"title": "Ok", "slug": "a" * 81}, "slug"),
        ("bad language", {"title": "Ok", "language": "english!"}, "language"),
        ("bad tag", {"title": "Ok", "tags": ["ok", "no/slash"]}, "tags"),
        ("21 tags", {"title": "Ok", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ("owner not a uuid", {"title": "Ok", "owner_id": "me"}, "owner_id"),
    ]
    checks = Checks()
    for name, body, field in cases:
        with checks.case(name):
            assert_problem(await api.client.post(COURSES, json=body, headers=ADMIN), 422, field=field)
            assert await api.snapshot(existing["id"]) == before
    checks.verify()
    # The limits are inclusive.
    edge = await api.create("t" * 200, summary="s" * 500, slug="a" * 80)
    assert (len(edge["title"]), len(edge["summary"]), edge["slug"]) == (200, 500, "a" * 80)


async def test_patch_rejects_bad_input(api: Api) -> None:
    outline = await api.course_with_outline()
    url = f"{COURSES}/{outline['id']}"
    before = await api.snapshot(outline["id"])
    cases: list[tuple[str, Any, str]] = [
        ("unknown field", {"title": "Ok", "status": "published"}, "status"),
        ("null title", {"title": None}, "title"),
        ("null tags", {"tags": None}, "tags"),
        ("title of the wrong type", {"title": ["a"]}, "title"),
        ("level of the wrong type", {"level": 3}, "level"),
        ("title of 201 characters", {"title": "x" * 201}, "title"),
        ("empty title", {"title": ""}, "title"),
        ("blank title", {"title": "  "}, "title"),
        ("summary of 501 characters", {"summary": "s" * 501}, "summary"),
        ("description of 20001 characters", {"description": "d" * 20_001}, "description"),
        ("slug 'Bad Slug'", {"slug": "Bad Slug"}, "slug"),
        ("slug 'a'", {"slug": "a"}, "slug"),
        ("slug '-x-'", {"slug": "-x-"}, "slug"),
        ("slug 'ab--cd'", {"slug": "ab--cd"}, "slug"),
        ("negative expected_version", {"title": "Ok", "expected_version": -1}, "expected_version"),
        ("tag of 41 characters", {"tags": ["t" * 41]}, "tags"),
        ("bad language", {"language": "e"}, "language"),
    ]
    checks = Checks()
    for name, body, field in cases:
        with checks.case(name):
            assert_problem(await api.client.patch(url, json=body, headers=ADMIN), 422, field=field)
            assert await api.snapshot(outline["id"]) == before
    checks.verify()


async def test_outline_edits_reject_bad_input(api: Api) -> None:
    outline = await api.course_with_outline()
    other = await api.course_with_outline("Elsewhere")
    course = f"{COURSES}/{outline['id']}"
    basics, more = section_of(outline, "Basics"), section_of(outline, "More")
    section_ids = [basics["id"], more["id"]]
    lesson_ids = [x["id"] for x in basics["lessons"]]
    before = await api.snapshot(outline["id"])
    cases: list[tuple[str, str, str, Any, str]] = [
        ("section without title", "POST", f"{course}/sections", {}, "title"),
        ("section with empty title", "POST", f"{course}/sections", {"title": ""}, "title"),
        ("section with unknown field", "POST", f"{course}/sections", {"name": "S"}, "name"),
        ("section at a negative position", "POST", f"{course}/sections", {"title": "S", "position": -1}, "position"),
        (
            "section position of the wrong type",
            "POST",
            f"{course}/sections",
            {"title": "S", "position": "1st"},
            "position",
        ),
        (
            "lesson title of 201 characters",
            "POST",
            f"{course}/sections/{basics['id']}/lessons",
            {"title": "x" * 201},
            "title",
        ),
        ("rename section to blank", "PATCH", f"{course}/sections/{basics['id']}", {"title": " "}, "title"),
        (
            "rename lesson with a NUL",
            "PATCH",
            f"{course}/sections/{basics['id']}/lessons/{lesson_ids[0]}",
            {"title": "a\u0000b"},
            "title",
        ),
        (
            "sections reorder omits one",
            "PUT",
            f"{course}/sections/order",
            {"section_ids": section_ids[:1]},
            "section_ids",
        ),
        (
            "sections reorder repeats one",
            "PUT",
            f"{course}/sections/order",
            {"section_ids": [*section_ids, section_ids[0]]},
            "section_ids",
        ),
        (
            "sections reorder names an unknown id",
            "PUT",
            f"{course}/sections/order",
            {"section_ids": [section_ids[0], random_id()]},
            "section_ids",
        ),
        (
            "sections reorder with another course's section",
            "PUT",
            f"{course}/sections/order",
            {"section_ids": [section_ids[0], other["sections"][0]["id"]]},
            "section_ids",
        ),
        (
            "sections reorder with a non-uuid",
            "PUT",
            f"{course}/sections/order",
            {"section_ids": [section_ids[0], "first"]},
            "section_ids",
        ),
        ("sections reorder without ids", "PUT", f"{course}/sections/order", {}, "section_ids"),
        (
            "lessons reorder omits one",
            "PUT",
            f"{course}/sections/{basics['id']}/lessons/order",
            {"lesson_ids": lesson_ids[1:]},
            "lesson_ids",
        ),
        (
            "lessons reorder repeats one",
            "PUT",
            f"{course}/sections/{basics['id']}/lessons/order",
            {"lesson_ids": [lesson_ids[0], *lesson_ids[:2]]},
            "lesson_ids",
        ),
        (
            "lessons reorder names an unknown id",
            "PUT",
            f"{course}/sections/{basics['id']}/lessons/order",
            {"lesson_ids": [*lesson_ids[:2], random_id()]},
            "lesson_ids",
        ),
        (
            "lessons reorder with another section's lesson",
            "PUT",
            f"{course}/sections/{basics['id']}/lessons/order",
            {"lesson_ids": [*lesson_ids, more["lessons"][0]["id"]]},
            "lesson_ids",
        ),
        (
            "lessons reorder of the wrong type",
            "PUT",
            f"{course}/sections/{basics['id']}/lessons/order",
            {"lesson_ids": "all"},
            "lesson_ids",
        ),
    ]
    checks = Checks()
    for name, method, url, body, field in cases:
        with checks.case(name):
            assert_problem(await api.client.request(method, url, json=body, headers=ADMIN), 422, field=field)
            assert await api.snapshot(outline["id"]) == before
    checks.verify()


async def test_malformed_json_is_400(api: Api) -> None:
    outline = await api.course_with_outline()
    course = f"{COURSES}/{outline['id']}"
    before = await api.snapshot(outline["id"])
    headers = {**ADMIN, "Content-Type": "application/json"}
    checks = Checks()
    for method, url in [
        ("POST", COURSES),
        ("PATCH", course),
        ("POST", f"{course}/sections"),
        ("PUT", f"{course}/sections/order"),
    ]:
        for raw in (b'{"title": ', b"{'title': 'single quotes'}", b'{"title": "x"} trailing'):
            with checks.case(f"{method} {url} {raw!r}"):
                body = assert_problem(await api.client.request(method, url, content=raw, headers=headers), 400)
                assert body["type"] == "urn:elearning:problem:bad-request"
                assert await api.snapshot(outline["id"]) == before
    checks.verify()


async def test_an_empty_body_is_400_like_any_other_malformed_json(api: Api) -> None:
    # An empty body is not JSON. Today it comes back as 422 naming a field "data" with the message "'data'"
    # (a KeyError's repr): neither a field the client sent nor a message a person can act on.
    outline = await api.course_with_outline()
    before = await api.snapshot(outline["id"])
    checks = Checks()
    for method, url in [("POST", COURSES), ("PATCH", f"{COURSES}/{outline['id']}")]:
        with checks.case(f"{method} {url}"):
            response = await api.client.request(
                method, url, content=b"", headers={**ADMIN, "Content-Type": "application/json"}
            )
            body = assert_problem(response, 400)
            assert body["type"] == "urn:elearning:problem:bad-request"
            assert await api.snapshot(outline["id"]) == before
    checks.verify()


async def test_non_uuid_path_ids_are_404_problems(api: Api) -> None:
    # Path ids are typed as UUIDs in the routes, so anything else matches no route at all.
    outline = await api.course_with_outline()
    section = outline["sections"][0]["id"]
    before = await api.snapshot(outline["id"])
    checks = Checks()
    for method, url, body in [
        ("GET", f"{COURSES}/not-a-uuid", None),
        ("GET", f"{COURSES}/12345", None),
        ("PATCH", f"{COURSES}/not-a-uuid", {"title": "x"}),
        ("DELETE", f"{COURSES}/not-a-uuid", None),
        ("POST", f"{COURSES}/not-a-uuid/publish", None),
        ("POST", f"{COURSES}/{outline['id']}/sections/not-a-uuid/lessons", {"title": "x"}),
        ("PATCH", f"{COURSES}/{outline['id']}/sections/{section}/lessons/nope", {"title": "x"}),
    ]:
        with checks.case(f"{method} {url}"):
            problem = assert_problem(await api.client.request(method, url, json=body, headers=ADMIN), 404)
            assert problem["instance"] == url
            assert await api.snapshot(outline["id"]) == before
    checks.verify()


# -- authentication ----------------------------------------------------------------------------


def assert_unauthenticated(response: Any) -> None:
    problem = assert_problem(response, 401)
    assert problem["type"] == "urn:elearning:problem:unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_every_write_needs_credentials(api: Api) -> None:
    # Anonymous callers reach the use cases, which refuse them: check every route, not a sample.
    outline = await api.course_with_outline()
    before = await api.snapshot(outline["id"])
    requests = [("create", "POST", COURSES, {"title": "Sneaky"}), *write_requests(outline)]
    checks = Checks()
    for name, method, url, body in requests:
        with checks.case(name):
            assert_unauthenticated(await api.client.request(method, url, json=body))
            assert await api.snapshot(outline["id"]) == before
    checks.verify()


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer not-the-token", id="wrong-token"),
        pytest.param(f"Bearer {ADMIN_TOKEN}x", id="token-with-extra-char"),
        pytest.param("Basic " + base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode(), id="basic"),
        pytest.param(f"Token {ADMIN_TOKEN}", id="other-scheme-right-secret"),
        pytest.param("Bearer ", id="bearer-without-token"),
    ],
)
async def test_bad_credentials_are_refused_before_anything_else(api: Api, authorization: str) -> None:
    # Credentials are checked while resolving the principal, before any handler runs, so a few
    # routes stand for all of them; reads included: a bad token is never taken for anonymous access.
    outline = await api.course_with_outline(slug="guarded")
    course = f"{COURSES}/{outline['id']}"
    before = await api.snapshot(outline["id"])
    checks = Checks()
    for method, url, body in [
        ("POST", COURSES, {"title": "Sneaky"}),
        ("PATCH", course, {"title": "Hacked"}),
        ("POST", f"{course}/publish", None),
        ("DELETE", course, None),
        ("GET", COURSES, None),
        ("GET", course, None),
    ]:
        with checks.case(f"{method} {url}"):
            response = await api.client.request(method, url, json=body, headers={"Authorization": authorization})
            assert_unauthenticated(response)
            assert await api.snapshot(outline["id"]) == before
    checks.verify()


async def test_anonymous_write_to_an_unknown_course_is_401_not_404(api: Api) -> None:
    # Authentication comes first: a 404 here would tell strangers which draft ids exist.
    draft = await api.course_with_outline()
    missing = {**draft, "id": random_id()}
    checks = Checks()
    for name, method, url, body in write_requests(missing):
        with checks.case(name):
            assert_unauthenticated(await api.client.request(method, url, json=body))
    checks.verify()


async def test_anonymous_write_with_an_invalid_body_is_401_not_422(api: Api) -> None:
    # The guard runs before the body is parsed: strangers learn nothing about the request schema.
    draft = await api.course_with_outline()
    checks = Checks()
    for name, method, url, _ in write_requests(draft):
        with checks.case(name):
            response = await api.client.request(method, url, json={"bogus": [1, 2, 3]})
            assert_unauthenticated(response)
            assert "errors" not in response.json()
    checks.verify()


async def test_reads_are_public(api: Api) -> None:
    outline = await api.course_with_outline(slug="open-course")
    published = await api.publish(outline["id"])
    for url in (COURSES, f"{COURSES}/{outline['id']}", f"{COURSES}/by-slug/open-course"):
        anonymous = await api.client.get(url)
        assert anonymous.status_code == 200, anonymous.text
        # What staff read when they ask for the published version (by default they get the draft),
        # except that the anonymous reader may open none of the lessons (none is a preview).
        params = {} if url == COURSES else {"version": "published"}
        staff = (await api.client.get(url, params=params, headers=ADMIN)).json()
        assert anonymous.json() == (staff if url == COURSES else as_anonymous(staff))
        # A typo in a token is never mistaken for anonymous access.
        assert_unauthenticated(await api.client.get(url, headers={"Authorization": "Bearer typo"}))
    assert (await api.client.get(f"{COURSES}/{outline['id']}")).json() == as_anonymous(as_version(published, 1))


async def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    response = await api.client.post(
        COURSES, json={"title": "Lowercase"}, headers={"Authorization": f"bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Lowercase"


async def test_the_q_filter_ignores_case_and_accents_and_keeps_the_page_shape(api: Api) -> None:
    """``q`` is answered by the search index: ``CAFE`` finds "Café" courses, a page at a time, as a list."""
    await api.seed(
        course_spec("cafe-1", title="Café culture"),
        course_spec("cafe-2", title="Le café du matin"),
        course_spec("tea", title="Tea ceremony"),
    )
    pages = await walk(api, 1, q="CAFE")
    assert [[item["slug"] for item in page] for page in pages] == [["cafe-2"], ["cafe-1"]]
    response = await api.client.get(COURSES, params={"q": "café CULTURE"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"items", "next_cursor"}
    assert [item["slug"] for item in body["items"]] == ["cafe-1"]
    assert body["next_cursor"] is None
