"""``/xapi/statements`` as an xAPI client sees it: the version header, HTTP Basic credentials scoped to an
organization and bearer tokens, POST/PUT/GET, conflicts, voiding, queries with ``more`` pages, scoping
between two organizations, and xAPI's error statuses with problem bodies. Every statement sent is first
validated by ralph's xAPI model (an independent library), so the tests send what real tools send."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from ralph.models.xapi.base.statements import BaseXapiStatement

from elearning_adapters.settings import Settings
from elearning_core.analytics.lrs_credentials import LrsScope
from elearning_core.identity.commands import CreateOrganization, CreateUser, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, Json, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")
XAPI = "/xapi/statements"
V = {"X-Experience-API-Version": "1.0.3"}
PASSWORD = "correct horse battery staple"
TOOL = "https://tool.example.org"
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def basic(key: str, secret: str) -> dict[str, str]:
    return {**V, "Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {**V, "Authorization": f"Bearer {token}"}


def stmt(
    who: str = "ann",
    verb: str = EXPERIENCED,
    activity: str = f"{TOOL}/activities/1",
    *,
    ident: uuid.UUID | None = None,
    home: str = TOOL,
    **extra: Any,
) -> Json:
    """A statement as an external tool sends it, checked by ralph's model first."""
    data: Json = {
        "actor": {"objectType": "Agent", "name": who, "account": {"homePage": home, "name": who}},
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": {"objectType": "Activity", "id": activity, "definition": {"name": {"en-US": "Unit"}}},
        "timestamp": "2026-12-07T06:00:00+00:00",
        **extra,
    }
    if ident is not None:
        data["id"] = str(ident)
    BaseXapiStatement.model_validate({"id": str(ident or uuid.uuid4()), **data} if ident is None else data)
    return data


def voiding(target: str) -> Json:
    return stmt("admin", VOIDED, object={"objectType": "StatementRef", "id": target}) | {
        "object": {"objectType": "StatementRef", "id": target}
    }


@dataclass
class World:
    a_all: tuple[str, str]
    a_read: tuple[str, str]
    a_write: tuple[str, str]
    b_all: tuple[str, str]
    revoked: tuple[str, str]
    learner_id: str
    learner: str
    org_admin_a: str


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("xapi"), public_base_url="https://learn.example.org")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(settings: Settings) -> AsyncIterator[tuple[Api, World]]:
    async with serve(settings) as api:
        identity, credentials = api.platform.identity, api.platform.lrs_credentials
        org_a = await identity.create_organization(SYSTEM, CreateOrganization(slug="org-a", name="A"))
        org_b = await identity.create_organization(SYSTEM, CreateOrganization(slug="org-b", name="B"))

        async def credential(org: uuid.UUID, *scopes: LrsScope) -> tuple[str, str]:
            made = await credentials.create(SYSTEM, org, frozenset(scopes), "test tool")
            return made.credential.key, made.secret

        revoked = await credential(org_a.id, LrsScope.ALL)
        await credentials.revoke(SYSTEM, revoked[0])
        learner = await identity.create_user(
            SYSTEM, CreateUser(email="ann@example.org", display_name="Ann", password=PASSWORD)
        )
        admin_a = await identity.create_user(
            SYSTEM, CreateUser(email="oa@example.org", display_name="Oa", password=PASSWORD)
        )
        await identity.grant_role(
            SYSTEM, admin_a.id, RoleGrantSpec(role="organization_admin", scope="organization", scope_id=org_a.id)
        )

        async def login(email: str) -> str:
            response = await api.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            assert response.status_code == 200, response.text
            return str(response.json()["access_token"])

        yield (
            api,
            World(
                a_all=await credential(org_a.id, LrsScope.ALL),
                a_read=await credential(org_a.id, LrsScope.STATEMENTS_READ),
                a_write=await credential(org_a.id, LrsScope.STATEMENTS_WRITE),
                b_all=await credential(org_b.id, LrsScope.STATEMENTS_WRITE, LrsScope.STATEMENTS_READ),
                revoked=revoked,
                learner_id=str(learner.id),
                learner=await login("ann@example.org"),
                org_admin_a=await login("oa@example.org"),
            ),
        )


