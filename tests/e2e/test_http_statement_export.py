"""A learner's statements exported over HTTP (SQLite and PostgreSQL): the learner's own through /me, anyone's for
platform admins, nobody else; every statement across several pages, oldest first, one per line (NDJSON);
nothing for a learner with none; and after the account is deleted, neither the export nor the LRS's agent
query finds the person any more."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import delete, select

from elearning_adapters.settings import Settings
from elearning_adapters.sql.analytics import xapi_statements
from elearning_core.analytics.export import EXPORT_PAGE
from elearning_core.analytics.lrs_credentials import LrsScope
from elearning_core.analytics.model import Statement
from elearning_core.identity.commands import CreateOrganization, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.e2e.assessment_helpers import Person, person
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE = "https://learn.example.org"
MINE = "/api/v1/me/statements/export"
V = {"X-Experience-API-Version": "1.0.3"}


def of_user(user_id: str) -> str:
    return f"/api/v1/admin/users/{user_id}/statements/export"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("export"), public_base_url=BASE)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


async def settle(api: Api) -> None:
    assert api.platform.events is not None
    await api.platform.events.drain()


async def give_statements(api: Api, who: Person, count: int) -> list[str]:
    """``count`` statements of ``who`` as an external tool sends them (through the store), in stored order."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    statements = [
        Statement.from_json(
            {
                "id": str(uuid.uuid4()),
                "actor": {"objectType": "Agent", "account": {"homePage": BASE, "name": who.id}},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
                "object": {"objectType": "Activity", "id": f"{BASE}/xapi/activities/lesson/{n}"},
                "timestamp": (start + timedelta(minutes=n)).isoformat(),
            }
        )
        for n in range(count)
    ]
    store = api.platform.container.analytics.store()
    for begin in range(0, count, 400):
        await store.append(statements[begin : begin + 400])
    return [str(s.id) for s in statements]


async def stored_ids(api: Api, who: Person) -> list[str]:
    s = xapi_statements
    async with api.platform.database.read() as conn:
        found = await conn.execute(select(s.c.id).where(s.c.actor == f"account:{BASE}|{who.id}").order_by(s.c.seq))
        return [str(i) for i in found.scalars()]


async def exported(api: Api, url: str, headers: dict[str, str]) -> list[dict[str, object]]:
    response = await api.client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return [json.loads(line) for line in response.content.splitlines()]


async def test_a_learner_exports_every_statement_of_theirs_across_pages(api: Api) -> None:
    ann, bob = await person(api, name="ann"), await person(api, name="bob")
    await settle(api)  # their registrations' statements
    sent = await give_statements(api, ann, 2 * EXPORT_PAGE + 7)
    await give_statements(api, bob, 3)
    expected = await stored_ids(api, ann)
    assert set(sent) <= set(expected)
    assert len(expected) > 2 * EXPORT_PAGE
    mine = await exported(api, MINE, ann.headers)
    assert [s["id"] for s in mine] == expected  # all of them, oldest first, none of bob's
    assert all(s["actor"] == {"objectType": "Agent", "account": {"homePage": BASE, "name": ann.id}} for s in mine)
    assert all("stored" in s for s in mine)
    assert await exported(api, of_user(ann.id), ADMIN) == mine  # a platform admin sees the same


async def test_a_learner_with_no_statements_gets_an_empty_file(api: Api) -> None:
    cy = await person(api, name="cy")
    await settle(api)
    async with api.platform.database.write() as conn:
        await conn.execute(delete(xapi_statements).where(xapi_statements.c.actor == f"account:{BASE}|{cy.id}"))
        await conn.commit()
    assert await exported(api, MINE, cy.headers) == []
    assert await exported(api, of_user(cy.id), ADMIN) == []


