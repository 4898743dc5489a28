"""The assessment module's wiring: question banks, quizzes and grading, with a bounded answer-pattern matcher,
and the scheduled job that submits attempts whose time ran out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dependency_injector import providers

from elearning_adapters.assessment.patterns import RegexPatternMatcher
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_adapters.sql.assessment import SqlAssessmentQueries
from elearning_core.assessment.service import AssessmentService
from elearning_core.course.gating import PublishedOutlines
from elearning_core.course.requirements import LearnerFactsReader
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.scheduling.model import Job, Period, Schedule, in_batches

EXPIRE_ATTEMPTS = "assessment.expire-attempts"
EXPIRE_BATCH = 500
EXPIRE_MAX_BATCHES = 200
"""A bound on one run (100,000 attempts); what is left waits for the next period."""


def assessment_jobs(service: Callable[[], AssessmentService], settings: Settings) -> list[Job]:
    """``assessment.expire-attempts``: a learner who walks away from a timed quiz still gets a grade for what
    they saved, without coming back (the service closes such attempts lazily when one is touched; this closes
    the untouched ones). Idempotent: each attempt is submitted under its row lock, once; a rerun finds none.
    Its period is ``ELEARNING_ATTEMPT_SWEEP_SECONDS`` (0: only by hand)."""

    async def expire(period: Period) -> str:
        del period  # by state: whatever is expired now
        closed = await in_batches(service().close_expired, EXPIRE_BATCH, EXPIRE_MAX_BATCHES)
        return f"closed {closed} expired attempt(s)"

    every = settings.attempt_sweep_seconds
    return [
        Job(
            EXPIRE_ATTEMPTS,
            Schedule(timedelta(seconds=every or 60)),
            expire,
            description="submits and grades quiz attempts whose time ran out",
            retry_after=timedelta(seconds=min(every or 60, 10)),
            automatic=every > 0,
        )
    ]


class AssessmentWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check (the entitlement module's wiring): paid courses open to learners with access only."""
    outlines: providers.Dependency[PublishedOutlines] = providers.Dependency()
    learner_facts: providers.Dependency[LearnerFactsReader] = providers.Dependency()
    """What learners have done (the course module's wiring picks the reader): conditional release gates material."""
    """The course module's published outlines (its catalog reads): content gating finds the lessons showing a quiz."""

    queries = providers.Singleton(SqlAssessmentQueries, shared.database)
    pattern_matcher = providers.Singleton(RegexPatternMatcher, timeout_seconds=0.05)

    service = providers.Singleton(
        AssessmentService,
        uow=shared.unit_of_work.provider,
        queries=queries,
        enrollments=shared.enrollment_lookup,
        courses=shared.course_lookup,
        resources=shared.resources,
        matcher=pattern_matcher,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        outlines=outlines,
        learner_facts=learner_facts,
        access=access,
    )

    jobs = providers.Singleton(assessment_jobs, service.provider, settings)
