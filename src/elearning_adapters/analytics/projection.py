"""The ``analytics`` subscription: the platform's events as xAPI statements in the statement store.

Set-wise: a batch's events are mapped at once (their registrations read in one query), and their
statements go in with one ``INSERT ... ON CONFLICT (id) DO NOTHING`` (executemany) in the batch's
transaction, beside its inbox rows; the statements newly stored then move the aggregates (counter upserts,
``elearning_adapters.sql.analytics._aggregates``) in the same transaction. An invoice's events (issued,
credited) count its ledger transactions into the revenue per course and month. Statement ids are a function
of the event, so even an event the inbox let through twice (a rebuild, a replayed dead letter) stores
nothing twice.

A deleted account (``identity.user_deleted.v1``) has its stored statements rewritten under its pseudonym
(``elearning_core.analytics.pseudonyms``), then the ``on_learner_renamed`` hooks run (the aggregates'
learner-keyed rows), all in the batch's transaction. A statement of an account already deleted when it
is stored (an event that arrives after the deletion, from another topic or redelivered) is stored under
the pseudonym at once: the batch reads which of its actors are deleted accounts. On PostgreSQL the
accounts' advisory locks (``lock_accounts``) keep a batch on another consumer from storing a statement
under the real id after the rewrite looked; a batch with a deletion takes all of its locks first, in one
sweep, so that it never waits for a lock while holding rows another batch waits for, and handles its
deletions before its other events (``AnalyticsProjection.handle_batch`` says why).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.events.dispatch import Handler
from elearning_adapters.events.subscriptions import Subscription
from elearning_adapters.sql.analytics import (
    REVENUE_EVENTS,
    StatementWriter,
    accounts_of,
    count_new,
    count_revenue,
    lock_accounts,
    pseudonymise_statements,
    registrations_of,
    share_aggregates_lock,
    under_pseudonyms,
)
from elearning_core.analytics.mapping import StatementMapper, registration_key
from elearning_core.analytics.model import Statement
from elearning_core.analytics.pseudonyms import Pseudonyms
from elearning_core.identity.events import UserDeleted
from elearning_core.shared.clock import Clock
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

ANALYTICS = "analytics"

LearnerRenamed = Callable[[AsyncConnection, uuid.UUID, uuid.UUID], Awaitable[None]]
"""``async (conn, user_id, pseudonym) -> None``: move a deleted learner's derived rows to the pseudonym, in
the batch's transaction (the aggregates' ``rename_learner``)."""


class AnalyticsProjection:
    def __init__(
        self,
        mapper: StatementMapper,
        clock: Clock,
        pseudonyms: Pseudonyms,
        on_learner_renamed: Sequence[LearnerRenamed] = (),
        platform_zone: str = "UTC",
    ) -> None:
        self._mapper, self._clock, self._pseudonyms = mapper, clock, pseudonyms
        self._platform_zone = platform_zone
        self._hooks = tuple(on_learner_renamed)
        self._home_page = mapper.iris.home_page

    async def project(self, events: Sequence[DomainEvent], conn: AsyncConnection) -> int:
        """Map ``events``, store their statements and count the new ones; returns how many statements they made."""
        return await project(
            self._mapper, self._clock, events, conn, pseudonyms=self._pseudonyms, platform_zone=self._platform_zone
        )

    async def user_deleted(self, user_id: uuid.UUID, conn: AsyncConnection) -> int:
        """Rewrite the account's statements under its pseudonym and run the hooks; how many were rewritten."""
        pseudonym = self._pseudonyms.of(user_id)
        await share_aggregates_lock(conn)  # a running rebuild finishes first, then its rows are renamed too
        rewritten = await pseudonymise_statements(conn, self._home_page, user_id, pseudonym)
        for hook in self._hooks:
            await hook(conn, user_id, pseudonym)
        return rewritten

    async def handle_batch(self, events: Sequence[DomainEvent], conn: AsyncConnection) -> None:
        """The batch's deletions first, then its other events' statements in one set-wise pass.

        The order in the batch does not change what is stored: an account is marked deleted before its
        deletion's event exists, so a statement of it in the same batch goes under the pseudonym either way.
        Renaming first means the aggregates' learner rows are the pseudonym's before those statements count
        (one learner, not two), and one pass keeps every upsert in key order (two batches on parallel consumers
        cannot lock counter rows in opposite orders). A batch with a deletion takes every account lock it needs
        in one sweep (exclusive for the deleted, shared for the actors) before any write."""
        deleted = list(dict.fromkeys(event.aggregate_id for event in events if isinstance(event, UserDeleted)))
        if not deleted:
            await self.project(events, conn)
            return
        mapped = await _mapped(self._mapper, [event for event in events if not isinstance(event, UserDeleted)], conn)
        await lock_accounts(conn, accounts_of(mapped[0], self._home_page), exclusive=map(str, deleted))
        for user_id in deleted:
            await self.user_deleted(user_id, conn)
        await _store(mapped, conn, self._clock, self._mapper, self._pseudonyms, self._platform_zone)


