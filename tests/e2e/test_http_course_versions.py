"""Lesson content and published versions over HTTP: learners never see drafts; lesson HTML is inert.

Every test runs on the embedded SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text

from elearning_adapters.settings import Settings
from tests.e2e.http_helpers import (
    ADMIN,
    BACKENDS,
    COURSES,
    Api,
    Checks,
    Json,
    assert_problem,
    backend_settings,
    random_id,
    serve,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "a long passphrase for tests"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("e2e-versions"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


# -- helpers -------------------------------------------------------------------------------


async def learner(api: Api) -> dict[str, str]:
    """A signed-in learner (no staff role), as request headers."""
    email = f"learner-{uuid.uuid4().hex[:8]}@example.org"
    created = await api.client.post(
        "/api/v1/admin/users", json={"email": email, "display_name": "Lea", "password": PASSWORD}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    response = await api.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def lesson_url(outline: Json, section: int = 0, lesson: int = 0) -> str:
    s = outline["sections"][section]
    return f"{COURSES}/{outline['id']}/sections/{s['id']}/lessons/{s['lessons'][lesson]['id']}"


async def set_content(api: Api, outline: Json, body: Json, section: int = 0, lesson: int = 0) -> Json:
    response = await api.client.put(f"{lesson_url(outline, section, lesson)}/content", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


async def get(api: Api, url: str, headers: dict[str, str] | None = None, **params: Any) -> Json:
    response = await api.client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def first_lesson(outline: Json) -> Json:
    lesson: Json = outline["sections"][0]["lessons"][0]
    return lesson


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_inert(html: str) -> None:
    """No tag or attribute in ``html`` can run script."""
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in {"script", "style", "iframe", "svg", "object", "embed", "math"}, html
        for name, value in attrs:
            assert not name.startswith("on"), html
            if name in ("href", "src"):
                url = "".join(ch for ch in value or "" if ch > " ").lower()
                assert not url.startswith(("javascript:", "data:", "vbscript:")), html
            if tag == "a" and name == "href":
                assert ("rel", "noopener noreferrer nofollow") in attrs, html


# -- learners never see drafts ---------------------------------------------------------------


async def test_learners_never_see_drafts(api: Api) -> None:
    outline = await api.course_with_outline("Versioned course", slug="versioned-course")
    course = f"{COURSES}/{outline['id']}"
    # A preview lesson: open to the anonymous reader and the learner (gating: test_http_gating.py).
    await set_content(api, outline, {"body_markdown": "Original **text**", "preview": True})
    published = await api.publish(outline["id"])
    assert (published["published_version"], published["has_unpublished_changes"]) == (1, False)
    student = await learner(api)

    # Edit the published course: title, a lesson's title and its content.
    response = await api.client.patch(course, json={"title": "Edited title"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "published"  # still published: the draft has changes
    response = await api.client.patch(lesson_url(outline), json={"title": "Edited lesson"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    await set_content(api, outline, {"body_markdown": "Edited *text*", "preview": True})

    for headers in (None, student):
        for url in (course, f"{COURSES}/by-slug/versioned-course"):
            seen = await get(api, url, headers)
            assert (seen["title"], seen["version_number"], seen["has_unpublished_changes"]) == (
                "Versioned course",
                1,
                False,
            )
            lesson = first_lesson(seen)
            assert (lesson["title"], lesson["body_html"], lesson["body_markdown"]) == (
                "Variables",
                "<p>Original <strong>text</strong></p>\n",
                None,
            )
        listing = await get(api, COURSES, headers)
        assert [item["title"] for item in listing["items"]] == ["Versioned course"]

    draft = await api.outline(outline["id"])
    assert (draft["title"], draft["version_number"], draft["has_unpublished_changes"], draft["published_version"]) == (
        "Edited title",
        None,
        True,
        1,
    )
    assert (first_lesson(draft)["title"], first_lesson(draft)["body_markdown"]) == ("Edited lesson", "Edited *text*")
    assert first_lesson(draft)["body_html"] == "<p>Edited <em>text</em></p>\n"
    staff_view = await get(api, course, ADMIN, version="published")
    assert (staff_view["title"], staff_view["has_unpublished_changes"]) == ("Versioned course", True)

    republished = await api.publish(outline["id"])
    assert (republished["published_version"], republished["has_unpublished_changes"]) == (2, False)
    for headers in (None, student):
        seen = await get(api, course, headers)
        assert (seen["title"], seen["version_number"]) == ("Edited title", 2)
        assert first_lesson(seen)["body_html"] == "<p>Edited <em>text</em></p>\n"
        old = await get(api, f"{course}/versions/1", headers)
        assert (old["title"], old["version_number"]) == ("Versioned course", 1)
        assert first_lesson(old)["body_html"] == "<p>Original <strong>text</strong></p>\n"


async def test_version_1_is_stored_byte_identical_after_version_2(api: Api) -> None:
    outline = await api.course_with_outline()
    await set_content(api, outline, {"body_markdown": "v1 text ünïcödé"})
    await api.publish(outline["id"])
    query = text("SELECT CAST(snapshot AS TEXT) FROM course_versions WHERE course_id = :id AND number = 1")
    course_id = uuid.UUID(outline["id"])
    key = course_id.hex if api.platform.database.is_sqlite else course_id

    async def v1_bytes() -> str:
        async with api.platform.database.read() as conn:
            return str((await conn.execute(query, {"id": key})).scalar_one())

    before = await v1_bytes()
    await set_content(api, outline, {"body_markdown": "v2 text"})
    await api.client.patch(f"{COURSES}/{outline['id']}", json={"title": "Changed"}, headers=ADMIN)
    await api.publish(outline["id"])
    assert await v1_bytes() == before
    assert "v1 text" in before


# -- XSS -------------------------------------------------------------------------------------

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example/"></iframe>',
    '<a href="https://ok.example" onclick="alert(1)">ok</a>',
    "<style>*{display:none}</style>",
]


async def test_xss_payloads_in_lesson_text_are_neutralised(api: Api) -> None:
    outline = await api.course_with_outline()
    body = "\n\n".join(["# Lesson", *XSS_PAYLOADS, "[safe](https://docs.example.org)"])
    written = await set_content(api, outline, {"body_markdown": body, "preview": True})
    assert written["body_markdown"] == body  # kept as written...
    assert_inert(written["body_html"])  # ...and rendered inert
    await api.publish(outline["id"])
    published = await get(api, f"{COURSES}/{outline['id']}")
    html = first_lesson(published)["body_html"]
    assert_inert(html)
    for fragment in ("<script", "onerror", "<svg", "<iframe", "<style", "onclick", 'href="javascript', 'href="data'):
        assert fragment not in html.lower(), html
    # A javascript: "link" stays visible as text, never as a link.
    assert "<p>[x](javascript:alert(1))</p>" in html
    assert '<a href="https://docs.example.org" rel="noopener noreferrer nofollow">safe</a>' in html
    assert "<h1>Lesson</h1>" in html
    assert_inert(first_lesson(await api.outline(outline["id"]))["body_html"])


# -- content -----------------------------------------------------------------------------------


async def test_setting_rich_content(api: Api) -> None:
    outline = await api.course_with_outline()
    video, assessment = random_id(), random_id()
    body = {
        "kind": "video",
        "body_markdown": "Watch this.",
        "video_id": video,
        "assessment_id": assessment,
        "attachments": [
            {
                "name": "slides.pdf",
                "url": "https://cdn.example.org/s.pdf",
                "size_bytes": 2048,
                "content_type": "application/pdf",
            },
            {"name": "data.csv", "storage_key": "courses/x/data.csv", "size_bytes": 10, "content_type": "text/csv"},
        ],
        "duration_seconds": 300,
        "preview": True,  # so that the anonymous reader below sees it all
    }
    written = await set_content(api, outline, body, section=0, lesson=1)
    assert {k: written[k] for k in ("kind", "video_id", "assessment_id", "duration_seconds")} == {
        "kind": "video",
        "video_id": video,
        "assessment_id": assessment,
        "duration_seconds": 300,
    }
    assert [(a["name"], a["url"], a["storage_key"]) for a in written["attachments"]] == [
        ("slides.pdf", "https://cdn.example.org/s.pdf", None),
        ("data.csv", None, "courses/x/data.csv"),
    ]
    assert all(uuid.UUID(a["id"]) for a in written["attachments"])
    draft = await api.outline(outline["id"])
    assert draft["sections"][0]["lessons"][1] == written
    # Publishing carries it into the version; learners get it without the source text.
    await api.publish(outline["id"])
    seen = (await get(api, f"{COURSES}/{outline['id']}"))["sections"][0]["lessons"][1]
    assert seen == {**written, "body_markdown": None}


async def test_bad_content_is_a_problem_document_and_changes_nothing(api: Api) -> None:
    outline = await api.course_with_outline()
    url = f"{lesson_url(outline)}/content"
    student = await learner(api)
    before = await api.snapshot(outline["id"])
    attachment = {"name": "a.pdf", "url": "https://x.example/a.pdf", "size_bytes": 1, "content_type": "application/pdf"}
    cases: list[tuple[str, Json, str]] = [
        ("body over 100 KB", {"body_markdown": "x" * (100 * 1024 + 1)}, "body_markdown"),
        ("body over 100 KB in UTF-8", {"body_markdown": "€" * 40_000}, "body_markdown"),
        ("javascript: attachment", {"attachments": [{**attachment, "url": "javascript:alert(1)"}]}, "attachments"),
        ("data: attachment", {"attachments": [{**attachment, "url": "data:text/html,x"}]}, "attachments"),
        ("relative attachment url", {"attachments": [{**attachment, "url": "/a.pdf"}]}, "attachments"),
        ("attachment with a path", {"attachments": [{**attachment, "name": "../../etc/passwd"}]}, "attachments"),
        ("attachment with two sources", {"attachments": [{**attachment, "storage_key": "a/b"}]}, "attachments"),
        ("storage key escaping", {"attachments": [{**attachment, "url": None, "storage_key": "../x"}]}, "attachments"),
        ("21 attachments", {"attachments": [attachment] * 21}, "attachments"),
        ("unknown kind", {"kind": "podcast"}, "kind"),
        ("video without a video", {"kind": "video"}, "video_id"),
        ("negative duration", {"duration_seconds": -5}, "duration_seconds"),
        ("unknown field", {"body": "x"}, "body"),
    ]
    checks = Checks()
    for name, body, field in cases:
        with checks.case(name):
            assert_problem(await api.client.put(url, json=body, headers=ADMIN), 422, field=field)
            assert await api.snapshot(outline["id"]) == before
    checks.verify()

    section = outline["sections"][0]["id"]
    unknown_lesson = f"{COURSES}/{outline['id']}/sections/{section}/lessons/{random_id()}/content"
    body = assert_problem(await api.client.put(unknown_lesson, json={"body_markdown": "x"}, headers=ADMIN), 404)
    assert "lesson" in body["detail"]
    unknown_course = f"{COURSES}/{random_id()}/sections/{section}/lessons/{random_id()}/content"
    assert_problem(await api.client.put(unknown_course, json={"body_markdown": "x"}, headers=ADMIN), 404)
    assert_problem(await api.client.put(url, json={"body_markdown": "x"}), 401)
    assert_problem(await api.client.put(url, json={"body_markdown": "x"}, headers=student), 403)
    assert await api.snapshot(outline["id"]) == before


# -- versions ------------------------------------------------------------------------------------


async def test_versions_list_and_get(api: Api) -> None:
    outline = await api.course_with_outline()
    course = f"{COURSES}/{outline['id']}"
    assert (await get(api, f"{course}/versions", ADMIN))["items"] == []
    await api.publish(outline["id"])
    await api.client.patch(course, json={"title": "Second"}, headers=ADMIN)
    await api.publish(outline["id"])

    versions = (await get(api, f"{course}/versions", ADMIN))["items"]
    assert [v["number"] for v in versions] == [2, 1]
    assert all(set(v) == {"number", "published_at", "published_by"} for v in versions)
    assert versions[0]["published_at"] >= versions[1]["published_at"]

    assert (await get(api, f"{course}/versions/2"))["title"] == "Second"
    assert (await get(api, course, version="1"))["title"] == "Intro to Python"
    assert (await get(api, course, ADMIN, version="2"))["version_number"] == 2
    assert_problem(await api.client.get(f"{course}/versions/3"), 404)
    assert_problem(await api.client.get(f"{course}/versions/3", headers=ADMIN), 404)
    assert_problem(await api.client.get(course, params={"version": "draft"}), 422, field="version")
    assert_problem(await api.client.get(course, params={"version": "0"}), 422, field="version")

    # The list is for staff; the versions themselves are public while the course is published.
    assert_problem(await api.client.get(f"{course}/versions"), 401)
    assert_problem(await api.client.get(f"{course}/versions", headers=await learner(api)), 403)
    response = await api.client.post(f"{course}/unpublish", headers=ADMIN)
    assert response.status_code == 200, response.text
    for url in (course, f"{course}/versions/1"):
        assert_problem(await api.client.get(url), 404)
    # The list is for staff only: anonymous callers are asked to sign in, whatever the course (nothing leaks).
    assert_problem(await api.client.get(f"{course}/versions"), 401)
    assert (await get(api, f"{course}/versions/1", ADMIN))["version_number"] == 1
    assert_problem(await api.client.get(f"{COURSES}/{random_id()}/versions", headers=ADMIN), 404)


async def test_the_openapi_schema_documents_the_new_routes(api: Api) -> None:
    schema = await get(api, "/schema/openapi.json")
    paths = schema["paths"]
    assert "put" in paths["/api/v1/courses/{course_id}/sections/{section_id}/lessons/{lesson_id}/content"]
    assert "get" in paths["/api/v1/courses/{course_id}/versions"]
    assert "get" in paths["/api/v1/courses/{course_id}/versions/{number}"]
    parameters = paths["/api/v1/courses/{course_id}"]["get"]["parameters"]
    assert any(p["name"] == "version" for p in parameters)
    assert re.search(r"100 KB", str(schema["components"]))
