"""The statement export's rules on fakes: who may export whose statements, and the pages it walks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.analytics.export import StatementExportService
from elearning_core.auth.model import PLATFORM, Grant, Role, RolePolicy, Scope
from elearning_core.shared.errors import NotFound, PermissionDenied
from elearning_core.shared.ports import SYSTEM, Principal

HOME = "https://learn.example.org"
ANN, BOB = uuid.UUID(int=1), uuid.UUID(int=2)


class Rows:
    """Statements by (seq, actor key); ``reads`` counts the pages asked for."""

    def __init__(self, actors: list[uuid.UUID]) -> None:
        self.rows = [(seq, f"account:{HOME}|{a}", {"id": seq, "who": str(a)}) for seq, a in enumerate(actors, 1)]
        self.reads: list[int] = []

    async def count(self, agent: str) -> int:
        return sum(1 for _, actor, _ in self.rows if actor == agent)

    async def page(self, agent: str, *, after: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
        self.reads.append(limit)
        mine = [(seq, data) for seq, actor, data in self.rows if actor == agent and (after is None or seq > after)]
        return mine[:limit]


async def known(user_id: uuid.UUID) -> bool:
    return user_id in (ANN, BOB)


def person(user_id: uuid.UUID, *grants: Grant) -> Principal:
    return Principal(subject=f"user:{user_id}", user_id=user_id, grants=frozenset(grants))


def service(rows: Rows) -> StatementExportService:
    return StatementExportService(rows, known, RolePolicy(), HOME)


async def test_the_learner_and_platform_admins_may_export_and_nobody_else() -> None:
    rows = Rows([ANN, BOB, ANN])
    exports = service(rows)
    assert (await (await exports.export(person(ANN), ANN)).count()) == 2
    admin = person(uuid.uuid4(), Grant(Role.PLATFORM_ADMIN, PLATFORM))
    assert (await (await exports.export(admin, ANN)).count()) == 2
    assert (await (await exports.export(SYSTEM, BOB)).count()) == 1
    org_admin = person(uuid.uuid4(), Grant(Role.ORGANIZATION_ADMIN, Scope.organization(uuid.uuid4())))
    for stranger in (person(BOB), org_admin, person(uuid.uuid4(), Grant(Role.INSTRUCTOR, PLATFORM))):
        with pytest.raises(PermissionDenied):
            await exports.export(stranger, ANN)
    with pytest.raises(NotFound):
        await exports.export(admin, uuid.uuid4())


@given(st.lists(st.sampled_from([ANN, BOB]), max_size=40), st.integers(min_value=1, max_value=7))
async def test_the_pages_hold_every_statement_of_the_learner_once_in_order(actors: list[uuid.UUID], size: int) -> None:
    rows = Rows(actors)
    export = await service(rows).export(person(ANN), ANN)
    pages = [page async for page in export.pages(size)]
    assert [d["id"] for page in pages for d in page] == [seq for seq, a in enumerate(actors, 1) if a == ANN]
    assert all(0 < len(page) <= size for page in pages)
    assert len(rows.reads) == len(pages) + (0 if pages and len(pages[-1]) < size else 1)  # a last short read


async def test_the_ndjson_holds_a_statement_per_line_and_reports_each_page() -> None:
    rows = Rows([ANN] * 1201)
    export = await service(rows).export(person(ANN), ANN)
    seen: list[int] = []
    body = b"".join([chunk async for chunk in export.ndjson(on_page=seen.append)])
    assert body.endswith(b"\n")
    assert [json.loads(line)["id"] for line in body.splitlines()] == list(range(1, 1202))
    assert seen == [500, 500, 201]
    empty = await service(Rows([BOB])).export(person(ANN), ANN)
    assert b"".join([chunk async for chunk in empty.ndjson()]) == b""