Mapped = tuple[list[Statement], list[uuid.UUID]]
"""A run of events mapped: its statements, and the invoices whose ledger it counts into the revenue."""


async def _mapped(mapper: StatementMapper, events: Sequence[DomainEvent], conn: AsyncConnection) -> Mapped:
    keys = [key for event in events if (key := registration_key(event)) is not None]
    registrations = await registrations_of(conn, keys) if keys else {}
    invoices = [event.aggregate_id for event in events if event.type in REVENUE_EVENTS]
    return mapper.map_many(events, registrations), invoices


async def _store(
    mapped: Mapped,
    conn: AsyncConnection,
    clock: Clock,
    mapper: StatementMapper,
    pseudonyms: Pseudonyms | None,
    platform_zone: str,
) -> int:
    statements, invoices = mapped
    if statements and pseudonyms is not None:
        statements = await under_pseudonyms(conn, statements, mapper.iris.home_page, pseudonyms)
    if statements or invoices:
        await share_aggregates_lock(conn)  # before storing: a running rebuild counts them, or this batch waits
    if statements:
        new = await StatementWriter(conn).insert_new(statements, clock.now())
        await count_new(conn, new, platform_zone)
    if invoices:
        await count_revenue(conn, invoices, platform_zone)
    return len(statements)


async def project(
    mapper: StatementMapper,
    clock: Clock,
    events: Sequence[DomainEvent],
    conn: AsyncConnection,
    *,
    pseudonyms: Pseudonyms | None = None,
    platform_zone: str = "UTC",
) -> int:
    """Map ``events``, store their statements through ``conn`` and add the newly stored ones to the aggregates;
    returns how many statements they made. With ``pseudonyms``, the statements of accounts already deleted are
    stored under their pseudonyms."""
    return await _store(await _mapped(mapper, events, conn), conn, clock, mapper, pseudonyms, platform_zone)


def analytics_subscription(
    mapper: StatementMapper,
    clock: Clock,
    pseudonyms: Pseudonyms,
    on_learner_renamed: Sequence[LearnerRenamed] = (),
    platform_zone: str = "UTC",
) -> Subscription:
    projection = AnalyticsProjection(mapper, clock, pseudonyms, on_learner_renamed, platform_zone)

    async def handle(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await projection.handle_batch([event], conn)

    async def handle_batch(items: Sequence[tuple[DomainEvent, EventEnvelope]], conn: AsyncConnection) -> None:
        await projection.handle_batch([event for event, _ in items], conn)

    handlers: dict[str, Handler] = dict.fromkeys([*mapper.types, *REVENUE_EVENTS, UserDeleted.type], handle)
    return Subscription(
        name=ANALYTICS,
        description="records learner activity as xAPI statements in the statement store; pseudonymises the "
        "statements of deleted accounts",
        handlers=handlers,
        batch_handler=handle_batch,
    )
