"""The certificate module's wiring: the narrow reads, the verifier over the credential keys, the
printable documents, the service (on the shared unit of work), the ``certificates``
subscription (course and path completions issue, a name change reissues), and the hourly job that
issues the completions held back by an award's date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.identity.events as identity_events
import elearning_core.learning_path.events as path_events
import elearning_core.progress.events as progress_events
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.content.certificates import CertificateDocuments
from elearning_adapters.events import Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.certificate import (
    SqlCredentialVerifier,
    SqlLearnerNames,
    SqlPathTitles,
    SqlSubjectTitles,
)
from elearning_core.certificate.model import SubjectKind
from elearning_core.certificate.ports import CertificateUnitOfWork
from elearning_core.certificate.service import CertificateConfig, CertificateService
from elearning_core.course.gating import PublishedOutlines
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.scheduling.model import Job, Period, Schedule, in_batches
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

CERTIFICATES = "certificates"
ISSUE_DUE = "certificates.issue-due"
ISSUE_BATCH = 500
ISSUE_MAX_BATCHES = 100
"""A bound on one run (50,000 certificates); what is left waits for the next hour."""

JoinUnitOfWork = Callable[[AsyncConnection], CertificateUnitOfWork]
"""``SharedWiring.joined_unit_of_work``: a unit of work in the savepoint of an event handler's transaction."""


def _config(settings: Settings) -> CertificateConfig:
    return CertificateConfig(settings.resolved_public_base_url, settings.certificate_issuer_name)


def certificate_subscription(join: JoinUnitOfWork, service: Callable[[], CertificateService]) -> Subscription:
    """Issue on ``progress.course_completed.v1`` and ``learning_path.completed.v1``, reissue on
    ``identity.profile_updated.v1``: each in a unit of work joined to the dispatcher's transaction (with
    its inbox row; docs/projections.md). ``service`` is called at the first event: the transport needs
    this subscription before the service's unit of work can be built."""

    def joined(conn: AsyncConnection) -> CertificateService:
        return service().joined(lambda: join(conn))

    async def course_completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, progress_events.CourseCompleted)
        await joined(conn).record_completion(event.user_id, SubjectKind.COURSE, event.course_id)

    async def path_completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, path_events.PathCompleted)
        await joined(conn).record_completion(event.user_id, SubjectKind.PATH, event.path_id)

    async def profile_updated(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, identity_events.ProfileUpdated)
        await joined(conn).record_profile_update(event.aggregate_id, event.fields)

    return Subscription(
        name=CERTIFICATES,
        description="issues certificates on course and path completions; reissues them on a name change",
        handlers={
            progress_events.CourseCompleted.type: course_completed,
            path_events.PathCompleted.type: path_completed,
            identity_events.ProfileUpdated.type: profile_updated,
        },
    )


def _subscriptions(join: JoinUnitOfWork, service: Callable[[], CertificateService]) -> list[Subscription]:
    return [certificate_subscription(join, service)]


def certificate_jobs(service: Callable[[], CertificateService]) -> list[Job]:
    """``certificates.issue-due``, hourly: issue the completions whose award's ``available_from`` has passed.
    Idempotent: each pending completion is issued and removed in one transaction, and a learner holds at
    most one active certificate per award, so a rerun issues nothing twice."""

    async def issue_due(period: Period) -> str:
        del period  # by state: whatever is pending and available now
        issued = await in_batches(service().issue_due, ISSUE_BATCH, ISSUE_MAX_BATCHES)
        return f"issued {issued} certificate(s)"

    return [
        Job(
            ISSUE_DUE,
            Schedule(timedelta(hours=1)),
            issue_due,
            description="issues the certificates held back by an award's availability date",
            retry_after=timedelta(minutes=1),
        )
    ]


class CertificateWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check: a course's certificate is graded work, for the full track only."""
    outlines: providers.Dependency[PublishedOutlines] = providers.Dependency()
    """The course module's published outlines: course titles."""

    names = providers.Singleton(SqlLearnerNames, shared.database)
    titles = providers.Singleton(SqlSubjectTitles, outlines, providers.Singleton(SqlPathTitles, shared.database))
    verifier = providers.Singleton(SqlCredentialVerifier, shared.credential_keys)
    printer = providers.Singleton(CertificateDocuments)

    service = providers.Singleton(
        CertificateService,
        uow=shared.unit_of_work.provider,
        names=names,
        titles=titles,
        verifier=verifier,
        printer=printer,
        resources=shared.resources,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        config=providers.Singleton(_config, settings),
        access=access,
    )

    subscriptions = providers.Singleton(_subscriptions, shared.joined_unit_of_work.provider, service.provider)
    jobs = providers.Singleton(certificate_jobs, service.provider)
