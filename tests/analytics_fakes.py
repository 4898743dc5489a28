"""In-memory fakes of the analytics ports, kept honest by tests/contract/test_statement_store.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from elearning_core.analytics.aggregate_figures import course_aggregates, platform_aggregates
from elearning_core.analytics.aggregates import CourseAggregates, PlatformAggregates
from elearning_core.analytics.aggregating import Delta, Zones, collect
from elearning_core.analytics.lrs_credentials import LrsCredential, LrsCredentialStore
from elearning_core.analytics.model import Statement, StoredStatement
from elearning_core.analytics.ports import (
    InvalidVoiding,
    LocatedStatement,
    StatementConflict,
    StatementQuery,
    StatementStore,
)
from elearning_core.shared.clock import Clock


@dataclass
class _Row:
    seq: int
    statement: Statement
    digest: str
    voided: bool = False
    organization: uuid.UUID | None = None


@dataclass
class InMemoryStatementStore(StatementStore):
    clock: Clock
    rows: dict[uuid.UUID, _Row] = field(default_factory=dict)
    _seq: int = 0

    async def append(
        self, statements: Sequence[Statement], *, organization: uuid.UUID | None = None
    ) -> list[uuid.UUID]:
        fresh: dict[uuid.UUID, Statement] = {}
        conflicts: list[uuid.UUID] = []
        for statement in statements:
            known = self.rows.get(statement.id)
            earlier = fresh.get(statement.id)
            digest = statement.content_digest()
            if (known is not None and (known.digest != digest or known.organization != organization)) or (
                earlier is not None and earlier.content_digest() != digest
            ):
                conflicts.append(statement.id)
            elif known is None and earlier is None:
                fresh[statement.id] = statement
        if conflicts:
            raise StatementConflict(conflicts)
        for statement in fresh.values():
            target = statement.voided_target
            if target is None:
                continue
            stored_target = self.rows.get(target)
            if stored_target is not None and stored_target.organization != organization:
                stored_target = None
            voids = stored_target or (None if target not in fresh else _Row(0, fresh[target], ""))
            if voids is not None and voids.statement.voided_target is not None:
                raise InvalidVoiding(statement.id, target)
        now = self.clock.now()
        for statement in fresh.values():
            self._seq += 1
            stored = statement.model_copy(update={"stored": now})
            self.rows[statement.id] = _Row(self._seq, stored, statement.content_digest(), organization=organization)
        voiding = {
            (s.voided_target, r.organization)
            for r in self.rows.values()
            if (s := r.statement).voided_target is not None
        }
        for row in self.rows.values():
            if (row.statement.id, row.organization) in voiding and row.statement.voided_target is None:
                row.voided = True
        return list(fresh)

    async def get(self, statement_id: uuid.UUID) -> Statement | None:
        row = self.rows.get(statement_id)
        return row.statement if row is not None and not row.voided else None

    async def locate(self, statement_id: uuid.UUID) -> LocatedStatement | None:
        row = self.rows.get(statement_id)
        return None if row is None else LocatedStatement(row.statement, row.voided, row.organization)

    async def get_voided(self, statement_id: uuid.UUID) -> Statement | None:
        row = self.rows.get(statement_id)
        return row.statement if row is not None and row.voided else None

    async def query(self, query: StatementQuery, *, after: int | None, limit: int) -> list[StoredStatement]:
        rows = sorted(self.rows.values(), key=lambda r: r.seq, reverse=not query.ascending)
        out: list[StoredStatement] = []
        for row in rows:
            if after is not None and (row.seq <= after if query.ascending else row.seq >= after):
                continue
            if row.voided or not _matches(row.statement, query):
                continue
            if query.organizations is not None and row.organization not in query.organizations:
                continue
            out.append(StoredStatement(seq=row.seq, statement=row.statement))
            if len(out) == limit:
                break
        return out


def _matches(s: Statement, q: StatementQuery) -> bool:
    stored: datetime | None = s.stored
    assert stored is not None
    registration = s.context.registration if s.context is not None else None
    return (
        (q.agent is None or s.actor.key() == q.agent)
        and (q.verb is None or s.verb.id == q.verb)
        and (q.activity is None or s.activity_id == q.activity)
        and (q.registration is None or registration == q.registration)
        and (q.since is None or stored > q.since)
        and (q.until is None or stored <= q.until)
    )


@dataclass
class InMemoryLrsCredentialStore(LrsCredentialStore):
    """The LRS credentials in a dict (the SQL store is exercised by the HTTP and CLI tests)."""

    rows: dict[str, LrsCredential] = field(default_factory=dict)

    async def add(self, credential: LrsCredential) -> None:
        self.rows[credential.key] = credential

    async def get(self, key: str) -> LrsCredential | None:
        return self.rows.get(key)

    async def list(self, organization_id: uuid.UUID | None) -> list[LrsCredential]:
        found = [c for c in self.rows.values() if organization_id in (None, c.organization_id)]
        return sorted(found, key=lambda c: (c.created_at, c.key), reverse=True)

    async def revoke(self, key: str, at: datetime) -> bool:
        credential = self.rows.get(key)
        if credential is None or credential.revoked_at is not None:
            return False
        self.rows[key] = replace(credential, revoked_at=at)
        return True


@dataclass
class InMemoryAggregateReads:
    """``AggregateReads`` computed with the reference (``elearning_core.analytics.aggregating``) over the fake
    statement store's platform statements (not voided): what the SQL tables must agree with."""

    store: InMemoryStatementStore
    zones: Zones = field(default_factory=Zones)
    lesson_counts: dict[uuid.UUID, int] = field(default_factory=dict)

    def _delta(self) -> Delta:
        rows = sorted(self.store.rows.values(), key=lambda r: r.seq)
        return collect((r.statement.as_json() for r in rows if r.organization is None and not r.voided), self.zones)

    async def course(
        self, course_id: uuid.UUID, since: date, until: date, *, videos: int | None = None
    ) -> CourseAggregates | None:
        if course_id not in self.lesson_counts:
            return None
        return course_aggregates(
            self._delta(),
            course_id,
            since,
            until,
            zones=self.zones,
            lesson_count=self.lesson_counts[course_id],
            videos=videos,
        )

    async def platform(self, since: date, until: date) -> PlatformAggregates:
        return platform_aggregates(self._delta(), since, until, zones=self.zones)
