"""The plan routes as a client sees them: active plans to anyone, paged, with integer prices per currency
and what each includes; drafts and archived plans only to staff with billing.manage; problems for bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.shared.ports import SYSTEM
from elearning_core.subscription.commands import PlanSpec
from tests.e2e.assessment_helpers import person
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, assert_problem, backend_settings, open_read_pool, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

PLANS = "/api/v1/plans"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("plans"))


def spec(code: str, status: str) -> PlanSpec:
    return PlanSpec.model_validate(
        {
            "code": code,
            "name": code.title(),
            "interval": "year",
            "prices": [{"currency": "USD", "amount": 19900}, {"currency": "EUR", "amount": 17900}],
            "tax_inclusive": False,
            "includes": {"all_courses": True},
            "status": status,
        }
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        records = [spec("a-draft", "draft"), spec("b-gone", "archived")]
        records += [spec(f"c-active-{n}", "active") for n in range(3)]
        await app.platform.plans.import_plans(SYSTEM, records)
        yield app
        await app.platform.database.dispose()


async def codes(api: Api, url: str, headers: dict[str, str] | None = None) -> list[str]:
    seen: list[str] = []
    for _ in range(10):
        response = await api.client.get(url, headers=headers or {})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        seen += [p["code"] for p in body["items"]]
        if body["next_cursor"] is None:
            return seen
        url = f"{PLANS}?limit=2&cursor={body['next_cursor']}"
    raise AssertionError("more pages than plans")


async def test_anyone_lists_the_active_plans_page_by_page_with_prices_in_minor_units(api: Api) -> None:
    assert await codes(api, f"{PLANS}?limit=2") == ["c-active-0", "c-active-1", "c-active-2"]
    first = (await api.client.get(PLANS)).json()["items"][0]
    assert first["prices"] == [{"currency": "EUR", "amount": 17900}, {"currency": "USD", "amount": 19900}]
    assert first["includes"] == {"all_courses": True, "course_ids": [], "path_ids": []}
    assert (first["interval"], first["interval_count"], first["tax_inclusive"]) == ("year", 1, False)


async def test_a_plan_that_is_not_active_is_not_found_except_for_billing_managers(api: Api) -> None:
    learner = await person(api)
    assert (await api.client.get(f"{PLANS}/c-active-0")).json()["status"] == "active"
    for code in ("a-draft", "b-gone", "nope"):
        assert_problem(await api.client.get(f"{PLANS}/{code}", headers=learner.headers), 404)
    archived = await api.client.get(f"{PLANS}/b-gone", headers=ADMIN)
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    assert await codes(api, PLANS, ADMIN) == ["a-draft", "b-gone", "c-active-0", "c-active-1", "c-active-2"]
    assert await codes(api, f"{PLANS}?status=draft", ADMIN) == ["a-draft"]


async def test_bad_input_is_a_problem_document(api: Api) -> None:
    learner = await person(api)
    assert_problem(await api.client.get(f"{PLANS}?status=draft", headers=learner.headers), 403)
    assert_problem(await api.client.get(f"{PLANS}?status=deleted"), 422, field="status")
    assert_problem(await api.client.get(f"{PLANS}?limit=0"), 422, field="limit")
    assert_problem(await api.client.get(f"{PLANS}?cursor=forged"), 422, field="cursor")
