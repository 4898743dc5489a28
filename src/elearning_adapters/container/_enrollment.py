"""The enrollment module's wiring: its read models, the learner and prerequisite checks, the service, and the
subscription through which enrollments follow the progress module's completions."""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.enrollment_cache import CachedEnrollmentLookup
from elearning_adapters.enrollment_completion import JoinUnitOfWork, enrollment_completion_subscription
from elearning_adapters.events import CommitListener, Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import SqlEnrollmentQueries, SqlLearnerLookup
from elearning_adapters.sql.progress import SqlCourseCompletions
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.events import DomainEvent


def _commit_listeners(lookup: object) -> list[CommitListener]:
    """The committing process drops the cached enrollment of each learner whose enrollment changed."""
    if not isinstance(lookup, CachedEnrollmentLookup):
        return []

    async def invalidate(events: Sequence[DomainEvent]) -> None:
        await lookup.invalidate_for(*events)

    return [invalidate]


def _subscriptions(join: JoinUnitOfWork) -> list[Subscription]:
    return [enrollment_completion_subscription(join)]


class EnrollmentWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check (the entitlement module's wiring): paid courses open to learners with access only."""

    queries = providers.Singleton(SqlEnrollmentQueries, shared.database)
    learner_lookup = providers.Singleton(SqlLearnerLookup, shared.database)
    prerequisites = providers.Singleton(SqlCourseCompletions, shared.database)
    """Prerequisites are course completions: answered by the progress module's table."""

    service = providers.Singleton(
        EnrollmentService,
        uow=shared.unit_of_work.provider,
        queries=queries,
        courses=shared.course_lookup,
        learners=learner_lookup,
        prerequisites=prerequisites,
        resources=shared.resources,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        access=access,
    )

    commit_listeners = providers.Singleton(_commit_listeners, shared.enrollment_lookup)
    # Resolved at the first event: the joined unit of work's after-commit hook needs the transport first.
    subscriptions = providers.Singleton(_subscriptions, shared.joined_unit_of_work.provider)
