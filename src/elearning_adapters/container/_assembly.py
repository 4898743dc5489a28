"""The top-level container: the shared adapters and one wiring per module, assembled; nothing else."""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from elearning_adapters.container._analytics import AnalyticsWiring
from elearning_adapters.container._analytics_reports import AnalyticsReportsWiring
from elearning_adapters.container._assessment import AssessmentWiring
from elearning_adapters.container._attachment import AttachmentWiring
from elearning_adapters.container._billing import BillingWiring
from elearning_adapters.container._certificate import CertificateWiring
from elearning_adapters.container._checkout import CheckoutWiring
from elearning_adapters.container._course import CourseWiring
from elearning_adapters.container._discussion import DiscussionWiring
from elearning_adapters.container._enrollment import EnrollmentWiring
from elearning_adapters.container._entitlement import EntitlementWiring
from elearning_adapters.container._identity import IdentityWiring
from elearning_adapters.container._learning_path import LearningPathWiring
from elearning_adapters.container._notification import NotificationWiring
from elearning_adapters.container._payment import PaymentWiring
from elearning_adapters.container._progress import ProgressWiring
from elearning_adapters.container._recommendation import RecommendationWiring
from elearning_adapters.container._scheduling import SchedulingWiring
from elearning_adapters.container._search import SearchWiring
from elearning_adapters.container._shared import SharedWiring
from elearning_adapters.container._subscription import SubscriptionWiring
from elearning_adapters.container._video import VideoWiring
from elearning_adapters.container._wiring import gather_commit_listeners, gather_jobs, gather_subscriptions
from elearning_adapters.settings import Settings
from elearning_core.analytics.at_risk_service import AtRiskService
from elearning_core.analytics.dashboard import DashboardService
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
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.entitlement.service import EntitlementService
from elearning_core.identity.service import IdentityService
from elearning_core.learning_path.service import LearningPathService
from elearning_core.notification.service import NotificationService
from elearning_core.payment.service import PaymentService
from elearning_core.progress.service import ProgressService
from elearning_core.recommendation.service import RecommendationService
from elearning_core.search.service import SearchService
from elearning_core.subscription.service import PlanService, SubscriptionService
from elearning_core.video.service import VideoService


class Services(containers.DeclarativeContainer):
    """The use-case services runtimes ask for (``container.services.course()``), each from its module's wiring."""

    identity = providers.Dependency(instance_of=IdentityService)
    auth = providers.Dependency(instance_of=AuthService)
    course = providers.Dependency(instance_of=CourseService)
    enrollment = providers.Dependency(instance_of=EnrollmentService)
    video = providers.Dependency(instance_of=VideoService)
    assessment = providers.Dependency(instance_of=AssessmentService)
    progress = providers.Dependency(instance_of=ProgressService)
    learning_path = providers.Dependency(instance_of=LearningPathService)
    certificate = providers.Dependency(instance_of=CertificateService)
    payment = providers.Dependency(instance_of=PaymentService)
    billing = providers.Dependency(instance_of=BillingService)
    entitlement = providers.Dependency(instance_of=EntitlementService)
    plans = providers.Dependency(instance_of=PlanService)
    discussion = providers.Dependency(instance_of=DiscussionService)
    notification = providers.Dependency(instance_of=NotificationService)
    subscriptions = providers.Dependency(instance_of=SubscriptionService)
    checkout = providers.Dependency(instance_of=CheckoutService)
    recommendation = providers.Dependency(instance_of=RecommendationService)
    search = providers.Dependency(instance_of=SearchService)
    analytics = providers.Dependency(instance_of=AnalyticsService)
    at_risk = providers.Dependency(instance_of=AtRiskService)
    dashboards = providers.Dependency(instance_of=DashboardService)
    attachment = providers.Dependency(instance_of=AttachmentService)


def _entitlement_access(container: Any) -> AccessCheck:
    check: AccessCheck = container.entitlement.access()
    return check


