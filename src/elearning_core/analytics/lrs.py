"""The learning record store's use cases: who may write and read which statements (issue 18, point 2).

Callers of ``/xapi/statements`` are one of:

- an **LRS credential** (HTTP Basic): writes with ``statements/write`` into its organization, reads with
  ``statements/read`` only its organization's statements; ``all`` is both. What it writes carries it as
  ``authority``;
- a **platform admin** (bearer token, or the admin service token): reads every statement;
- an **organization admin** (bearer): reads the statements of their organizations' credentials;
- any other signed-in **user** (bearer): reads only statements whose actor is themselves (the account
  agent the platform writes for them). Bearer callers do not write: external tools write with a credential.

The platform's own statements (from the projection) belong to no organization: platform admins and the
learners themselves read them. A caller learns nothing of a statement they may not read (404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any

from elearning_core.analytics._lrs_parse import parse_statement, parse_statements
from elearning_core.analytics.lrs_credentials import LrsCredential
from elearning_core.analytics.model import Account, Agent, Statement, StoredStatement
from elearning_core.analytics.ports import LocatedStatement, StatementQuery, StatementStore
from elearning_core.analytics.service import AnalyticsService
from elearning_core.auth.model import LEGACY_ADMIN_ROLE, Grant, Role, ScopeKind
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import PermissionDenied
from elearning_core.shared.pagination import Page
from elearning_core.shared.ports import Principal


@dataclass(frozen=True, slots=True)
class LrsCaller:
    """Who calls the statements resource, as the rules above make them."""

    name: str
    can_read: bool
    organizations: frozenset[uuid.UUID] | None
    """Whose statements they read (None: every statement)."""
    agent: str | None = None
    """When set, they read only statements whose actor is this agent (``Agent.key()``)."""
    write_organization: uuid.UUID | None = None
    authority: Agent | None = None
    """Set for a caller that may write: the ``authority`` of what it writes."""


class LrsService:
    def __init__(self, analytics: AnalyticsService, store: StatementStore, clock: Clock, home_page: str) -> None:
        self._analytics, self._store, self._clock, self._home = analytics, store, clock, home_page

    # -- who is calling ----------------------------------------------------------------

    def credential_caller(self, credential: LrsCredential) -> LrsCaller:
        org = credential.organization_id
        return LrsCaller(
            name=f"LRS credential {credential.key}",
            can_read=credential.can_read,
            organizations=frozenset({org}),
            write_organization=org if credential.can_write else None,
            authority=credential.authority(self._home) if credential.can_write else None,
        )

    def principal_caller(self, principal: Principal) -> LrsCaller:
        grants = [g for g in principal.grants if isinstance(g, Grant)]
        if principal.has_role(LEGACY_ADMIN_ROLE) or any(g.role is Role.PLATFORM_ADMIN for g in grants):
            return LrsCaller(name="platform admin", can_read=True, organizations=None)
        admin_of = frozenset(
            g.scope.id
            for g in grants
            if g.role is Role.ORGANIZATION_ADMIN and g.scope.kind is ScopeKind.ORGANIZATION and g.scope.id is not None
        )
        if admin_of:
            return LrsCaller(name="organization admin", can_read=True, organizations=admin_of)
        if principal.user_id is None:
            return LrsCaller(name=principal.subject, can_read=False, organizations=frozenset())
        me = Agent(account=Account(home_page=self._home, name=str(principal.user_id))).key()
        return LrsCaller(name="learner", can_read=True, organizations=None, agent=me)

    # -- writes ------------------------------------------------------------------------

    def writer(self, caller: LrsCaller) -> Agent:
        """The authority of what ``caller`` writes, or ``PermissionDenied`` when it may not write."""
        if caller.authority is None:
            raise PermissionDenied(
                "write statements", "sending statements needs an LRS credential with the statements/write scope"
            )
        return caller.authority

    async def post(self, caller: LrsCaller, body: Any) -> list[uuid.UUID]:
        """A statement or an array of them; their ids in the order sent (those already stored included)."""
        authority = self.writer(caller)
        statements = parse_statements(body, now=self._clock.now().astimezone(UTC), authority=authority)
        await self._store.append(statements, organization=caller.write_organization)
        return [s.id for s in statements]

    async def put(self, caller: LrsCaller, statement_id: uuid.UUID, body: Any) -> None:
        authority = self.writer(caller)
        now = self._clock.now().astimezone(UTC)
        statement = parse_statement(body, where="statement", now=now, authority=authority, statement_id=statement_id)
        await self._store.append([statement], organization=caller.write_organization)

    # -- reads -------------------------------------------------------------------------

    def _reader(self, caller: LrsCaller) -> None:
        if not caller.can_read:
            raise PermissionDenied("read statements", f"{caller.name} has no statements/read scope")

    def _sees(self, caller: LrsCaller, found: LocatedStatement) -> bool:
        if caller.organizations is not None and found.organization_id not in caller.organizations:
            return False
        return caller.agent is None or found.statement.actor.key() == caller.agent

    async def statement(self, caller: LrsCaller, statement_id: uuid.UUID, *, voided: bool) -> Statement | None:
        """``statementId`` (voided=False) or ``voidedStatementId`` (voided=True): None when not stored, in
        the other state, or not the caller's to read."""
        self._reader(caller)
        found = await self._store.locate(statement_id)
        if found is None or found.voided != voided or not self._sees(caller, found):
            return None
        return found.statement

    async def statements(
        self, caller: LrsCaller, query: StatementQuery, *, limit: int, cursor: str | None
    ) -> Page[StoredStatement]:
        self._reader(caller)
        if caller.agent is not None:
            if query.agent is not None and query.agent != caller.agent:
                raise PermissionDenied("read statements", "a learner reads only their own statements (agent)")
            query = _with(query, agent=caller.agent)
        if caller.organizations is not None:
            query = _with(query, organizations=caller.organizations)
        return await self._analytics.statements(query, limit=limit, cursor=cursor)


def _with(query: StatementQuery, **changes: Any) -> StatementQuery:
    return replace(query, **changes)
