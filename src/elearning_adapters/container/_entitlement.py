"""The entitlement module's wiring: the check's reads (cached when a cache is set), the service, and the
invalidation of that cache (a commit listener in the committing process, a subscription for the others)."""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.entitlement.events as entitlement_events
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.enrollment_cache import CachedEnrollmentLookup
from elearning_adapters.entitlement_cache import CachedAccessCheck, CachedEntitlementReads
from elearning_adapters.events import CommitListener, Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.entitlement import SqlEntitlementReads
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.entitlement.access import EntitlementCheck
from elearning_core.entitlement.ports import AccessCheck, EnrolledSince
from elearning_core.entitlement.service import EntitlementService
from elearning_core.shared.cache import Cache
from elearning_core.shared.clock import Clock
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

ENTITLEMENT_CACHE = "entitlement-cache"


def _cached(
    sql: SqlEntitlementReads, resources: ResourceDirectory, cache: Cache | None, settings: Settings
) -> CachedEntitlementReads | None:
    if cache is None:
        return None
    return CachedEntitlementReads(sql, resources, cache, settings.cache_ttl_seconds)


def _either(cached: object | None, plain: object) -> object:
    return cached if cached is not None else plain


def _access(
    cached: CachedEntitlementReads | None,
    sql: SqlEntitlementReads,
    enrollments: EnrolledSince,
    cache: Cache | None,
    clock: Clock,
) -> AccessCheck:
    """The check the content gates ask: over the shared cache (enrollment, offer and grants in one round trip)
    when there is one, else over the database."""
    if cached is not None and cache is not None and isinstance(enrollments, CachedEnrollmentLookup):
        return CachedAccessCheck(cached, enrollments, cache, clock)
    return EntitlementCheck(cached if cached is not None else sql, enrollments, clock)


def _commit_listeners(cached: CachedEntitlementReads | None) -> list[CommitListener]:
    """The committing process drops the entries its changes made stale, right after its commit."""
    if cached is None:
        return []

    async def invalidate(events: Sequence[DomainEvent]) -> None:
        await cached.invalidate_for(*events)

    return [invalidate]


def entitlement_cache_subscription(cached: CachedEntitlementReads) -> Subscription:
    """A change committed elsewhere (a process without the cache, or whose listener failed) reaches this
    cache through its event."""

    async def invalidate(event: DomainEvent, _envelope: EventEnvelope, _conn: AsyncConnection) -> None:
        await cached.invalidate_for(event)

    types = [
        entitlement_events.EntitlementGranted.type,
        entitlement_events.EntitlementChanged.type,
        entitlement_events.OfferChanged.type,
    ]
    return Subscription(
        name=ENTITLEMENT_CACHE,
        description="drops cached offers and grants when they change (the entitlement check's cache)",
        handlers=dict.fromkeys(types, invalidate),
    )


def _subscriptions(cached: CachedEntitlementReads | None) -> list[Subscription]:
    return [] if cached is None else [entitlement_cache_subscription(cached)]


class EntitlementWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    sql_reads = providers.Singleton(SqlEntitlementReads, shared.database)
    cached_reads = providers.Singleton(_cached, sql_reads, shared.resources, shared.cache, settings)
    reads = providers.Singleton(_either, cached_reads, sql_reads)
    """Offers and grants as the check reads them: through the cache when there is one."""
    resources = providers.Singleton(_either, cached_reads, shared.resources)
    """The course's scopes (the staff test), through the cache too: a hit issues no SQL statement."""

    access = providers.Singleton(_access, cached_reads, sql_reads, shared.enrollment_lookup, shared.cache, shared.clock)
    """The narrow check the content modules gate through: offer and grants in one cache round trip on a hit."""

    service = providers.Singleton(
        EntitlementService,
        offers=reads,
        grants=reads,
        enrollments=shared.enrollment_lookup,
        resources=resources,
        policy=shared.policy,
        clock=shared.clock,
        uow=shared.unit_of_work.provider,
        cursors=shared.cursors,
        access=access,
    )

    commit_listeners = providers.Singleton(_commit_listeners, cached_reads)
    subscriptions = providers.Singleton(_subscriptions, cached_reads)
