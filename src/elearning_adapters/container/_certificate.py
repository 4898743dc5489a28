"""The certificate module's wiring: its unit of work, the credential keys, the narrow reads, the
printable documents, the service, and the ``certificates`` subscription (course and path
completions issue, a name change reissues)."""

from __future__ import annotations

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
    SqlCertificateUnitOfWork,
    SqlCredentialKeys,
    SqlCredentialVerifier,
    SqlLearnerNames,
    SqlPathTitles,
    SqlSubjectTitles,
)
from elearning_adapters.sql.engine import Database
from elearning_core.certificate.model import SubjectKind
from elearning_core.certificate.service import CertificateConfig, CertificateService
from elearning_core.course.gating import PublishedOutlines
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

CERTIFICATES = "certificates"


def _keys(database: Database, settings: Settings) -> SqlCredentialKeys:
    return SqlCredentialKeys(database, settings.resolved_secret(), settings.resolved_public_base_url)


def _config(settings: Settings) -> CertificateConfig:
    return CertificateConfig(settings.resolved_public_base_url, settings.certificate_issuer_name)


def certificate_subscription(
    database: Database, keys: SqlCredentialKeys, service: providers.Provider[CertificateService]
) -> Subscription:
    """Issue on ``progress.course_completed.v1`` and ``learning_path.completed.v1``, reissue on
    ``identity.profile_updated.v1``: each in the dispatcher's transaction (with its inbox row)."""

    def bound(conn: AsyncConnection) -> SqlCertificateUnitOfWork:
        return SqlCertificateUnitOfWork(database, keys, connection=conn)

    async def course_completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, progress_events.CourseCompleted)
        async with bound(conn) as uow:
            await service().record_completion(event.user_id, SubjectKind.COURSE, event.course_id, within=uow)

    async def path_completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, path_events.PathCompleted)
        async with bound(conn) as uow:
            await service().record_completion(event.user_id, SubjectKind.PATH, event.path_id, within=uow)

    async def profile_updated(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, identity_events.ProfileUpdated)
        async with bound(conn) as uow:
            await service().record_profile_update(event.aggregate_id, event.fields, within=uow)

    return Subscription(
        name=CERTIFICATES,
        description="issues certificates on course and path completions; reissues them on a name change",
        handlers={
            progress_events.CourseCompleted.type: course_completed,
            path_events.PathCompleted.type: path_completed,
            identity_events.ProfileUpdated.type: profile_updated,
        },
    )


def _subscriptions(
    database: Database, keys: SqlCredentialKeys, service: providers.Provider[CertificateService]
) -> list[Subscription]:
    # The subscription is built early (the transport needs it); the service, which needs the unit of
    # work, which needs the transport, is resolved at the first event.
    return [certificate_subscription(database, keys, service)]


class CertificateWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    outlines: providers.Dependency[PublishedOutlines] = providers.Dependency()
    """The course module's published outlines: course titles."""

    keys = providers.Singleton(_keys, shared.database, settings)
    unit_of_work = providers.Factory(SqlCertificateUnitOfWork, shared.database, keys, shared.after_commit)
    names = providers.Singleton(SqlLearnerNames, shared.database)
    titles = providers.Singleton(SqlSubjectTitles, outlines, providers.Singleton(SqlPathTitles, shared.database))
    verifier = providers.Singleton(SqlCredentialVerifier, keys)
    printer = providers.Singleton(CertificateDocuments)

    service = providers.Singleton(
        CertificateService,
        uow=unit_of_work.provider,
        names=names,
        titles=titles,
        verifier=verifier,
        printer=printer,
        resources=shared.resources,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        config=providers.Singleton(_config, settings),
    )

    subscriptions = providers.Singleton(_subscriptions, shared.database, keys, service.provider)
