"""A learner's statements, all of them, for the right of access (GDPR art. 15; issue 18, point 5).

``StatementExportService.export(actor, user_id)`` decides who may have them (the learner themselves, and
platform admins: ``user.manage`` on the platform; anyone else is refused) before anything is read, and
hands back a ``StatementExport``: its ``count()`` (for a progress bar) and its ``pages()``, the statements in
stored order a page at a time, so the HTTP route and the CLI stream them (NDJSON: a statement per line) and
never hold them whole.

"The learner's statements" are those whose actor is their platform account (``{homePage: <base>, name:
<user id>}``), whoever wrote them: the platform's projection and LRS clients alike, voided ones included
(they are still stored about the person; the voiding statement says they were voided). After the account is
deleted its statements are under a pseudonym (``pseudonyms``), so an export of a deleted account is empty.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from elearning_core.analytics.model import Account, Agent
from elearning_core.auth.model import Permission
from elearning_core.shared.errors import NotFound
from elearning_core.shared.ports import Policy, Principal, require

EXPORT_PAGE = 500
"""Statements read per page of an export."""


class LearnerStatements(Protocol):
    """The export's read of the statement store: one actor's statements in stored order, voided ones too."""

    async def count(self, agent: str) -> int: ...

    async def page(self, agent: str, *, after: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` (seq, statement JSON as stored) of the actor ``agent`` (``Agent.key()``) after ``after``."""
        ...


class UserExists(Protocol):
    async def __call__(self, user_id: uuid.UUID) -> bool: ...


@dataclass(frozen=True, slots=True)
class StatementExport:
    user_id: uuid.UUID
    agent: str
    _source: LearnerStatements

    async def count(self) -> int:
        return await self._source.count(self.agent)

    async def pages(self, size: int = EXPORT_PAGE) -> AsyncIterator[list[dict[str, Any]]]:
        """The statements' JSON, a page at a time, oldest first (a keyset walk of the actor's index)."""
        after: int | None = None
        while True:
            rows = await self._source.page(self.agent, after=after, limit=size)
            if rows:
                yield [data for _, data in rows]
            if len(rows) < size:
                return
            after = rows[-1][0]

    async def ndjson(self, on_page: Callable[[int], None] | None = None) -> AsyncIterator[bytes]:
        """The export as NDJSON (one statement's JSON per line, UTF-8), a chunk per page: what the HTTP route
        streams and the CLI writes; a reader can take it line by line, however long. ``on_page(n)`` is told
        each page's statement count (a progress bar)."""
        async for page in self.pages():
            yield "".join(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n" for data in page).encode()
            if on_page is not None:
                on_page(len(page))


class StatementExportService:
    def __init__(self, source: LearnerStatements, users: UserExists, policy: Policy, home_page: str) -> None:
        self._source, self._users, self._policy, self._home = source, users, policy, home_page

    async def export(self, actor: Principal, user_id: uuid.UUID) -> StatementExport:
        """The export of ``user_id``'s statements for ``actor``: ``PermissionDenied`` unless it is their own or
        ``actor`` is a platform admin; ``NotFound`` for an unknown account."""
        if actor.user_id != user_id:
            require(self._policy, actor, Permission.USER_MANAGE)
            if not await self._users(user_id):
                raise NotFound("user", user_id)
        agent = Agent(account=Account(home_page=self._home, name=str(user_id))).key()
        return StatementExport(user_id, agent, self._source)