async def post(api: Api, body: Any, auth: dict[str, str]) -> list[str]:
    response = await api.client.post(XAPI, json=body, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    ids: list[str] = response.json()
    return ids


async def get_one(api: Api, auth: dict[str, str], **params: str) -> httpx.Response:
    return await api.client.get(XAPI, params=params, headers=auth)


def xapi_problem(response: httpx.Response, status: int) -> Json:
    body = assert_problem(response, status)
    assert response.headers["X-Experience-API-Version"] == "1.0.3", "every answer carries the version"
    return body


async def test_the_version_header_is_required_and_sent_on_every_answer(world: tuple[Api, World]) -> None:
    api, w = world
    auth = basic(*w.a_all)
    missing = await api.client.post(XAPI, json=stmt(), headers={"Authorization": auth["Authorization"]})
    assert "X-Experience-API-Version" in xapi_problem(missing, 400)["detail"]
    wrong = await api.client.get(XAPI, headers={**auth, "X-Experience-API-Version": "2.0.0"})
    xapi_problem(wrong, 400)
    for accepted in ("1.0.3", "1.0.0", "1.0"):
        ok = await api.client.get(XAPI, params={"limit": "1"}, headers={**auth, "X-Experience-API-Version": accepted})
        assert ok.status_code == 200, ok.text
        assert ok.headers["X-Experience-API-Version"] == "1.0.3"
        assert datetime.fromisoformat(ok.headers["X-Experience-API-Consistent-Through"]).tzinfo is not None


async def test_credentials_are_checked_and_scoped(world: tuple[Api, World]) -> None:
    api, w = world
    anonymous = await api.client.post(XAPI, json=stmt(), headers=V)
    assert "Basic" in xapi_problem(anonymous, 401)["detail"] or anonymous.headers["WWW-Authenticate"].startswith(
        "Basic"
    )
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    for auth in (
        basic(w.a_all[0], "wrong-secret"),
        basic("lrs-unknown", w.a_all[1]),
        basic(*w.revoked),
        {**V, "Authorization": "Basic not-base64!"},
        {**V, "Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        bearer("not-a-token"),
    ):
        xapi_problem(await api.client.post(XAPI, json=stmt(), headers=auth), 401)
        xapi_problem(await get_one(api, auth), 401)
    # Scopes: a read-only credential cannot write, a write-only one cannot read, a learner's token cannot write.
    xapi_problem(await api.client.post(XAPI, json=stmt(), headers=basic(*w.a_read)), 403)
    xapi_problem(await get_one(api, basic(*w.a_write)), 403)
    xapi_problem(await get_one(api, basic(*w.a_write), statementId=str(uuid.uuid4())), 403)
    xapi_problem(await api.client.post(XAPI, json=stmt(), headers=bearer(w.learner)), 403)
    ident = uuid.uuid4()
    put = await api.client.put(XAPI, params={"statementId": str(ident)}, json=stmt(), headers=basic(*w.a_read))
    xapi_problem(put, 403)
    assert (await get_one(api, basic(*w.a_all), statementId=str(ident))).status_code == 404


async def test_post_stores_one_or_many_and_sets_what_the_lrs_sets(world: tuple[Api, World]) -> None:
    api, w = world
    given = uuid.uuid4()
    (one,) = await post(api, stmt(ident=given), basic(*w.a_write))
    assert one == str(given)
    many = [stmt("bob"), stmt("cat", ident=uuid.uuid4()), stmt("dan")]
    ids = await post(api, many, basic(*w.a_write))
    assert len(ids) == 3
    assert ids[1] == many[1]["id"]
    assert all(uuid.UUID(i) for i in ids)
    response = await get_one(api, basic(*w.a_read), statementId=ids[0])
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["id"] == ids[0]
    assert got["actor"]["account"]["name"] == "bob"
    assert got["authority"]["account"] == {
        "homePage": "https://learn.example.org/xapi/credentials",
        "name": w.a_write[0],
    }
    assert got["version"] == "1.0.0", "a statement sent without version is stored as 1.0.0"
    assert datetime.fromisoformat(got["stored"]).tzinfo is not None
    assert response.headers["Last-Modified"]
    BaseXapiStatement.model_validate(got)
    # Sent again with the same content: a no-op answering the same ids.
    assert await post(api, stmt(ident=given), basic(*w.a_write)) == [str(given)]
    # A statement without a timestamp is stamped with the time it arrived.
    (stamped,) = await post(api, {k: v for k, v in stmt().items() if k != "timestamp"}, basic(*w.a_all))
    got = (await get_one(api, basic(*w.a_all), statementId=stamped)).json()
    assert abs(datetime.fromisoformat(got["timestamp"]) - datetime.now(UTC)) < timedelta(minutes=5)


async def test_put_is_idempotent_and_a_reused_id_with_other_content_conflicts(world: tuple[Api, World]) -> None:
    api, w = world
    ident = str(uuid.uuid4())
    auth = basic(*w.a_all)
    first = await api.client.put(XAPI, params={"statementId": ident}, json=stmt(), headers=auth)
    assert first.status_code == 204, first.text
    assert first.headers["X-Experience-API-Version"] == "1.0.3"
    again = await api.client.put(XAPI, params={"statementId": ident}, json=stmt(), headers=auth)
    assert again.status_code == 204
    other = await api.client.put(XAPI, params={"statementId": ident}, json=stmt(verb=COMPLETED), headers=auth)
    assert ident in xapi_problem(other, 409)["detail"]
    # POST of a batch holding the reused id: 409, and nothing of the batch is stored.
    fresh = uuid.uuid4()
    batch = [stmt(ident=fresh), stmt(verb=COMPLETED, ident=uuid.UUID(ident))]
    xapi_problem(await api.client.post(XAPI, json=batch, headers=auth), 409)
    assert (await get_one(api, auth, statementId=str(fresh))).status_code == 404
    assert (await get_one(api, auth, statementId=ident)).json()["verb"]["id"] == EXPERIENCED
    mismatch = await api.client.put(
        XAPI, params={"statementId": str(uuid.uuid4())}, json=stmt(ident=fresh), headers=auth
    )
    xapi_problem(mismatch, 400)
    xapi_problem(await api.client.put(XAPI, json=stmt(), headers=auth), 400)
    xapi_problem(await api.client.put(XAPI, params={"statementId": "nope"}, json=stmt(), headers=auth), 400)


async def test_voiding_hides_a_statement_from_queries_but_not_from_voided_statement_id(
    world: tuple[Api, World],
) -> None:
    api, w = world
    auth = basic(*w.a_all)
    activity = f"{TOOL}/activities/voiding-{uuid.uuid4()}"
    (target, kept) = await post(api, [stmt(activity=activity), stmt(activity=activity)], auth)
    (void,) = await post(api, voiding(target), auth)
    xapi_problem(await get_one(api, auth, statementId=target), 404)
    voided = await get_one(api, auth, voidedStatementId=target)
    assert voided.status_code == 200
    assert voided.json()["id"] == target
    xapi_problem(await get_one(api, auth, voidedStatementId=kept), 404)
    listed = (await get_one(api, auth, activity=activity)).json()["statements"]
    assert [s["id"] for s in listed] == [kept]
    assert (await get_one(api, auth, statementId=void)).json()["object"]["id"] == target
    # A voiding statement cannot be voided.
    refused = await api.client.post(XAPI, json=voiding(void), headers=auth)
    xapi_problem(refused, 400)
    # Organization B cannot void organization A's statement.
    await post(api, voiding(kept), basic(*w.b_all))
    assert (await get_one(api, auth, statementId=kept)).status_code == 200


async def test_queries_filter_and_more_pages_continue_to_the_end(world: tuple[Api, World]) -> None:
    api, w = world
    auth = basic(*w.a_all)
    activity = f"{TOOL}/activities/paged-{uuid.uuid4()}"
    registration = str(uuid.uuid4())
    sent: list[str] = []
    for i in range(7):
        extra = {"context": {"registration": registration}} if i % 2 == 0 else {}
        sent += await post(api, stmt("pia" if i < 5 else "quinn", activity=activity, **extra), auth)
    seen: list[str] = []
    url: str = f"{XAPI}?activity={activity}&limit=2&ascending=true"
    for _ in range(10):  # bounded: 7 statements in pages of 2 end after 4 pages
        page = await api.client.get(url, headers=auth)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [s["id"] for s in body["statements"]]
        if not body["more"]:
            break
        assert body["more"].startswith(XAPI + "?")
        url = body["more"]
    assert seen == sent, "every statement once, in stored order"
    newest = (await get_one(api, auth, activity=activity, limit="3")).json()
    assert [s["id"] for s in newest["statements"]] == sent[::-1][:3]
    agent = json.dumps({"objectType": "Agent", "account": {"homePage": TOOL, "name": "quinn"}})
    by_agent = (await get_one(api, auth, activity=activity, agent=agent)).json()["statements"]
    assert sorted(s["id"] for s in by_agent) == sorted(sent[5:])
    by_registration = (await get_one(api, auth, registration=registration)).json()["statements"]
    assert sorted(s["id"] for s in by_registration) == sorted(sent[0::2])
    by_verb = (await get_one(api, auth, activity=activity, verb=COMPLETED)).json()["statements"]
    assert by_verb == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await get_one(api, auth, activity=activity, since=future)).json()["statements"] == []
    assert len((await get_one(api, auth, activity=activity, until=future)).json()["statements"]) == 7
    ids_only = (await get_one(api, auth, activity=activity, limit="1", format="ids")).json()["statements"][0]
    assert ids_only["object"] == {"objectType": "Activity", "id": activity}
    assert set(ids_only["verb"]) == {"id"}
    assert "name" not in ids_only["actor"]
    # A cursor is bound to its query: reused with another filter it is refused.
    more = (await get_one(api, auth, activity=activity, limit="2")).json()["more"]
    cursor = more.split("cursor=")[1]
    xapi_problem(await get_one(api, auth, verb=COMPLETED, cursor=cursor), 400)


async def test_organizations_never_read_each_others_statements(world: tuple[Api, World]) -> None:
    api, w = world
    activity = f"{TOOL}/activities/scoped-{uuid.uuid4()}"
    (a_id,) = await post(api, stmt(activity=activity), basic(*w.a_all))
    (b_id,) = await post(api, stmt(activity=activity), basic(*w.b_all))
    assert (await get_one(api, basic(*w.b_all), statementId=a_id)).status_code == 404
    assert [s["id"] for s in (await get_one(api, basic(*w.b_all), activity=activity)).json()["statements"]] == [b_id]
    assert [s["id"] for s in (await get_one(api, basic(*w.a_read), activity=activity)).json()["statements"]] == [a_id]
    # An id another organization holds is a conflict, whatever the content.
    xapi_problem(
        await api.client.post(XAPI, json=stmt(activity=activity, ident=uuid.UUID(a_id)), headers=basic(*w.b_all)), 409
    )
    # Bearer tokens: the organization admin of A reads A's, the platform admin both.
    org_admin = (await get_one(api, bearer(w.org_admin_a), activity=activity)).json()["statements"]
    assert [s["id"] for s in org_admin] == [a_id]
    assert (await get_one(api, bearer(w.org_admin_a), statementId=b_id)).status_code == 404
    admin = (await get_one(api, {**ADMIN, **V}, activity=activity)).json()["statements"]
    assert sorted(s["id"] for s in admin) == sorted([a_id, b_id])


async def test_a_learner_reads_only_their_own_statements(world: tuple[Api, World]) -> None:
    api, w = world
    home = "https://learn.example.org"
    activity = f"{TOOL}/activities/own-{uuid.uuid4()}"
    (mine,) = await post(api, stmt(w.learner_id, activity=activity, home=home), basic(*w.a_all))
    (theirs,) = await post(api, stmt(str(uuid.uuid4()), activity=activity, home=home), basic(*w.a_all))
    listed = (await get_one(api, bearer(w.learner), activity=activity)).json()["statements"]
    assert [s["id"] for s in listed] == [mine]
    assert (await get_one(api, bearer(w.learner), statementId=mine)).status_code == 200
    assert (await get_one(api, bearer(w.learner), statementId=theirs)).status_code == 404
    other = json.dumps({"account": {"homePage": home, "name": "someone-else"}})
    xapi_problem(await get_one(api, bearer(w.learner), agent=other), 403)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (stmt() | {"actor": {"objectType": "Group", "member": []}}, "Groups"),
        (stmt() | {"object": {"objectType": "SubStatement", "actor": {}, "verb": {}, "object": {}}}, "SubStatement"),
        (stmt() | {"attachments": [{"usageType": "http://example.org/u"}]}, "attachments"),
        ({k: v for k, v in stmt().items() if k != "verb"}, "not a valid xAPI statement"),
        (stmt() | {"unknown": 1}, "not a valid xAPI statement"),
        (stmt() | {"version": "2.0.0"}, "1.0.x"),
        (stmt() | {"actor": {"objectType": "Agent", "name": "no identifier"}}, "identifier"),
        ([], "no statement"),
        ([stmt()] * 1001, "at most 1000"),
        ("just a string", "JSON object"),
    ],
    ids=[
        "group",
        "substatement",
        "attachments",
        "no-verb",
        "unknown-field",
        "version",
        "no-ifi",
        "empty",
        "too-many",
        "string",
    ],
)
async def test_invalid_statements_are_refused_with_400(world: tuple[Api, World], body: Any, says: str) -> None:
    api, w = world
    response = await api.client.post(XAPI, json=body, headers=basic(*w.a_all))
    assert says in xapi_problem(response, 400)["detail"]


