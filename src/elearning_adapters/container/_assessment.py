"""The assessment module's wiring: question banks, quizzes and grading, with a bounded answer-pattern matcher."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.assessment.patterns import RegexPatternMatcher
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_adapters.sql.assessment import SqlAssessmentQueries
from elearning_core.assessment.service import AssessmentService
from elearning_core.course.gating import PublishedOutlines
from elearning_core.course.requirements import LearnerFactsReader


class AssessmentWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
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
    )
