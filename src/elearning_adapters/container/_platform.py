"""The embedding facade: the platform's services on one database, for scripts, tests and tools."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from elearning_adapters.container._assembly import Container, build_container
from elearning_adapters.container._wiring import gather_closers
from elearning_adapters.events import InProcessEventTransport
from elearning_adapters.media.processor import VideoProcessor
from elearning_adapters.redis.cache import RedisCache
from elearning_adapters.settings import Settings
from elearning_adapters.sql import migrate
from elearning_adapters.sql.engine import Database
from elearning_core.analytics.at_risk_service import AtRiskService
from elearning_core.analytics.charts import ChartRenderer
from elearning_core.analytics.dashboard import DashboardService
from elearning_core.analytics.export import StatementExportService
from elearning_core.analytics.lrs import LrsService
from elearning_core.analytics.lrs_credentials import LrsCredentialService
from elearning_core.analytics.service import AnalyticsService
from elearning_core.assessment.service import AssessmentService
from elearning_core.attachment.service import AttachmentService
from elearning_core.auth.service import AuthService
from elearning_core.billing.service import BillingService
from elearning_core.certificate.service import CertificateService
from elearning_core.checkout.service import CheckoutService
from elearning_core.course.service import CourseService
from elearning_core.discussion.service import DiscussionService
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.entitlement.service import EntitlementService
from elearning_core.identity.service import IdentityService
from elearning_core.learning_path.service import LearningPathService
from elearning_core.notification.service import NotificationService
from elearning_core.payment.service import PaymentService
from elearning_core.progress.service import ProgressService
from elearning_core.recommendation.service import RecommendationService
from elearning_core.scheduling.service import Scheduler
from elearning_core.search.service import SearchService
from elearning_core.subscription.service import PlanService, SubscriptionService
from elearning_core.video.service import VideoService


@dataclass(frozen=True)
class Platform:
    """The platform's services on one database, for scripts, tests and tools.

    Every service is a property resolved from the container, so a provider
    overridden on ``container`` (as tests do) is what the next service built uses.
    """

    settings: Settings
    container: Container

    @property
    def database(self) -> Database:
        database: Database = self.container.adapters.database()
        return database

    @property
    def courses(self) -> CourseService:
        service: CourseService = self.container.services.course()
        return service

    @property
    def identity(self) -> IdentityService:
        service: IdentityService = self.container.services.identity()
        return service

    @property
    def auth(self) -> AuthService:
        service: AuthService = self.container.services.auth()
        return service

    @property
    def enrollments(self) -> EnrollmentService:
        service: EnrollmentService = self.container.services.enrollment()
        return service

    @property
    def videos(self) -> VideoService:
        service: VideoService = self.container.services.video()
        return service

    @property
    def attachments(self) -> AttachmentService:
        service: AttachmentService = self.container.services.attachment()
        return service

    @property
    def assessment(self) -> AssessmentService:
        service: AssessmentService = self.container.services.assessment()
        return service

    @property
    def progress(self) -> ProgressService:
        service: ProgressService = self.container.services.progress()
        return service

    @property
    def learning_paths(self) -> LearningPathService:
        service: LearningPathService = self.container.services.learning_path()
        return service

    @property
    def certificates(self) -> CertificateService:
        service: CertificateService = self.container.services.certificate()
        return service

    @property
    def scheduler(self) -> Scheduler:
        """Every module's scheduled jobs: ``run_now(name)`` runs one through the same claim as the replicas."""
        scheduler: Scheduler = self.container.scheduling.scheduler()
        return scheduler

    @property
    def payments(self) -> PaymentService:
        service: PaymentService = self.container.services.payment()
        return service

    @property
    def billing(self) -> BillingService:
        service: BillingService = self.container.services.billing()
        return service

    @property
    def checkout(self) -> CheckoutService:
        """Prices, coupons, checkout and orders, refunds."""
        service: CheckoutService = self.container.services.checkout()
        return service

    @property
    def entitlements(self) -> EntitlementService:
        """The one entitlement check, and the changes of offers and grants (checkout, subscriptions, admins)."""
        service: EntitlementService = self.container.services.entitlement()
        return service

    @property
    def plans(self) -> PlanService:
        """The subscription plans' catalog: import, list, read."""
        service: PlanService = self.container.services.plans()
        return service

    @property
    def discussion(self) -> DiscussionService:
        """Course discussions: threads, replies, votes, moderation, announcements."""
        service: DiscussionService = self.container.services.discussion()
        return service

    @property
    def notifications(self) -> NotificationService:
        """The users' inboxes and notification preferences (the sending is the module's jobs)."""
        service: NotificationService = self.container.services.notification()
        return service

    @property
    def recommendations(self) -> RecommendationService:
        """Similar and co-taken courses, each learner's "next for you", training and offline evaluation."""
        service: RecommendationService = self.container.services.recommendation()
        return service

    @property
    def search(self) -> SearchService:
        """Search: queries, suggestions, synonyms and the query report (the index is a projection)."""
        service: SearchService = self.container.services.search()
        return service

    @property
    def analytics(self) -> AnalyticsService:
        """xAPI statements: the store the ``analytics`` projection fills from the platform's events."""
        service: AnalyticsService = self.container.services.analytics()
        return service

    @property
    def lrs(self) -> LrsService:
        """The learning record store's rules (``/xapi/statements``): who writes and reads which statements."""
        service: LrsService = self.container.analytics.lrs()
        return service

    @property
    def statement_export(self) -> StatementExportService:
        """One learner's statements, all of them, for their right of access (the learner, platform admins)."""
        service: StatementExportService = self.container.analytics.export()
        return service

    @property
    def lrs_credentials(self) -> LrsCredentialService:
        """The learning record store's client credentials: create (the secret shown once), list, revoke."""
        service: LrsCredentialService = self.container.analytics.lrs_credentials()
        return service

    @property
    def subscriptions(self) -> SubscriptionService:
        """Subscriptions: subscribe, cancel, resume, change plan, seats, saved payment methods, renewals."""
        service: SubscriptionService = self.container.services.subscriptions()
        return service

    @property
    def at_risk(self) -> AtRiskService:
        """A course's learners at risk (inactive, failing, behind pace), for its staff."""
        service: AtRiskService = self.container.services.at_risk()
        return service

    @property
    def dashboards(self) -> DashboardService:
        """Course dashboards for staff and the platform's for its admins: figures and charts, small cells hidden."""
        service: DashboardService = self.container.services.dashboards()
        return service

    @property
    def chart_renderer(self) -> ChartRenderer:
        """Draws a chart's Vega-Lite spec as SVG or PNG."""
        renderer: ChartRenderer = self.container.analytics_reports.chart_renderer()
        return renderer

    @property
    def events(self) -> InProcessEventTransport | None:
        """The in-process event transport (None with Kafka): ``start()`` it, or ``await drain()`` for the effects now."""
        transport: InProcessEventTransport | None = self.container.adapters.event_transport()
        return transport

    @property
    def video_processor(self) -> VideoProcessor:
        """Runs the pipeline in this process for the events ``events`` delivers (``wait_idle`` to await it)."""
        processor: VideoProcessor = self.container.video.processor()
        return processor

    async def start_keys(self) -> None:
        """Load the token signing keys (creating the first on a new database); idempotent."""
        await self.container.identity.tokens().start()

    async def aclose(self) -> None:
        await close_adapters(self.container)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def bootstrap(
    settings: Settings | None = None, *, run_migrations: bool = True, start_keys: bool | None = None
) -> Platform:
    """Build the platform on the database ``settings`` names (in-memory SQLite when omitted).

    Pending migrations are applied first unless ``run_migrations`` is false.
    ``start_keys`` (default: when migrating) loads the token signing keys,
    creating the first one on a new database; a platform that issues or checks
    tokens needs them (``await platform.start_keys()`` later does the same).
    """
    settings = settings or Settings.in_memory()
    platform = Platform(settings=settings, container=build_container(settings))
    if run_migrations:
        await migrate.upgrade(platform.database)
    if run_migrations if start_keys is None else start_keys:
        await platform.start_keys()
    return platform


def freeze_startup_objects() -> None:
    """Move what start-up built (modules, metadata, schemas, the container's objects) out of the garbage
    collector's full passes: it lives as long as the process, and each full pass otherwise walks all of it
    again (a server's large responses, a worker's batches: RESULTS.md). Runtimes call this once, when start-up
    is done and before the first request or batch."""
    gc.collect()
    gc.freeze()


async def close_adapters(container: Container) -> None:
    """Stop the in-process transport, release every module's clients, close the cache and the database.

    Runtimes call this on shutdown; each module's wiring declares its own ``closers``.
    """
    adapters = container.adapters
    try:
        transport = adapters.event_transport()
        if transport is not None:
            await transport.stop()
        for close in gather_closers(container):
            await close()
        cache = adapters.cache()
        if isinstance(cache, RedisCache):
            await cache.aclose()
    finally:
        await adapters.database().dispose()
