"""The enrollment module's wiring: its read models, the learner and prerequisite checks, the service."""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.enrollment_cache import CachedEnrollmentLookup
from elearning_adapters.events import CommitListener
from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import SqlEnrollmentQueries, SqlLearnerLookup, SqlPrerequisiteChecker
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.shared.events import DomainEvent


def _commit_listeners(lookup: object) -> list[CommitListener]:
    """The committing process drops the cached enrollment of each learner whose enrollment changed."""
    if not isinstance(lookup, CachedEnrollmentLookup):
        return []

    async def invalidate(events: Sequence[DomainEvent]) -> None:
        await lookup.invalidate_for(*events)

    return [invalidate]


class EnrollmentWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    queries = providers.Singleton(SqlEnrollmentQueries, shared.database)
    learner_lookup = providers.Singleton(SqlLearnerLookup, shared.database)
    prerequisites = providers.Singleton(SqlPrerequisiteChecker, shared.database)

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
    )

    commit_listeners = providers.Singleton(_commit_listeners, shared.enrollment_lookup)
