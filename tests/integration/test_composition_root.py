"""The composition root grows by module: each wiring declares its own parts, the assembly gathers them."""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import providers

from elearning_adapters.analytics.projection import ANALYTICS
from elearning_adapters.container import ModuleWiring, Platform, bootstrap, build_container, close_adapters
from elearning_adapters.container._billing import BILLING_DOCUMENTS
from elearning_adapters.container._certificate import CERTIFICATES
from elearning_adapters.container._checkout import CHECKOUT_INVOICING, CHECKOUT_PAYMENTS
from elearning_adapters.container._entitlement import ENTITLEMENT_CACHE
from elearning_adapters.container._notification import NOTIFICATIONS
from elearning_adapters.container._recommendation import TRAIN as RECOMMENDATIONS_TRAIN
from elearning_adapters.container._subscription import SUBSCRIPTION_BILLING, SUBSCRIPTION_PAYMENTS
from elearning_adapters.enrollment_completion import ENROLLMENT_COMPLETION
from elearning_adapters.events import Subscription
from elearning_adapters.events.subscriptions import CATALOG_CACHE
from elearning_adapters.learning_path_events import PATH_ENROLLER, PATH_PROGRESS
from elearning_adapters.media.processor import VIDEO_PROCESSING
from elearning_adapters.progress import PROGRESS
from elearning_adapters.search.projection import SEARCH
from elearning_adapters.settings import Settings
from elearning_adapters.sql import migrate
from elearning_core.analytics.service import AnalyticsService
from elearning_core.assessment.service import AssessmentService
from elearning_core.auth.service import AuthService
from elearning_core.billing.service import BillingService
from elearning_core.certificate.service import CertificateService
from elearning_core.course.commands import CreateCourse
from elearning_core.course.events import CourseCreated
from elearning_core.course.service import CourseService
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.entitlement.service import EntitlementService
from elearning_core.identity.service import IdentityService
from elearning_core.learning_path.service import LearningPathService
from elearning_core.notification.service import NotificationService
from elearning_core.progress.service import ProgressService
from elearning_core.recommendation.service import RecommendationService
from elearning_core.search.service import SearchService
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from elearning_core.video.service import VideoService
from tests.fakes import T0

PATH_CONSUMERS = [PATH_ENROLLER, PATH_PROGRESS]
seen: list[object] = []


async def _remember_commit(events: Sequence[DomainEvent]) -> None:
    seen.append([type(e) for e in events])


async def _remember_close() -> None:
    seen.append("closed")


class NotesWiring(ModuleWiring):
    """A module that does not exist yet, declared the way a new one is: its own file, nothing central."""

    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    subscriptions = providers.List(providers.Object(Subscription(name="notes", description="test", handlers={})))
    commit_listeners = providers.List(providers.Object(_remember_commit))
    closers = providers.List(providers.Object(_remember_close))


async def test_a_new_module_wiring_adds_its_subscription_commit_listener_and_closer_from_its_own_declaration() -> None:
    seen.clear()
    container = build_container(Settings.in_memory())
    # The one line a module adds to the assembly (here on the instance; in _assembly.py on the class).
    container.notes = providers.Container(NotesWiring, shared=container.adapters, settings=container.settings)

    everyone = [
        CATALOG_CACHE,
        ENROLLMENT_COMPLETION,
        VIDEO_PROCESSING,
        *PATH_CONSUMERS,
        PROGRESS,
        CERTIFICATES,
        BILLING_DOCUMENTS,
        CHECKOUT_PAYMENTS,
        CHECKOUT_INVOICING,
        ENTITLEMENT_CACHE,
        SUBSCRIPTION_PAYMENTS,
        SUBSCRIPTION_BILLING,
        NOTIFICATIONS,
        SEARCH,
        ANALYTICS,
    ]
    assert [s.name for s in container.adapters.subscriptions()] == [*everyone, "notes"]
    transport = container.adapters.event_transport()
    assert transport is not None
    assert [s.name for s in transport.subscriptions] == [*everyone, "notes"]
    assert container.notes.shared.database() is container.adapters.database()

    await migrate.upgrade(container.adapters.database())
    await container.services.course().create(SYSTEM, CreateCourse(title="Wired"))
    assert seen == [[CourseCreated]]

    await close_adapters(container)
    assert seen == [[CourseCreated], "closed"]


