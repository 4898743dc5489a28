"""What the analytics module needs from outside: the statement store.

The store is shaped after the xAPI statements resource (``GET /xapi/statements``): filters by agent,
verb, activity, registration and a stored-time window, pages in stored order whose ``more`` link is
the seq of the last statement returned, voiding, and the 409 of a reused id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.analytics.model import Statement, StoredStatement
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed


class StatementConflict(Conflict):
    """A statement id the store holds already, with other content (xAPI answers 409)."""

    def __init__(self, ids: Sequence[uuid.UUID]) -> None:
        self.ids = list(ids)
        shown = ", ".join(str(i) for i in self.ids[:5]) + (" ..." if len(self.ids) > 5 else "")
        super().__init__(f"statement id already stored with other content: {shown}")


class InvalidVoiding(ValidationFailed):
    """A voiding statement that targets a voiding statement (xAPI 1.0.3, 2.2.6: those cannot be voided)."""

    def __init__(self, statement_id: uuid.UUID, target: uuid.UUID) -> None:
        super().__init__(
            f"statement {statement_id} voids {target}, itself a voiding statement: a voiding statement cannot be voided",
            [FieldError("object.id", "targets a voiding statement")],
        )


@dataclass(frozen=True, slots=True)
class StatementQuery:
    """The filters of ``GET /xapi/statements`` the store serves (all optional, combined with AND).

    ``agent`` is an agent key (``Agent.key()``) matched against the actor; ``activity`` the object's
    id; ``since`` / ``until`` bound the stored time (since exclusive, until inclusive, as xAPI says);
    ``ascending`` pages oldest first (xAPI's default is newest first). Voided statements are never
    listed (fetch one by ``get_voided``); voiding statements are. ``organizations`` keeps the statements
    written by those organizations' LRS credentials (None: every statement, the platform's own included)."""

    agent: str | None = None
    verb: str | None = None
    activity: str | None = None
    registration: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    ascending: bool = False
    organizations: frozenset[uuid.UUID] | None = None


@dataclass(frozen=True, slots=True)
class LocatedStatement:
    """A stored statement with what the store knows around it: voided or not, and the organization whose
    LRS credential wrote it (None: the platform's own statements, written by the projection)."""

    statement: Statement
    voided: bool
    organization_id: uuid.UUID | None


class StatementStore(Protocol):
    async def append(
        self, statements: Sequence[Statement], *, organization: uuid.UUID | None = None
    ) -> list[uuid.UUID]:
        """Store a batch atomically; returns the ids newly stored, in batch order.

        ``organization`` is the organization whose LRS credential sends the batch (None: the platform).
        An id stored by another organization (or by the platform) is a conflict whatever its content, and
        a voiding statement only voids statements of its own organization.

        An id already stored (or twice in the batch) with the same content is a no-op; with other
        content the whole batch is refused with ``StatementConflict``. Each statement gets ``stored``
        (now) and its place in stored order. A voiding statement marks its target voided (also a
        target that arrives later); one that targets a voiding statement is ``InvalidVoiding``."""
        ...

    async def get(self, statement_id: uuid.UUID) -> Statement | None:
        """The statement if it is stored and not voided (xAPI ``statementId``)."""
        ...

    async def get_voided(self, statement_id: uuid.UUID) -> Statement | None:
        """The statement if it is stored and voided (xAPI ``voidedStatementId``)."""
        ...

    async def locate(self, statement_id: uuid.UUID) -> LocatedStatement | None:
        """The statement whether voided or not, with its organization (the LRS decides who may see it)."""
        ...

    async def query(self, query: StatementQuery, *, after: int | None, limit: int) -> list[StoredStatement]:
        """Up to ``limit`` statements matching ``query`` in stored order, after the one whose ``seq`` is
        ``after`` (in the query's direction); None starts at the first."""
        ...


RegistrationKey = tuple[uuid.UUID, uuid.UUID]
"""(course id, user id): whose enrollment an event's statement belongs to."""
