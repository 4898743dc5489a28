"""The attachment module's wiring: the virus scanner (clamd when configured) and the service, on the shared
object store, gated by the course's published outlines like videos."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import providers

from elearning_adapters.antivirus import ClamdScanner, parse_address
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_core.attachment.ports import LessonOutlines, NoScanner, VirusScanner
from elearning_core.attachment.service import AttachmentConfig, AttachmentService
from elearning_core.course.requirements import LearnerFactsReader
from elearning_core.entitlement.ports import AccessCheck


def _scanner(settings: Settings) -> VirusScanner:
    if settings.clamd_address is None:
        return NoScanner()
    return ClamdScanner(parse_address(settings.clamd_address), settings.clamd_timeout_seconds)


def _config(settings: Settings) -> AttachmentConfig:
    return AttachmentConfig(
        max_bytes=settings.attachment_max_bytes,
        max_per_lesson=settings.attachment_max_per_lesson,
        allowed_types=frozenset(settings.attachment_allowed_types),
        link_ttl=timedelta(minutes=5),
    )


class AttachmentWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check: a paid course's attachments open to learners with access only."""
    outlines: providers.Dependency[LessonOutlines] = providers.Dependency()
    """The course module's catalog reads: the draft (staff) and the published lessons (gating)."""
    learner_facts: providers.Dependency[LearnerFactsReader] = providers.Dependency()

    scanner = providers.Singleton(_scanner, settings)
    service = providers.Singleton(
        AttachmentService,
        uow=shared.unit_of_work.provider,
        store=shared.object_store,
        scanner=scanner,
        outlines=outlines,
        resources=shared.resources,
        enrollments=shared.enrollment_lookup,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        config=providers.Singleton(_config, settings),
        learner_facts=learner_facts,
        access=access,
    )
