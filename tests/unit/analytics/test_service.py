"""The analytics service's statement reads: signed cursors over the store's stored order (the ``more``
link of ``GET /xapi/statements``), bound to the query they came from."""

from __future__ import annotations

import pytest

from elearning_core.analytics.mapping import StatementMapper
from elearning_core.analytics.ports import StatementConflict, StatementQuery
from elearning_core.analytics.service import AnalyticsService
from elearning_core.analytics.vocabulary import PlatformIris
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from tests.analytics_fakes import InMemoryStatementStore
from tests.fakes import T0
from tests.unit.analytics.events import every_event

MAPPER = StatementMapper(PlatformIris("https://learn.example.org"))


def service() -> AnalyticsService:
    return AnalyticsService(InMemoryStatementStore(FixedClock(T0)), CursorCodec(b"a-test-secret-of-enough-bytes"))


async def test_pages_walk_every_statement_once_in_stored_order() -> None:
    analytics = service()
    statements = [s for e in every_event().values() for s in MAPPER.map(e)]
    assert len(await analytics.record(statements)) == len(statements)
    seen, cursor = [], None
    for _ in range(len(statements)):
        page = await analytics.statements(StatementQuery(ascending=True), limit=4, cursor=cursor)
        seen += [s.statement.id for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [s.id for s in statements]


async def test_a_cursor_only_serves_the_query_it_came_from() -> None:
    analytics = service()
    await analytics.record([s for e in every_event().values() for s in MAPPER.map(e)])
    page = await analytics.statements(StatementQuery(), limit=2)
    assert page.next_cursor is not None
    with pytest.raises(ValidationFailed):
        await analytics.statements(
            StatementQuery(verb="http://adlnet.gov/expapi/verbs/answered"), cursor=page.next_cursor
        )
    with pytest.raises(ValidationFailed):
        await analytics.statements(StatementQuery(), cursor="forged")
    with pytest.raises(ValidationFailed):
        await analytics.statements(StatementQuery(), limit=0)


async def test_record_and_read_back_by_id() -> None:
    analytics = service()
    [statement] = MAPPER.map(every_event()["enrolled"])
    await analytics.record([statement])
    got = await analytics.statement(statement.id)
    assert got is not None
    assert got.id == statement.id
    assert await analytics.voided_statement(statement.id) is None
    changed = statement.model_copy(update={"timestamp": T0.replace(year=2027)})
    with pytest.raises(StatementConflict):
        await analytics.record([changed])