class Container(containers.DeclarativeContainer):
    __self__ = providers.Self()
    settings = providers.Dependency(instance_of=Settings)

    # What every module's wiring declares, gathered from the wirings below (see ``ModuleWiring``).
    subscriptions = providers.Singleton(gather_subscriptions, __self__)
    commit_listeners = providers.Singleton(gather_commit_listeners, __self__)
    jobs = providers.Singleton(gather_jobs, __self__)

    adapters = providers.Container(
        SharedWiring, settings=settings, subscriptions=subscriptions, commit_listeners=commit_listeners
    )

    # One line per module.
    identity = providers.Container(IdentityWiring, shared=adapters, settings=settings)
    # The one entitlement check (the entitlement module's wiring, below), which every content module's gating
    # asks: a narrow read, not its service. Resolved through the assembly so the modules keep their order.
    access = providers.Callable(_entitlement_access, __self__)
    course = providers.Container(CourseWiring, shared=adapters, settings=settings, access=access)
    enrollment = providers.Container(EnrollmentWiring, shared=adapters, settings=settings, access=access)
    # Content gating: video and assessment read the course's published outlines (a narrow read, not its service)
    # and the learner facts its conditional release reads.
    video = providers.Container(
        VideoWiring,
        shared=adapters,
        settings=settings,
        outlines=course.catalog_queries,
        learner_facts=course.learner_facts,
        access=access,
    )
    assessment = providers.Container(
        AssessmentWiring,
        shared=adapters,
        settings=settings,
        outlines=course.catalog_queries,
        learner_facts=course.learner_facts,
        access=access,
    )
    attachment = providers.Container(
        AttachmentWiring,
        shared=adapters,
        settings=settings,
        outlines=course.catalog_queries,
        learner_facts=course.learner_facts,
        access=access,
    )
    # Enrolling a path's learner into its courses goes through the enrollment module's rules (its service).
    learning_path = providers.Container(
        LearningPathWiring, shared=adapters, settings=settings, enrollment=enrollment.service
    )
    progress = providers.Container(
        ProgressWiring,
        shared=adapters,
        settings=settings,
        outlines=course.catalog_queries,
        assessment_queries=assessment.queries,
        access=access,
    )
    certificate = providers.Container(
        CertificateWiring,
        shared=adapters,
        settings=settings,
        outlines=course.catalog_queries,
        access=access,
    )
    payment = providers.Container(PaymentWiring, shared=adapters, settings=settings)
    # The one scheduler, over the jobs every module's wiring declares.
    scheduling = providers.Container(SchedulingWiring, shared=adapters, settings=settings, jobs=jobs)
    billing = providers.Container(BillingWiring, shared=adapters, settings=settings, gateway=payment.gateway)
    # Checkout runs the enrollment and billing use cases joined to its transactions, and charges the gateway.
    checkout = providers.Container(
        CheckoutWiring,
        shared=adapters,
        settings=settings,
        enrollment=enrollment.service,
        billing=billing.service,
        gateway=payment.gateway,
        tax=billing.tax,
    )
    entitlement = providers.Container(EntitlementWiring, shared=adapters, settings=settings)
    subscription = providers.Container(
        SubscriptionWiring, shared=adapters, settings=settings, gateway=payment.gateway, billing=billing.service
    )
    # Posts render with the course content's sanitising renderer; posting is limited on the login limiter's store.
    discussion = providers.Container(
        DiscussionWiring,
        shared=adapters,
        settings=settings,
        rate_limiter=identity.rate_limiter,
        renderer=course.renderer,
    )
    # Replies fan out to the discussion module's followers of the thread.
    notification = providers.Container(
        NotificationWiring,
        shared=adapters,
        settings=settings,
        followers=discussion.audience,
        access=access,
    )
    # "Next for you" offers only what the learner could enroll in now: the enrollment module's prerequisite
    # check and the entitlement check (narrow reads, not their services).
    recommendation = providers.Container(
        RecommendationWiring,
        shared=adapters,
        settings=settings,
        access=access,
        prerequisites=enrollment.prerequisites,
    )
    search = providers.Container(SearchWiring, shared=adapters, settings=settings)
    # xAPI statements from every module's events (a projection: it reads no other module's service).
    analytics = providers.Container(AnalyticsWiring, shared=adapters, settings=settings)
    # Reports read the gradebook (the assessment module's reads) and the published outlines, not their services;
    # the dashboards read the aggregates the analytics projection keeps.
    analytics_reports = providers.Container(
        AnalyticsReportsWiring,
        shared=adapters,
        settings=settings,
        aggregates=analytics.analytics_aggregates,
        outlines=course.catalog_queries,
        assessment_queries=assessment.queries,
    )

    services = providers.Container(
        Services,
        identity=identity.service,
        auth=identity.auth,
        course=course.service,
        enrollment=enrollment.service,
        video=video.service,
        assessment=assessment.service,
        progress=progress.service,
        learning_path=learning_path.service,
        certificate=certificate.service,
        payment=payment.service,
        billing=billing.service,
        entitlement=entitlement.service,
        plans=subscription.plans,
        subscriptions=subscription.service,
        discussion=discussion.service,
        notification=notification.service,
        checkout=checkout.service,
        recommendation=recommendation.service,
        search=search.service,
        analytics=analytics.service,
        at_risk=analytics_reports.at_risk,
        dashboards=analytics_reports.dashboards,
        attachment=attachment.service,
    )


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
