"""The assessment module's wiring: question banks, quizzes and grading, with a bounded answer-pattern matcher."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.assessment.patterns import RegexPatternMatcher
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_adapters.sql.assessment import SqlAssessmentQueries
from elearning_core.assessment.service import AssessmentService


class AssessmentWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

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
    )
