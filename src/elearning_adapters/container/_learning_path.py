"""The learning path module's wiring: its queries, the course read, the service and its two consumers."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.learning_path_events import (
    JoinUnitOfWork,
    path_enroller_subscription,
    path_progress_subscription,
)
from elearning_adapters.settings import Settings
from elearning_adapters.sql.learning_path import SqlLearningPathQueries, SqlPathCourses
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.learning_path.service import LearningPathService


def _subscriptions(
    join: JoinUnitOfWork,
    enrollment: Callable[[], EnrollmentService],
    service: Callable[[], LearningPathService],
) -> list[Subscription]:
    return [
        path_enroller_subscription(join, enrollment, service),
        path_progress_subscription(join, service),
    ]


class LearningPathWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    enrollment: providers.Dependency[EnrollmentService] = providers.Dependency()
    """The enrollment module's service: the enroller consumer enrolls a path's learner through its rules."""

    queries = providers.Singleton(SqlLearningPathQueries, shared.database)
    courses = providers.Singleton(SqlPathCourses, shared.database)

    service = providers.Singleton(
        LearningPathService,
        uow=shared.unit_of_work.provider,
        queries=queries,
        courses=courses,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
    )

    # The services are resolved at the first event: the transport needs these subscriptions first.
    subscriptions = providers.Singleton(
        _subscriptions, shared.joined_unit_of_work.provider, enrollment.provider, service.provider
    )
