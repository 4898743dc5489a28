"""The learning record store's rules without HTTP: what a statement sent by a tool becomes (ids, version,
timestamp, authority; Groups and SubStatements refused by name), who a caller is (credential, platform
admin, organization admin, learner) and what each reads, and the credentials' life (a secret that works
once created, never stored, refused once revoked; managed by admins of the organization only)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from elearning_core.analytics._lrs_parse import NotSupported, parse_agent, parse_statement, parse_statements
from elearning_core.analytics.lrs import LrsService
from elearning_core.analytics.lrs_credentials import LrsCredentialService, LrsScope, parse_scopes
from elearning_core.analytics.model import Account, Agent
from elearning_core.analytics.ports import StatementQuery
from elearning_core.analytics.service import AnalyticsService
from elearning_core.auth.model import Grant, Role, RolePolicy, Scope
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import SYSTEM, Principal
from tests.analytics_fakes import InMemoryLrsCredentialStore, InMemoryStatementStore
from tests.fakes import T0

HOME = "https://learn.example.org"
ORG_A, ORG_B = uuid.UUID(int=1), uuid.UUID(int=2)
AUTHORITY = Agent(account=Account(home_page=f"{HOME}/xapi/credentials", name="lrs-a"))


def sent(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "actor": {"account": {"homePage": "https://tool.example", "name": "ann"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": "https://tool.example/a/1"},
    }
    return data | changes


def test_what_the_lrs_sets_is_set_and_what_the_client_sent_is_kept() -> None:
    statement = parse_statement(
        sent(stored="2000-01-01T00:00:00Z", authority={"mbox": "mailto:x@example.org"}),
        where="statement",
        now=T0,
        authority=AUTHORITY,
    )
    assert statement.version == "1.0.0"
    assert statement.timestamp == T0
    assert statement.authority == AUTHORITY
    assert statement.stored is None
    assert statement.id.version == 4
    given = uuid.uuid4()
    again = parse_statement(sent(id=str(given), version="1.0.3"), where="s", now=T0, authority=AUTHORITY)
    assert (again.id, again.version) == (given, "1.0.3")
    put = parse_statement(sent(), where="s", now=T0, authority=AUTHORITY, statement_id=given)
    assert put.id == given
    with pytest.raises(ValidationFailed, match="differs from statementId"):
        parse_statement(sent(id=str(uuid.uuid4())), where="s", now=T0, authority=AUTHORITY, statement_id=given)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"actor": {"objectType": "Group", "member": []}}, "Groups are not supported"),
        ({"object": {"objectType": "SubStatement"}}, "SubStatement objects are not supported"),
        ({"attachments": []}, "attachments are not supported"),
        ({"context": {"team": {"objectType": "Group"}}}, "context.team"),
        ({"context": {"instructor": {"objectType": "Group"}}}, "Group as context.instructor"),
    ],
)
def test_what_the_model_does_not_hold_is_refused_by_name(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(NotSupported, match=says):
        parse_statements([sent(), sent(**changes)], now=T0, authority=AUTHORITY)


def test_invalid_statements_name_their_place_in_the_batch() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_statements([sent(), sent(verb={"display": {"en-US": "no id"}})], now=T0, authority=AUTHORITY)
    assert refused.value.detail.startswith("[1]:")
    assert any(e.field.startswith("[1].verb") for e in refused.value.errors)
    with pytest.raises(ValidationFailed, match="time zone"):
        parse_statement(sent(timestamp="2026-12-07T06:00:00"), where="s", now=T0, authority=AUTHORITY)
    with pytest.raises(ValidationFailed, match="identifier"):
        parse_statement(sent(actor={"name": "nobody"}), where="s", now=T0, authority=AUTHORITY)
    with pytest.raises(ValidationFailed, match="Groups"):
        parse_agent('{"objectType": "Group", "member": []}')
    assert parse_agent('{"mbox": "mailto:a@example.org"}').key() == "mbox:mailto:a@example.org"


def lrs(store: InMemoryStatementStore) -> LrsService:
    return LrsService(AnalyticsService(store, CursorCodec(b"a-test-secret-of-enough-bytes")), store, store.clock, HOME)


def user(*grants: Grant) -> Principal:
    return Principal(subject="user:1", user_id=uuid.UUID(int=99), grants=grants)


async def test_callers_read_what_the_rules_give_them() -> None:
    store = InMemoryStatementStore(FixedClock(T0))
    service = lrs(store)
    me = Agent(account=Account(home_page=HOME, name=str(uuid.UUID(int=99))))
    mine = sent(actor=me.model_dump(mode="json", by_alias=True, exclude_none=True))
    await store.append(parse_statements([sent(), mine], now=T0, authority=AUTHORITY), organization=ORG_A)
    await store.append(parse_statements(sent(), now=T0, authority=AUTHORITY), organization=ORG_B)

    async def count(principal: Principal, query: StatementQuery = StatementQuery()) -> int:
        page = await service.statements(service.principal_caller(principal), query, limit=100, cursor=None)
        return len(page.items)

    assert await count(SYSTEM) == 3  # the CLI and the admin token: platform admins
    assert await count(user(Grant(Role.PLATFORM_ADMIN))) == 3
    assert await count(user(Grant(Role.ORGANIZATION_ADMIN, Scope.organization(ORG_A)))) == 2
    assert await count(user(Grant(Role.LEARNER))) == 1  # only the statement whose actor is them
    with pytest.raises(PermissionDenied):
        await count(user(), StatementQuery(agent="account:https://tool.example|ann"))
    service_account = Principal(subject="service:x")
    with pytest.raises(PermissionDenied):
        await count(service_account)


async def test_writing_needs_a_credential_with_the_write_scope() -> None:
    store = InMemoryStatementStore(FixedClock(T0))
    service = lrs(store)
    with pytest.raises(PermissionDenied, match="statements/write"):
        await service.post(service.principal_caller(SYSTEM), sent())


async def test_credentials_work_once_created_and_stop_when_revoked() -> None:
    clock = FixedClock(T0)
    store = InMemoryLrsCredentialStore()

    async def exists(org: uuid.UUID) -> bool:
        return org in (ORG_A, ORG_B)

    service = LrsCredentialService(store, exists, clock, RolePolicy())
    made = await service.create(SYSTEM, ORG_A, parse_scopes(["statements/read"]), "tool")
    assert made.secret not in made.credential.secret_digest
    assert all(made.secret not in repr(c) for c in store.rows.values())
    found = await service.authenticate(made.credential.key, made.secret)
    assert found.can_read
    assert not found.can_write
    for key, secret in ((made.credential.key, "wrong"), ("lrs-unknown", made.secret), ("other", made.secret)):
        with pytest.raises(Unauthenticated):
            await service.authenticate(key, secret)
    revoked = await service.revoke(SYSTEM, made.credential.key)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthenticated):
        await service.authenticate(made.credential.key, made.secret)
    with pytest.raises(NotFound):
        await service.create(SYSTEM, uuid.UUID(int=7), frozenset({LrsScope.ALL}))
    with pytest.raises(ValidationFailed, match="unknown LRS scope"):
        parse_scopes(["statements/delete"])
    admin_of_b = user(Grant(Role.ORGANIZATION_ADMIN, Scope.organization(ORG_B)))
    with pytest.raises(PermissionDenied):
        await service.create(admin_of_b, ORG_A, frozenset({LrsScope.ALL}))
    own = await service.create(admin_of_b, ORG_B, frozenset({LrsScope.ALL}))
    assert [c.key for c in await service.list(admin_of_b, ORG_B)] == [own.credential.key]
    with pytest.raises(PermissionDenied):
        await service.list(admin_of_b)
