"""Bounded inputs as a client meets them: no request can cause a 500 (docs/bounded-inputs.md).

Each case used to end in a 500 on at least one backend: JSON nested thousands deep (the
decoder's RecursionError), a NUL character in text PostgreSQL stores or compares, an integer
beyond its int4 (PostgreSQL) or int64 (SQLite) column, a body that is not JSON read as JSON.
Every test runs on the embedded SQLite file and on PostgreSQL; a refused write is checked
twice: the problem document names the field, and no table (the outbox included) changed.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy import text

from elearning_adapters.settings import Settings
from elearning_http.inputs import MAX_JSON_DEPTH
from tests.conftest import ALL_TABLES
from tests.e2e.assessment_helpers import a_question, fixed, quiz_settings
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, Checks, Json, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
NUL = "\x00"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("bounded"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@dataclass(frozen=True)
class World:
    """One of everything the cases write to or read: a course with a lesson, a question, a quiz, a video."""

    api: Api
    course: str
    section: str
    lesson: str
    question: str

    async def counts(self) -> dict[str, int]:
        """Rows in every table: equal before and after a refused request means nothing was written."""
        query = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in ALL_TABLES)
        async with self.api.platform.database.read() as conn:
            row = (await conn.execute(text(query))).one()
        return dict(zip(ALL_TABLES, row, strict=True))


async def created(api: Api, url: str, body: Json) -> Json:
    response = await api.client.post(url, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest_asyncio.fixture(loop_scope="module")
async def world(running: Api) -> World:
    api = await running.reset()
    outline = await api.course_with_outline("Bounded Inputs")
    course = outline["id"]
    await api.publish(course)
    section = outline["sections"][0]
    question = await created(api, f"{COURSES}/{course}/questions", a_question())
    return World(api, course, section["id"], section["lessons"][0]["id"], question["id"])


def nested(depth: int) -> str:
    """A login body whose email is ``depth`` arrays deep (the body object itself adds one level)."""
    return '{"email": ' + "[" * depth + "]" * depth + ', "password": "x"}'


# -- NUL characters ------------------------------------------------------------------------------


async def test_a_nul_character_in_any_stored_or_compared_text_is_a_422_naming_the_field(world: World) -> None:
    course = f"{COURSES}/{world.course}"
    lesson = f"{course}/sections/{world.section}/lessons/{world.lesson}"
    anonymous: dict[str, str] = {}
    cases: list[tuple[str, str, str, Json, str, dict[str, str]]] = [
        ("course description", "PATCH", course, {"description": f"a{NUL}b"}, "description", ADMIN),
        ("course summary", "PATCH", course, {"summary": f"{NUL}"}, "summary", ADMIN),
        ("course title", "POST", COURSES, {"title": f"Intro{NUL}"}, "title", ADMIN),
        ("a course tag", "POST", COURSES, {"title": "Tagged", "tags": ["ok", f"x{NUL}"]}, "tags.1", ADMIN),
        ("section title", "POST", f"{course}/sections", {"title": f"S{NUL}"}, "title", ADMIN),
        ("lesson body", "PUT", f"{lesson}/content", {"body_markdown": f"# Hi{NUL}"}, "body_markdown", ADMIN),
        (
            "attachment name",
            "PUT",
            f"{lesson}/content",
            {
                "attachments": [
                    {"name": f"a{NUL}.pdf", "url": "https://example.org/a.pdf", "size_bytes": 1, "content_type": "x/y"}
                ]
            },
            "attachments.0.name",
            ADMIN,
        ),
        ("cohort name", "POST", f"{course}/cohorts", {"name": f"Spring{NUL}"}, "name", ADMIN),
        ("organization name", "POST", f"{API}/organizations", {"slug": "acme", "name": f"Acme{NUL}"}, "name", ADMIN),
        (
            "display name (anonymous registration)",
            "POST",
            f"{API}/auth/register",
            {"email": "new@example.org", "password": "a long pass phrase", "display_name": f"Ada{NUL}"},
            "display_name",
            anonymous,
        ),
        ("question prompt", "POST", f"{course}/questions", a_question(prompt=f"Why{NUL}?"), "prompt", ADMIN),
        (
            "quiz title",
            "POST",
            f"{course}/quizzes",
            quiz_settings(f"Quiz{NUL}", [fixed({"id": world.question})]),
            "title",
            ADMIN,
        ),
        ("video title", "POST", f"{course}/videos", {"title": f"Intro{NUL}"}, "title", ADMIN),
        ("login email", "POST", f"{API}/auth/login", {"email": f"a{NUL}@b.org", "password": "x"}, "email", anonymous),
    ]
    before = await world.counts()
    checks = Checks()
    for name, method, url, body, field, headers in cases:
        with checks.case(name):
            response = await world.api.client.request(method, url, json=body, headers=headers)
            problem = assert_problem(response, 422, field=field)
            assert problem["type"] == "urn:elearning:problem:validation-failed"
            assert any(e["field"] == field and "NUL" in e["message"] for e in problem["errors"]), problem
            assert await world.counts() == before
    checks.verify()


async def test_a_nul_character_in_a_query_or_path_parameter_is_a_422_naming_it(world: World) -> None:
    cases = [
        ("catalog search", f"{COURSES}?q=a%00b", "q"),
        ("catalog tag", f"{COURSES}?tag=%00", "tag"),
        ("catalog language", f"{COURSES}?language=e%00n", "language"),
        ("slug in the path", f"{COURSES}/by-slug/intro%00python", "slug"),
        ("media token in the path", f"{API}/media/t%00k/videos/{world.course}/index.m3u8", "token"),
        ("media file in the path", f"{API}/media/tok/videos/{world.course}/a%00.m3u8", "file_path"),
        ("a cursor", f"{COURSES}?cursor=%00", "cursor"),
        ("an admin search", f"{API}/admin/users?q=%00", "q"),
    ]
    checks = Checks()
    for name, url, field in cases:
        with checks.case(name):
            for headers in ({}, ADMIN):
                response = await world.api.client.get(url, headers=headers)
                if not headers and "/admin/" in url:
                    # Not a public route: an anonymous caller is asked to sign in before anything is parsed.
                    assert_problem(response, 401)
                    continue
                problem = assert_problem(response, 422, field=field)
                assert problem["type"] == "urn:elearning:problem:validation-failed"
    checks.verify()
    # The same parameters without the NUL are answered as usual.
    assert (await world.api.client.get(f"{COURSES}?q=ab&tag=x&language=en")).status_code == 200
    assert (await world.api.client.get(f"{COURSES}/by-slug/intro-python")).status_code == 404


# -- integers beyond their column ----------------------------------------------------------------


async def test_an_integer_beyond_its_column_is_a_422_naming_the_parameter(world: World) -> None:
    course = f"{COURSES}/{world.course}"
    reads = [
        ("version beyond int64 (SQLite)", f"{course}/versions/{INT64_MAX + 1}", "number"),
        ("version beyond int4 (PostgreSQL)", f"{course}/versions/{INT32_MAX + 1}", "number"),
        ("version zero", f"{course}/versions/0", "number"),
        ("?version= beyond int4", f"{course}?version=99999999999", "version"),
        ("question ?version= beyond int4", f"{API}/questions/{world.question}?version={INT32_MAX + 1}", "version"),
    ]
    checks = Checks()
    for name, url, field in reads:
        with checks.case(name):
            problem = assert_problem(await world.api.client.get(url, headers=ADMIN), 422, field=field)
            assert problem["type"] == "urn:elearning:problem:validation-failed"
    writes: list[tuple[str, str, str, Json, str]] = [
        (
            "expected_version beyond int4",
            "PATCH",
            course,
            {"title": "X", "expected_version": INT32_MAX + 1},
            "expected_version",
        ),
        (
            "section position beyond int4",
            "POST",
            f"{course}/sections",
            {"title": "S", "position": INT32_MAX + 1},
            "position",
        ),
        ("section position beyond int64", "POST", f"{course}/sections", {"title": "S", "position": 2**64}, "position"),
        (
            "lesson position beyond int4",
            "POST",
            f"{course}/sections/{world.section}/lessons",
            {"title": "L", "position": INT32_MAX + 1},
            "position",
        ),
    ]
    before = await world.counts()
    for name, method, url, body, field in writes:
        with checks.case(name):
            response = await world.api.client.request(method, url, json=body, headers=ADMIN)
            assert_problem(response, 422, field=field)
            assert await world.counts() == before
    checks.verify()
    # The largest value the column holds is still a value: the version is simply not there.
    assert_problem(await world.api.client.get(f"{course}/versions/{INT32_MAX}", headers=ADMIN), 404)
    assert (await world.api.client.get(f"{course}/versions/1")).status_code == 200


async def test_the_openapi_document_shows_the_integer_bounds() -> None:
    from elearning_http.app import create_app

    schema = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")).openapi_schema.to_schema()
    version = schema["paths"]["/api/v1/courses/{course_id}/versions/{number}"]["get"]["parameters"]
    number = next(p for p in version if p["name"] == "number")["schema"]
    assert (number["minimum"], number["maximum"]) == (1, INT32_MAX)
    question = schema["paths"]["/api/v1/questions/{question_id}"]["get"]["parameters"]
    (version_schema,) = [p["schema"] for p in question if p["name"] == "version"]
    # Litestar puts the bounds of an optional parameter beside its oneOf; either place states them.
    options = [version_schema, *version_schema.get("oneOf", [])]
    assert any((o.get("minimum"), o.get("maximum")) == (1, INT32_MAX) for o in options), version_schema
    # And so for every integer parameter of every operation: none can overflow what stores or compares it.
    unbounded = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                options = [parameter["schema"], *parameter["schema"].get("oneOf", [])]
                if any(o.get("type") == "integer" for o in options):
                    bounds = [o for o in options if "minimum" in o and "maximum" in o]
                    if not bounds or bounds[0]["maximum"] > INT64_MAX:
                        unbounded.append(f"{method.upper()} {path} {parameter['name']}")
    assert unbounded == []


# -- JSON depth --------------------------------------------------------------------------------


async def test_json_nested_thousands_deep_is_a_400_before_decoding_on_any_route(world: World) -> None:
    before = await world.counts()
    deep = nested(5000)
    course = f"{COURSES}/{world.course}"
    checks = Checks()
    for name, method, url, headers in [
        ("login, no token", "POST", f"{API}/auth/login", JSON),
        ("register, no token", "POST", f"{API}/auth/register", JSON),
        ("create a course", "POST", COURSES, {**ADMIN, **JSON}),
        ("change a course", "PATCH", course, {**ADMIN, **JSON}),
        ("create a quiz", "POST", f"{course}/quizzes", {**ADMIN, **JSON}),
    ]:
        with checks.case(name):
            response = await world.api.client.request(method, url, content=deep, headers=headers)
            problem = assert_problem(response, 400)
            assert problem["type"] == "urn:elearning:problem:json-too-deep"
            assert problem["max_depth"] == MAX_JSON_DEPTH
            assert await world.counts() == before
    checks.verify()


async def test_the_depth_limit_is_exact(world: World) -> None:
    login = f"{API}/auth/login"
    # The body object is one level, so MAX - 1 arrays inside it is the deepest accepted body.
    at_limit = await world.api.client.post(login, content=nested(MAX_JSON_DEPTH - 1), headers=JSON)
    assert_problem(at_limit, 422, field="email")  # decoded and validated: an email is a string
    beyond = await world.api.client.post(login, content=nested(MAX_JSON_DEPTH), headers=JSON)
    assert assert_problem(beyond, 400)["type"] == "urn:elearning:problem:json-too-deep"
    # Brackets inside strings do not nest.
    inside = '{"email": "' + "[{" * 100 + '@example.org", "password": "x"}'
    assert_problem(await world.api.client.post(login, content=inside, headers=JSON), 401)


# -- media types -------------------------------------------------------------------------------


async def test_a_body_that_is_not_json_on_a_json_route_is_a_415(world: World) -> None:
    before = await world.counts()
    body = b'{"title": "Not JSON by its media type"}'
    checks = Checks()
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=iso-8859-1",
        None,  # a body and no Content-Type at all
    ):
        with checks.case(str(content_type)):
            headers = dict(ADMIN) if content_type is None else {**ADMIN, "Content-Type": content_type}
            problem = assert_problem(await world.api.client.post(COURSES, content=body, headers=headers), 415)
            assert problem["type"] == "urn:elearning:problem:unsupported-media-type"
            assert await world.counts() == before
    checks.verify()


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(world: World) -> None:
    for n, content_type in enumerate(
        ("application/json; charset=utf-8", 'Application/JSON;Charset="UTF-8"', "application/vnd.elearning+json")
    ):
        body = f'{{"title": "Accepted {n}"}}'.encode()
        response = await world.api.client.post(COURSES, content=body, headers={**ADMIN, "Content-Type": content_type})
        assert response.status_code == 201, f"{content_type}: {response.text}"
        assert response.json()["title"] == f"Accepted {n}"


async def test_routes_that_take_other_media_keep_working(world: World) -> None:
    # A caption file is text/vtt, a tus chunk application/offset+octet-stream: neither is read as JSON.
    video = await created(world.api, f"{COURSES}/{world.course}/videos", {"title": "Welcome"})
    vtt = "WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n"
    caption = await world.api.client.put(
        f"{API}/videos/{video['id']}/captions/en", content=vtt, headers={**ADMIN, "Content-Type": "text/vtt"}
    )
    assert caption.status_code in (200, 201), caption.text
    # The parameter rule holds on these routes too: a NUL in the caption's language is a 422 naming it.
    bad = f"{API}/videos/{video['id']}/captions/e%00n"
    refused = await world.api.client.put(bad, content=vtt, headers={**ADMIN, "Content-Type": "text/vtt"})
    assert_problem(refused, 422, field="language")
    tus = {**ADMIN, "Tus-Resumable": "1.0.0"}
    metadata = "video_id " + base64.b64encode(video["id"].encode()).decode()
    upload = await world.api.client.post(
        f"{API}/uploads", headers={**tus, "Upload-Length": "4", "Upload-Metadata": metadata}
    )
    assert upload.status_code == 201, upload.text
    chunk = await world.api.client.patch(
        upload.headers["location"],
        content=b"abcd",
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert chunk.status_code == 204, chunk.text
    # A JSON route with an empty body is still "the request needs a JSON body", not a media-type question.
    assert_problem(await world.api.client.post(COURSES, headers=ADMIN), 400)
