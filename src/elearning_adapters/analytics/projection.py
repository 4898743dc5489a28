"""The ``analytics`` subscription: the platform's events as xAPI statements in the statement store.

Set-wise: a batch's events are mapped at once (their registrations read in one query), and their
statements go in with one ``INSERT ... ON CONFLICT (id) DO NOTHING`` (executemany) in the batch's
transaction, beside its inbox rows; the statements newly stored then move the aggregates (counter upserts,
``elearning_adapters.sql.analytics._aggregates``) in the same transaction. An invoice's events (issued, credited)
count its ledger transactions into the revenue per course and month. Statement ids are a function of the event, so even an event the
inbox let through twice (a rebuild, a replayed dead letter) stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.events.dispatch import Handler
from elearning_adapters.events.subscriptions import Subscription
from elearning_adapters.sql.analytics import (
    REVENUE_EVENTS,
    StatementWriter,
    count_new,
    count_revenue,
    registrations_of,
    share_aggregates_lock,
)
from elearning_core.analytics.mapping import StatementMapper, registration_key
from elearning_core.shared.clock import Clock
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

ANALYTICS = "analytics"


async def project(
    mapper: StatementMapper,
    clock: Clock,
    events: Sequence[DomainEvent],
    conn: AsyncConnection,
    platform_zone: str = "UTC",
) -> int:
    """Map ``events``, store their statements through ``conn`` and add the newly stored ones to the aggregates;
    returns how many statements they made."""
    keys = [key for event in events if (key := registration_key(event)) is not None]
    registrations = await registrations_of(conn, keys) if keys else {}
    statements = mapper.map_many(events, registrations)
    invoices = [event.aggregate_id for event in events if event.type in REVENUE_EVENTS]
    if statements or invoices:
        await share_aggregates_lock(conn)  # before storing: a running rebuild counts them, or this batch waits
    if statements:
        new = await StatementWriter(conn).insert_new(statements, clock.now())
        await count_new(conn, new, platform_zone)
    if invoices:
        await count_revenue(conn, invoices, platform_zone)
    return len(statements)


def analytics_subscription(mapper: StatementMapper, clock: Clock, platform_zone: str = "UTC") -> Subscription:
    async def handle(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await project(mapper, clock, [event], conn, platform_zone)

    async def handle_batch(items: Sequence[tuple[DomainEvent, EventEnvelope]], conn: AsyncConnection) -> None:
        await project(mapper, clock, [event for event, _ in items], conn, platform_zone)

    handlers: dict[str, Handler] = dict.fromkeys([*mapper.types, *REVENUE_EVENTS], handle)
    return Subscription(
        name=ANALYTICS,
        description="records learner activity as xAPI statements in the statement store",
        handlers=handlers,
        batch_handler=handle_batch,
    )
