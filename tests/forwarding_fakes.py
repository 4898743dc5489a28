"""In-memory fakes of the forwarder's ports, kept honest by tests/contract/test_statement_feed.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from elearning_core.analytics.forwarder import (
    DeliveryFailed,
    Lag,
    OutgoingStatement,
    StatementDestination,
    StatementFeed,
)
from tests.analytics_fakes import InMemoryStatementStore


@dataclass
class InMemoryStatementFeed(StatementFeed):
    store: InMemoryStatementStore
    checkpoints: dict[str, int] = field(default_factory=dict)

    def _rows(self) -> list[OutgoingStatement]:
        rows = sorted(self.store.rows.values(), key=lambda r: r.seq)
        return [OutgoingStatement(r.seq, r.statement.id, r.statement.as_json()) for r in rows]

    async def position(self, destination: str) -> int:
        return self.checkpoints.get(destination, 0)

    async def horizon(self, *, beyond: int) -> int:
        return max((r.seq for r in self.store.rows.values()), default=0)

    async def after(self, position: int, *, upto: int, limit: int) -> list[OutgoingStatement]:
        return [r for r in self._rows() if position < r.seq <= upto][:limit]

    async def advance(self, destination: str, position: int, *, at: datetime) -> None:
        self.checkpoints[destination] = max(self.checkpoints.get(destination, 0), position)

    async def lag(self, destination: str, *, cap: int) -> Lag:
        behind = [r for r in self.store.rows.values() if r.seq > self.checkpoints.get(destination, 0)]
        oldest = min(behind, key=lambda r: r.seq).statement.stored if behind else None
        return Lag(min(len(behind), cap), oldest)

    async def prune(self, *, stored_before: datetime, upto: int | None, limit: int) -> int:
        rows = sorted(self.store.rows.values(), key=lambda r: r.seq)
        doomed = [
            r
            for r in rows[:-1]  # never the newest (the SQL feed's rule: SQLite reuses a seq past the top)
            if r.statement.stored is not None and r.statement.stored < stored_before and (upto is None or r.seq <= upto)
        ][:limit]
        for r in doomed:
            del self.store.rows[r.statement.id]
        return len(doomed)


@dataclass
class FakeDestination(StatementDestination):
    """Records what it received; fails the next ``failures`` sends (retryable or not)."""

    name: str = "fake:destination"
    received: list[OutgoingStatement] = field(default_factory=list)
    failures: int = 0
    retryable: bool = True
    attempts: int = 0

    async def send(self, statements: Sequence[OutgoingStatement]) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise DeliveryFailed("destination unavailable (fake)", retryable=self.retryable)
        self.received.extend(statements)