async def test_nobody_else_may_export_a_learners_statements(api: Api) -> None:
    ann, bob = await person(api, name="ann"), await person(api, name="bob")
    await give_statements(api, ann, 2)
    assert_problem(await api.client.get(MINE), 401)
    assert_problem(await api.client.get(of_user(ann.id)), 401)
    assert_problem(await api.client.get(of_user(ann.id), headers=bob.headers), 403)
    assert len(await exported(api, of_user(ann.id), ann.headers)) >= 2  # her own, by either route
    instructor = await person(api, role="instructor", name="ivy")
    assert_problem(await api.client.get(of_user(ann.id), headers=instructor.headers), 403)
    olga = await person(api, name="olga")
    organization = await api.client.post(
        "/api/v1/organizations", json={"slug": f"o-{uuid.uuid4().hex[:6]}", "name": "O"}, headers=ADMIN
    )
    spec = RoleGrantSpec(role="organization_admin", scope="organization", scope_id=uuid.UUID(organization.json()["id"]))
    await api.platform.identity.grant_role(SYSTEM, uuid.UUID(olga.id), spec)
    await api.platform.identity.add_member(SYSTEM, uuid.UUID(organization.json()["id"]), uuid.UUID(ann.id))
    assert_problem(await api.client.get(of_user(ann.id), headers=olga.headers), 403)
    assert_problem(await api.client.get(of_user(str(uuid.uuid4())), headers=ADMIN), 404)


async def test_after_deletion_neither_the_export_nor_the_lrs_finds_the_person(api: Api) -> None:
    ann, bob = await person(api, name="ann"), await person(api, name="bob")
    await give_statements(api, ann, 5)
    await give_statements(api, bob, 2)
    await settle(api)
    before = await stored_ids(api, ann)
    old_agent = json.dumps({"objectType": "Agent", "account": {"homePage": BASE, "name": ann.id}})
    lrs = await api.client.get("/xapi/statements", params={"agent": old_agent}, headers={**V, **ADMIN})
    assert len(lrs.json()["statements"]) == len(before)

    await api.platform.identity.delete_account(SYSTEM, uuid.UUID(ann.id))
    await settle(api)

    lrs = await api.client.get("/xapi/statements", params={"agent": old_agent}, headers={**V, **ADMIN})
    assert lrs.status_code == 200, lrs.text
    assert lrs.json() == {"statements": [], "more": ""}
    assert await exported(api, of_user(ann.id), ADMIN) == []
    everything = await api.client.get("/xapi/statements", params={"limit": "100"}, headers={**V, **ADMIN})
    assert ann.id not in everything.text
    assert len(everything.json()["statements"]) >= len(before) + 2  # hers kept, under the pseudonym
    assert [s["id"] for s in await exported(api, of_user(bob.id), ADMIN)] == await stored_ids(api, bob)


async def test_an_lrs_client_still_sending_about_a_deleted_account_stores_the_pseudonym(api: Api) -> None:
    ann = await person(api, name="ann")
    organization = await api.platform.identity.create_organization(
        SYSTEM, CreateOrganization(slug=f"tool-{uuid.uuid4().hex[:6]}", name="Tool")
    )
    made = await api.platform.lrs_credentials.create(SYSTEM, organization.id, frozenset({LrsScope.ALL}), "player")
    basic = base64.b64encode(f"{made.credential.key}:{made.secret}".encode()).decode()
    tool = {**V, "Authorization": f"Basic {basic}"}
    ident = str(uuid.uuid4())
    sent = {
        "id": ident,
        "actor": {"objectType": "Agent", "name": "Ann", "account": {"homePage": BASE, "name": ann.id}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"objectType": "Activity", "id": "https://tool.example.org/activities/1"},
        "timestamp": "2026-12-07T06:00:00+00:00",
    }
    stored = await api.client.post("/xapi/statements", json=sent, headers=tool)
    assert stored.status_code == 200, stored.text

    await api.platform.identity.delete_account(SYSTEM, uuid.UUID(ann.id))
    await settle(api)

    # The same statement sent again is the same as the rewritten one (no 409), and a new one is stored rewritten.
    again = await api.client.put("/xapi/statements", params={"statementId": ident}, json=sent, headers=tool)
    assert again.status_code == 204, again.text
    later = {**sent, "id": str(uuid.uuid4()), "timestamp": "2026-12-07T07:00:00+00:00"}
    posted = await api.client.post("/xapi/statements", json=later, headers=tool)
    assert posted.status_code == 200, posted.text
    listed = await api.client.get("/xapi/statements", params={"limit": "100"}, headers=tool)
    statements = listed.json()["statements"]
    assert sorted(s["id"] for s in statements) == sorted([ident, later["id"]])
    assert ann.id not in listed.text
    assert "Ann" not in json.dumps([s["actor"] for s in statements])
    pseudonym = str(api.platform.container.analytics.pseudonyms().of(uuid.UUID(ann.id)))
    assert {s["actor"]["account"]["name"] for s in statements} == {pseudonym}
