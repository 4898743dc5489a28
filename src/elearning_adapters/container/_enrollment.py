"""The enrollment module's wiring: its read models, the learner and prerequisite checks, the service."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import SqlEnrollmentQueries, SqlLearnerLookup, SqlPrerequisiteChecker
from elearning_core.enrollment.service import EnrollmentService


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
