"""Organizations' time zone over HTTP (SQLite and PostgreSQL): created in one, changed by PATCH by those who
manage the organization, bad zones as problems naming the field, strangers told nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.identity.commands import RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.e2e.assessment_helpers import Person, person
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

ORGS = "/api/v1/organizations"
Json = dict[str, Any]


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("orgs"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


async def _create(api: Api, **body: str) -> Json:
    slug = f"org-{uuid.uuid4().hex[:8]}"
    response = await api.client.post(ORGS, json={"slug": slug, "name": "An Org", **body}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _org_admin(api: Api, organization_id: str) -> Person:
    admin = await person(api, name="olga")
    spec = RoleGrantSpec(role="organization_admin", scope="organization", scope_id=uuid.UUID(organization_id))
    await api.platform.identity.grant_role(SYSTEM, uuid.UUID(admin.id), spec)
    return admin


async def test_an_organization_is_created_in_its_time_zone_or_utc(api: Api) -> None:
    paris = await _create(api, time_zone="Europe/Paris")
    plain = await _create(api)
    assert (paris["time_zone"], plain["time_zone"]) == ("Europe/Paris", "UTC")
    read = await api.client.get(f"{ORGS}/{paris['id']}", headers=ADMIN)
    assert read.status_code == 200, read.text
    assert read.json()["time_zone"] == "Europe/Paris"
    listed = await api.client.get(ORGS, headers=ADMIN, params={"limit": 100})
    zones = {o["id"]: o["time_zone"] for o in listed.json()["items"]}
    assert (zones[paris["id"]], zones[plain["id"]]) == ("Europe/Paris", "UTC")


async def test_patch_changes_the_name_and_the_time_zone(api: Api) -> None:
    organization = await _create(api)
    url = f"{ORGS}/{organization['id']}"
    moved = await api.client.patch(url, json={"time_zone": "America/New_York"}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["name"], moved.json()["time_zone"]) == ("An Org", "America/New_York")
    admin = await _org_admin(api, organization["id"])
    renamed = await api.client.patch(url, json={"name": "Renamed"}, headers=admin.headers)
    assert renamed.status_code == 200, renamed.text
    read = (await api.client.get(url, headers=ADMIN)).json()
    assert (read["name"], read["time_zone"], read["slug"]) == ("Renamed", "America/New_York", organization["slug"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "x" * 65}, "time_zone"),
        ({"name": " "}, "name"),
        ({"slug": "other"}, "slug"),
    ],
)
async def test_bad_updates_are_problems_naming_the_field(api: Api, body: Json, field: str) -> None:
    organization = await _create(api, time_zone="Asia/Tokyo")
    response = await api.client.patch(f"{ORGS}/{organization['id']}", json=body, headers=ADMIN)
    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code, field=field)
    read = (await api.client.get(f"{ORGS}/{organization['id']}", headers=ADMIN)).json()
    assert (read["name"], read["time_zone"]) == ("An Org", "Asia/Tokyo")


async def test_a_bad_zone_at_creation_is_a_problem(api: Api) -> None:
    response = await api.client.post(
        ORGS, json={"slug": "bad-zone", "name": "Bad", "time_zone": "Europe/Nowhere"}, headers=ADMIN
    )
    assert_problem(response, response.status_code, field="time_zone")
    assert response.status_code in (400, 422)


async def test_only_those_who_manage_it_may_patch_it(api: Api) -> None:
    organization = await _create(api)
    other = await _create(api)
    url = f"{ORGS}/{organization['id']}"
    other_admin = await _org_admin(api, other["id"])
    learner = await person(api, name="lea")
    change = {"time_zone": "Africa/Lagos"}
    assert_problem(await api.client.patch(url, json=change), 401)
    assert_problem(await api.client.patch(url, json=change, headers=learner.headers), 404)
    assert_problem(await api.client.patch(url, json=change, headers=other_admin.headers), 404)
    assert_problem(await api.client.patch(f"{ORGS}/{uuid.uuid4()}", json=change, headers=ADMIN), 404)
    member = await person(api, name="mo")
    await api.platform.identity.add_member(SYSTEM, uuid.UUID(organization["id"]), uuid.UUID(member.id))
    assert_problem(await api.client.patch(url, json=change, headers=member.headers), 403)
    read = (await api.client.get(url, headers=ADMIN)).json()
    assert read["time_zone"] == "UTC"
