"""``GET /api/v1/me/teaching`` on SQLite and PostgreSQL: the courses the caller teaches, drafts included,
with the caller's role, paged with signed cursors bound to the caller."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.identity.commands import CreateOrganization, CreateUser, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, assert_problem, backend_settings, course_spec, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEACHING = "/api/v1/me/teaching"
_serial = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("teaching"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


async def user(api: Api) -> tuple[uuid.UUID, dict[str, str]]:
    created = await api.platform.identity.create_user(
        SYSTEM, CreateUser(email=f"teacher-{next(_serial)}-{uuid.uuid4().hex[:6]}@example.org", display_name="T")
    )
    token = api.platform.container.identity.tokens().issue_access(str(created.id))
    return created.id, {"Authorization": f"Bearer {token}"}


async def grant(api: Api, who: uuid.UUID, role: str, scope: str, scope_id: uuid.UUID) -> None:
    await api.platform.identity.grant_role(SYSTEM, who, RoleGrantSpec(role=role, scope=scope, scope_id=scope_id))


async def seed(api: Api, slug: str, **fields: Any) -> uuid.UUID:
    return uuid.UUID((await api.seed(course_spec(slug, **fields)))[0])


async def listing(api: Api, headers: dict[str, str], limit: int = 100) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await api.client.get(TEACHING, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_lists_every_course_the_caller_teaches_with_the_role_drafts_included(api: Api) -> None:
    me, headers = await user(api)
    someone, _ = await user(api)
    organization = await api.platform.identity.create_organization(SYSTEM, CreateOrganization(slug="acme", name="A"))
    owned_draft = await seed(api, "owned-draft", status="draft", owner_id=me)
    owned_archived = await seed(api, "owned-archived", status="archived", owner_id=me)
    instructing = await seed(api, "instructing", owner_id=someone)
    assisting = await seed(api, "assisting", status="draft", owner_id=someone)
    in_organization = await seed(api, "in-organization", owner_id=someone, organization_id=organization.id)
    await seed(api, "not-mine", owner_id=someone)
    await seed(api, "other-organization", owner_id=someone, organization_id=uuid.uuid4())
    await grant(api, me, "instructor", "course", instructing)
    await grant(api, me, "teaching_assistant", "course", instructing)  # instructor wins
    await grant(api, me, "teaching_assistant", "course", assisting)
    await grant(api, me, "teaching_assistant", "organization", organization.id)
    await grant(api, me, "learner", "course", await seed(api, "learning-only", owner_id=someone))

    items = await listing(api, headers)
    assert [(item["slug"], item["role"], item["status"]) for item in items] == [
        ("in-organization", "teaching_assistant", "published"),
        ("assisting", "teaching_assistant", "draft"),
        ("instructing", "instructor", "published"),
        ("owned-archived", "owner", "archived"),
        ("owned-draft", "owner", "draft"),
    ]
    assert {uuid.UUID(item["id"]) for item in items} == {
        owned_draft,
        owned_archived,
        instructing,
        assisting,
        in_organization,
    }
    assert await listing(api, headers, limit=2) == items  # the same list, page by page


async def test_cursors_are_bound_to_the_caller(api: Api) -> None:
    me, mine = await user(api)
    other, theirs = await user(api)
    for n in range(3):
        await seed(api, f"course-{n}", owner_id=me)
    page = (await api.client.get(TEACHING, params={"limit": 1}, headers=mine)).json()
    assert page["next_cursor"] is not None
    stolen = await api.client.get(TEACHING, params={"cursor": page["next_cursor"]}, headers=theirs)
    assert_problem(stolen, 422, field="cursor")
    assert (await api.client.get(TEACHING, params={"limit": 0}, headers=mine)).status_code == 422
    assert await listing(api, theirs) == []
    assert other != me


async def test_needs_a_users_sign_in(api: Api) -> None:
    assert_problem(await api.client.get(TEACHING), 401)
    assert_problem(await api.client.get(TEACHING, headers=ADMIN), 401)
