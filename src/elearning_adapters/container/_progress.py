"""The progress module's wiring: its store and reads, the projector, the ``progress`` subscription, the service.

Its ``LearnerFactsReader`` is declared by the course wiring (conditional release reads it), its
``PrerequisiteChecker`` by the enrollment wiring: each where it is used."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.progress import AssessmentCourseGrades, progress_subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.progress import SqlCourseCompletions, SqlProgressQueries
from elearning_core.assessment.queries import AssessmentQueries
from elearning_core.course.gating import PublishedOutlines
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.progress.projector import ProgressProjector
from elearning_core.progress.service import ProgressService


def _subscriptions(projector: ProgressProjector) -> list[Subscription]:
    return [progress_subscription(projector)]


class ProgressWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    outlines: providers.Dependency[PublishedOutlines] = providers.Dependency()
    """The course module's published outlines (cached): what completion is computed against."""
    assessment_queries: providers.Dependency[AssessmentQueries] = providers.Dependency()
    """The assessment module's reads: the gradebook total, for a course's minimum grade."""
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check: a learner who lost access to a paid course records no more activity in it."""

    queries = providers.Singleton(SqlProgressQueries, shared.database)
    course_completions = providers.Singleton(SqlCourseCompletions, shared.database)
    """``PrerequisiteChecker`` for the enrollment module: the courses a learner completed."""
    grades = providers.Singleton(AssessmentCourseGrades, assessment_queries, shared.clock)
    projector = providers.Singleton(ProgressProjector, outlines, grades, shared.clock)

    service = providers.Singleton(
        ProgressService,
        uow=shared.unit_of_work.provider,
        queries=queries,
        outlines=outlines,
        enrollments=shared.enrollment_lookup,
        resources=shared.resources,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        projector=projector,
        access=access,
    )

    subscriptions = providers.Singleton(_subscriptions, projector)
