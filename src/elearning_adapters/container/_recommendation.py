"""The recommendation module's wiring: its SQL reads and read model, the enrollment rules it filters by
(the enrollment module's prerequisite check and the entitlement check, passed by the assembly), the
service, the ``recommendations.train`` job, and the commit listener that drops a learner's cached list
when their enrollments change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import CommitListener
from elearning_adapters.settings import Settings
from elearning_adapters.sql.recommendation import (
    SqlCourseRules,
    SqlLearnerHistory,
    SqlModelStore,
    SqlPublishedCourses,
    SqlTrainingSource,
)
from elearning_core.enrollment.events import Enrolled, EnrollmentCompleted, EnrollmentReopened, Unenrolled
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.recommendation.eligibility import EnrollmentRules
from elearning_core.recommendation.service import RecommendationService
from elearning_core.scheduling.model import Job, Period, Schedule
from elearning_core.shared.cache import Cache
from elearning_core.shared.events import DomainEvent

TRAIN = "recommendations.train"
_ENROLLMENT_EVENTS = (Enrolled, Unenrolled, EnrollmentCompleted, EnrollmentReopened)


def recommendation_jobs(service: RecommendationService, settings: Settings) -> list[Job]:
    async def retrain(period: Period) -> str:
        del period  # the whole model from the current enrollments: a repeat trains the same one again
        trained = await service.train()
        return f"trained on {trained.interactions} enrollment(s) in {trained.courses} course(s)"

    every = Schedule(timedelta(minutes=settings.recommendation_train_minutes))
    return [Job(TRAIN, every, retrain, description="retrains the recommendation read model from the enrollments")]


def _commit_listeners(service: RecommendationService) -> list[CommitListener]:
    async def forget(events: Sequence[DomainEvent]) -> None:
        users = {e.user_id for e in events if isinstance(e, _ENROLLMENT_EVENTS)}
        if users:
            await service.forget(*users)

    return [forget]


def _cache(cache: Cache | None, settings: Settings) -> Cache | None:
    return cache if settings.recommendation_cache_seconds > 0 else None


class RecommendationWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    prerequisites: providers.Provider[Any] = providers.Dependency()
    """The enrollment module's prerequisite check (the courses a learner completed)."""

    source = providers.Singleton(SqlTrainingSource, shared.database)
    store = providers.Singleton(SqlModelStore, shared.database)
    history = providers.Singleton(SqlLearnerHistory, shared.database)
    courses = providers.Singleton(SqlPublishedCourses, shared.database)
    rules = providers.Singleton(SqlCourseRules, shared.database)
    enrollable = providers.Singleton(EnrollmentRules, rules, prerequisites, access)

    service = providers.Singleton(
        RecommendationService,
        source=source,
        store=store,
        history=history,
        enrollable=enrollable,
        courses=courses,
        clock=shared.clock,
        cursors=shared.cursors,
        cache=providers.Callable(_cache, shared.cache, settings),
        ttl_seconds=providers.Callable(lambda s: s.recommendation_cache_seconds, settings),
    )

    commit_listeners = providers.Singleton(_commit_listeners, service)
    jobs = providers.Singleton(recommendation_jobs, service, settings)