async def test_malformed_requests_are_refused_with_400_or_413(world: tuple[Api, World]) -> None:
    api, w = world
    auth = basic(*w.a_all)
    xapi_problem(await get_one(api, auth, bogus="1"), 400)
    xapi_problem(await get_one(api, auth, statementId=str(uuid.uuid4()), verb=EXPERIENCED), 400)
    xapi_problem(await get_one(api, auth, statementId=str(uuid.uuid4()), voidedStatementId=str(uuid.uuid4())), 400)
    xapi_problem(await get_one(api, auth, since="yesterday"), 400)
    xapi_problem(await get_one(api, auth, agent="{not json"), 400)
    xapi_problem(await get_one(api, auth, agent='{"objectType": "Group", "member": []}'), 400)
    xapi_problem(await get_one(api, auth, related_agents="true"), 400)
    xapi_problem(await get_one(api, auth, format="canonical"), 400)
    xapi_problem(await get_one(api, auth, limit="-1"), 400)
    not_json = await api.client.post(XAPI, content=b"{nope", headers={**auth, "Content-Type": "application/json"})
    xapi_problem(not_json, 400)
    multipart = await api.client.post(
        XAPI, content=b"--x--", headers={**auth, "Content-Type": "multipart/mixed; boundary=x"}
    )
    assert "attachments" in xapi_problem(multipart, 400)["detail"]
    huge = b'{"pad": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    xapi_problem(await api.client.post(XAPI, content=huge, headers={**auth, "Content-Type": "application/json"}), 413)
