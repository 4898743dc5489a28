"""``/api/v1/search``, ``/api/v1/search/suggest`` and ``/api/v1/search/synonyms`` as a client sees them:
accent-insensitive results with escaped highlights and facet counts, cursor pages that follow the
contract, lesson text only for members, suggestions, admin-only synonyms, and problems for bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.course.commands import LessonContentSpec, LessonSpec, SectionSpec
from tests.e2e.assessment_helpers import enroll, person
from tests.e2e.http_helpers import (
    ADMIN,
    BACKENDS,
    Api,
    Json,
    assert_problem,
    backend_settings,
    course_spec,
    open_read_pool,
    serve,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
SEARCH = "/api/v1/search"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("search"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        lesson = LessonSpec(title="Brewing", content=LessonContentSpec(body_markdown="Grind the beans <fine>"))
        specs = [
            course_spec("cafe-culture", title="Café <Culture>", summary="Coffee & more", tags=["coffee"]).model_copy(
                update={"sections": [SectionSpec(title="Intro", lessons=[lesson])]}
            ),
            *(course_spec(f"cafe-{i}", title=f"Cafe course {i}", level="advanced", tags=["coffee"]) for i in range(4)),
        ]
        await app.seed(*specs)
        assert app.platform.events is not None
        await app.platform.events.drain()
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


async def get(api: Api, path: str = SEARCH, headers: dict[str, str] | None = None, **params: object) -> Json:
    response = await api.client.get(path, params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def test_search_ignores_accents_and_escapes_highlights(api: Api) -> None:
    body = await get(api, q="CAFE culture", facets="kind,level,tag")
    assert [i["title"] for i in body["items"]] == ["Café <Culture>"]
    hit = body["items"][0]
    assert "&lt;" in hit["highlight"]
    assert "<mark>" in hit["highlight"]
    assert "<Culture>" not in hit["highlight"]
    assert hit["kind"] == "course"
    assert hit["url"].endswith(hit["id"])
    assert (body["total"], body["total_relation"]) == (1, "eq")
    assert body["facets"]["kind"] == {"course": 1}


async def test_facets_count_the_whole_result_and_pages_follow_the_contract(api: Api) -> None:
    first = await get(api, q="cafe", facets="level", kind="course", limit=2)
    assert first["total"] == 5
    assert sum(first["facets"]["level"].values()) == 5
    assert first["facets"]["level"] == {"advanced": 4, "beginner": 1}
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    for _ in range(5):
        if cursor is None:
            break
        page = await get(api, q="cafe", facets="level", kind="course", limit=2, cursor=cursor)
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5
    narrowed = await get(api, q="cafe", level="advanced")
    assert narrowed["total"] == 4
    other = await api.client.get(SEARCH, params={"q": "coffee", "cursor": first["next_cursor"]})
    assert_problem(other, 422, field="cursor")


async def test_lesson_text_only_for_members(api: Api) -> None:
    assert (await get(api, q="grind beans"))["total"] == 0
    course_id = (await get(api, q="culture"))["items"][0]["id"]
    learner = await person(api, name="learner")
    await enroll(api, course_id, learner)
    body = await get(api, q="grind beans", headers=learner.headers)
    assert [i["title"] for i in body["items"]] == ["Brewing"]
    assert "&lt;fine" in body["items"][0]["highlight"]


async def test_suggest_completes_titles(api: Api) -> None:
    body = await get(api, f"{SEARCH}/suggest", q="caf")
    assert body["query"] == "caf"
    assert "Café <Culture>" in [s["text"] for s in body["suggestions"]]
    assert_problem(await api.client.get(f"{SEARCH}/suggest", params={"q": ""}), 422, field="q")


async def test_synonyms_are_for_admins_and_widen_searches(api: Api) -> None:
    learner = await person(api, name="learner")
    refused = await api.client.put(f"{SEARCH}/synonyms/java", json={"synonyms": ["coffee"]}, headers=learner.headers)
    assert_problem(refused, 403)
    assert (await api.client.put(f"{SEARCH}/synonyms/java", json={"synonyms": ["coffee"]})).status_code == 401
    put = await api.client.put(f"{SEARCH}/synonyms/Java", json={"synonyms": ["Coffee", "java"]}, headers=ADMIN)
    assert put.status_code == 200, put.text
    assert put.json() == {"term": "java", "synonyms": ["coffee"]}
    assert (await get(api, q="java ", kind="course"))["total"] == 5
    listed = await get(api, f"{SEARCH}/synonyms", headers=ADMIN)
    assert listed == {"items": [{"term": "java", "synonyms": ["coffee"]}], "next_cursor": None}
    bad = await api.client.put(f"{SEARCH}/synonyms/two%20words", json={"synonyms": ["x"]}, headers=ADMIN)
    assert_problem(bad, 422, field="term")
    assert (await api.client.delete(f"{SEARCH}/synonyms/java", headers=ADMIN)).status_code == 204
    assert_problem(await api.client.delete(f"{SEARCH}/synonyms/java", headers=ADMIN), 404)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "video"}, "kind"),
        ({"sort": "random"}, "sort"),
        ({"facets": "colour"}, "facets"),
        ({"q": "x" * 201}, "q"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(api: Api, params: dict[str, object], field: str) -> None:
    response = await api.client.get(SEARCH, params=params)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