async def test_each_module_declares_its_own_subscriptions_and_the_assembly_keeps_their_order() -> None:
    container = build_container(Settings.in_memory())
    try:
        assert [s.name for s in container.course.subscriptions()] == [CATALOG_CACHE]
        assert [s.name for s in container.video.subscriptions()] == [VIDEO_PROCESSING]
        assert not container.identity.subscriptions()
        assert [s.name for s in container.enrollment.subscriptions()] == [ENROLLMENT_COMPLETION]
        assert not container.assessment.subscriptions()
        assert [s.name for s in container.progress.subscriptions()] == [PROGRESS]
        assert [s.name for s in container.learning_path.subscriptions()] == PATH_CONSUMERS
        assert [s.name for s in container.certificate.subscriptions()] == [CERTIFICATES]
        assert [s.name for s in container.billing.subscriptions()] == [BILLING_DOCUMENTS]
        assert [s.name for s in container.entitlement.subscriptions()] == [ENTITLEMENT_CACHE]
        assert [s.name for s in container.notification.subscriptions()] == [NOTIFICATIONS]
        assert [s.name for s in container.search.subscriptions()] == [SEARCH]
        assert [s.name for s in container.analytics.subscriptions()] == [ANALYTICS]
        assert [s.name for s in container.subscription.subscriptions()] == [SUBSCRIPTION_PAYMENTS, SUBSCRIPTION_BILLING]
        assert [s.name for s in container.checkout.subscriptions()] == [CHECKOUT_PAYMENTS, CHECKOUT_INVOICING]
        assert not container.recommendation.subscriptions()  # a trained read model: a job, no consumer
        assert len(container.recommendation.commit_listeners()) == 1  # drops a learner's cached list
        assert [j.name for j in container.recommendation.jobs()] == [RECOMMENDATIONS_TRAIN]
        assert container.adapters.subscriptions() == [
            *container.course.subscriptions(),
            *container.enrollment.subscriptions(),
            *container.video.subscriptions(),
            *container.learning_path.subscriptions(),
            *container.progress.subscriptions(),
            *container.certificate.subscriptions(),
            *container.billing.subscriptions(),
            *container.checkout.subscriptions(),
            *container.entitlement.subscriptions(),
            *container.subscription.subscriptions(),
            *container.notification.subscriptions(),
            *container.search.subscriptions(),
            *container.analytics.subscriptions(),
        ]
        assert len(container.course.commit_listeners()) == 1  # the cached catalog drops its own entries at once
    finally:
        await close_adapters(container)


async def test_without_a_cache_the_course_module_declares_no_subscription_and_no_commit_listener() -> None:
    container = build_container(Settings.in_memory(cache="none"))
    try:
        assert not container.course.subscriptions()
        assert not container.course.commit_listeners()
        assert not container.entitlement.subscriptions()
        assert not container.entitlement.commit_listeners()
        assert [s.name for s in container.adapters.subscriptions()] == [
            ENROLLMENT_COMPLETION,
            VIDEO_PROCESSING,
            *PATH_CONSUMERS,
            PROGRESS,
            CERTIFICATES,
            BILLING_DOCUMENTS,
            CHECKOUT_PAYMENTS,
            CHECKOUT_INVOICING,
            SUBSCRIPTION_PAYMENTS,
            SUBSCRIPTION_BILLING,
            NOTIFICATIONS,
            SEARCH,
            ANALYTICS,
        ]
    finally:
        await close_adapters(container)


async def test_the_platform_exposes_every_service_the_same_way_from_its_container() -> None:
    async with await bootstrap() as platform:
        services = platform.container.services
        expected = {
            "courses": (CourseService, services.course),
            "identity": (IdentityService, services.identity),
            "auth": (AuthService, services.auth),
            "enrollments": (EnrollmentService, services.enrollment),
            "videos": (VideoService, services.video),
            "assessment": (AssessmentService, services.assessment),
            "progress": (ProgressService, services.progress),
            "learning_paths": (LearningPathService, services.learning_path),
            "certificates": (CertificateService, services.certificate),
            "billing": (BillingService, services.billing),
            "entitlements": (EntitlementService, services.entitlement),
            "notifications": (NotificationService, services.notification),
            "recommendations": (RecommendationService, services.recommendation),
            "search": (SearchService, services.search),
            "analytics": (AnalyticsService, services.analytics),
        }
        for name, (kind, provider) in expected.items():
            assert isinstance(getattr(type(platform), name), property), name
            service = getattr(platform, name)
            assert isinstance(service, kind), name
            assert service is provider() is getattr(platform, name), name
        assert platform.database is platform.container.adapters.database()
        assert platform.events is platform.container.adapters.event_transport()


async def test_a_shared_adapter_overridden_before_first_use_reaches_the_module_services() -> None:
    container = build_container(Settings.in_memory())
    container.adapters.clock.override(providers.Object(FixedClock(T0)))
    platform = Platform(settings=container.settings(), container=container)
    try:
        await migrate.upgrade(platform.database)
        course = await platform.courses.create(SYSTEM, CreateCourse(title="Timed"))
        assert course.created_at == T0
    finally:
        await platform.aclose()
