"""The Litestar application factories.

``server_app()`` is what a server process runs (``uvicorn --factory
elearning_http.app:server_app``): settings from ``ELEARNING_*``, and the
process's logging set up as JSON lines. ``create_app()`` builds the same app
without touching global logging, for tests and for embedding the API.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components

from elearning_adapters.cache import CachedCatalogQueries
from elearning_adapters.container import Container, build_container, close_adapters
from elearning_adapters.container import freeze_startup_objects as freeze_startup_objects_now
from elearning_adapters.settings import Settings
from elearning_core.course.service import CourseService
from elearning_core.shared.ports import Principal
from elearning_http.auth import Authenticator, CsrfTokens, RouteChecks
from elearning_http.bodies import StrictJsonBodies
from elearning_http.errors import exception_handlers
from elearning_http.idempotency import STATE_KEY as IDEMPOTENCY_STATE_KEY
from elearning_http.idempotency import Idempotency
from elearning_http.inputs import ApiRequest
from elearning_http.observability import RequestContextMiddleware, configure_logging
from elearning_http.openapi import fix_options_allow, render_plugins
from elearning_http.overload import OverloadLayers
from elearning_http.page_memo import STATE_KEY as PAGE_MEMO_STATE_KEY
from elearning_http.page_memo import PageMemo
from elearning_http.routes._xapi_parts import LrsAuthenticator
from elearning_http.routes.analytics_dashboards import ANALYTICS_DASHBOARD_HANDLERS
from elearning_http.routes.analytics_reports import ANALYTICS_REPORT_HANDLERS
from elearning_http.routes.assessment import ASSESSMENT_HANDLERS
from elearning_http.routes.attachments import ATTACHMENT_HANDLERS
from elearning_http.routes.auth import AuthController, SessionSettings, jwks, openid_configuration
from elearning_http.routes.billing import BILLING_HANDLERS
from elearning_http.routes.certificates import CERTIFICATE_HANDLERS
from elearning_http.routes.checkout import CHECKOUT_HANDLERS
from elearning_http.routes.courses import CourseController, my_teaching
from elearning_http.routes.discussion import DISCUSSION_HANDLERS
from elearning_http.routes.enrollments import EnrollmentController, my_enrollments
from elearning_http.routes.entitlements import ENTITLEMENT_HANDLERS
from elearning_http.routes.learning_paths import LearningPathController, my_learning_paths
from elearning_http.routes.mail_links import MailLinkController
from elearning_http.routes.notifications import NOTIFICATION_HANDLERS
from elearning_http.routes.payments import PAYMENT_HANDLERS
from elearning_http.routes.plans import PLAN_HANDLERS
from elearning_http.routes.progress import ProgressController, my_progress
from elearning_http.routes.recommendations import RECOMMENDATION_HANDLERS
from elearning_http.routes.search import SEARCH_HANDLERS
from elearning_http.routes.statement_export import STATEMENT_EXPORT_HANDLERS
from elearning_http.routes.subscriptions import SUBSCRIPTION_HANDLERS
from elearning_http.routes.system import health, metrics, ready
from elearning_http.routes.uploads import UploadController
from elearning_http.routes.users import AdminUserController, MeController, OrganizationController, my_permissions
from elearning_http.routes.videos import VideoController, media
from elearning_http.routes.xapi import XAPI_HANDLERS

API_VERSION = "1.0.0"


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    run_events: bool = True,
    freeze_startup_objects: bool = False,
) -> Litestar:
    """The API on ``container`` (built from ``settings`` when omitted).

    ``run_events``: with no Kafka configured, start the in-process event
    transport with the app's lifespan, and the scheduler (``ELEARNING_SCHEDULER``). Test clients that run lifespan hooks on
    an event loop of their own pass False and drive ``platform.events`` themselves.
    ``freeze_startup_objects``: a server process (``server_app``) moves what start-up built out of
    the garbage collector's reach; apps built over and over in one process (tests) must not.
    """
    settings = settings or (container.settings() if container is not None else Settings())
    container = container or build_container(settings)
    database = container.adapters.database()
    course_service = container.services.course()
    identity_service = container.services.identity()
    auth_service = container.services.auth()
    video_service = container.services.video()
    attachment_service = container.services.attachment()
    media_storage = container.video.media_storage()
    stored_uploads = container.video.stored_uploads()
    enrollment_service = container.services.enrollment()
    assessment_service = container.services.assessment()
    progress_service = container.services.progress()
    learning_path_service = container.services.learning_path()
    certificate_service = container.services.certificate()
    notification_service = container.services.notification()
    search_service = container.services.search()
    payment_service = container.services.payment()
    webhook_endpoints = container.payment.webhook_endpoints()
    billing_service = container.services.billing()
    entitlement_service = container.services.entitlement()
    checkout_service = container.services.checkout()
    plan_service = container.services.plans()
    discussion_service = container.services.discussion()
    recommendation_service = container.services.recommendation()
    at_risk_service = container.services.at_risk()
    dashboard_service = container.services.dashboards()
    chart_renderer = container.analytics_reports.chart_renderer()
    subscription_service = container.services.subscriptions()
    tokens = container.identity.tokens()
    csrf = CsrfTokens(settings.resolved_secret())
    authenticate = Authenticator(
        auth_service, csrf, settings.admin_token.get_secret_value() if settings.admin_token else None
    )
    lrs = container.analytics.lrs()
    statement_export = container.analytics.export()
    lrs_authenticator = LrsAuthenticator(authenticate, lrs, container.analytics.lrs_credentials())
    session_settings = SessionSettings(
        secure=settings.resolved_cookie_secure, csrf=csrf, cors_origins=tuple(settings.cors_origins)
    )
    idempotency = Idempotency(
        store=container.adapters.idempotency_store(),
        authenticate=authenticate,
        clock=container.adapters.clock(),
        ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
    )
    # Without Kafka the outbox is relayed here, unless `elearning worker events` does it (ELEARNING_EVENTS_RELAY).
    events = container.adapters.event_transport() if run_events and settings.events_relayed_in_serve else None
    # The scheduled jobs (docs/scheduling.md): in this process on the embedded default, where no worker runs.
    scheduler = container.scheduling.runner() if run_events and settings.scheduler_in_serve else None
    subscriptions = container.adapters.subscriptions()
    overload = OverloadLayers(settings, container)

    async def provide_principal(
        request: Request[Any, Any, Any], course_service: NamedDependency[CourseService]
    ) -> Principal:
        # ``course_service`` is taken only to order the two: Litestar resolves the independent
        # dependencies of a route in an anyio task group, which cost ~0.3 ms of CPU per request
        # (measured: cached catalog list 0.47 -> 0.6 of bare). Chained, they resolve one after the other.
        del course_service
        return await authenticate(request)

    async def start_events() -> None:
        # The signing keys first: no token can be issued or checked without them. With the database
        # down the app still starts (/ready says why); the keys load at the first sign-in instead.
        try:
            await tokens.start()
        except Exception as exc:
            logging.getLogger("elearning.http").error("could not load the token signing keys yet: %s", exc)
        # The embedded default (no Kafka): this process relays the outbox to the handlers itself.
        if events is not None:
            events.start()
        overload.start()
        if scheduler is not None:
            scheduler.start()
        if freeze_startup_objects:
            freeze_startup_objects_now()

    async def shutdown() -> None:
        if scheduler is not None:
            await scheduler.stop()
        await overload.aclose()
        await close_adapters(container)

    app = Litestar(
        route_handlers=[
            CourseController,
            my_teaching,
            AuthController,
            MailLinkController,
            MeController,
            AdminUserController,
            OrganizationController,
            my_permissions,
            VideoController,
            UploadController,
            *ATTACHMENT_HANDLERS,
            media,
            EnrollmentController,
            my_enrollments,
            *ASSESSMENT_HANDLERS,
            ProgressController,
            my_progress,
            LearningPathController,
            my_learning_paths,
            *CERTIFICATE_HANDLERS,
            *NOTIFICATION_HANDLERS,
            *RECOMMENDATION_HANDLERS,
            *SEARCH_HANDLERS,
            *ENTITLEMENT_HANDLERS,
            *DISCUSSION_HANDLERS,
            *PLAN_HANDLERS,
            *SUBSCRIPTION_HANDLERS,
            *PAYMENT_HANDLERS,
            *BILLING_HANDLERS,
            *CHECKOUT_HANDLERS,
            *ANALYTICS_REPORT_HANDLERS,
            *ANALYTICS_DASHBOARD_HANDLERS,
            *XAPI_HANDLERS,
            *STATEMENT_EXPORT_HANDLERS,
            jwks,
            openid_configuration,
            health,
            ready,
            metrics,
        ],
        dependencies={
            "course_service": Provide(lambda: course_service, sync_to_thread=False),
            "identity_service": Provide(lambda: identity_service, sync_to_thread=False),
            "auth_service": Provide(lambda: auth_service, sync_to_thread=False),
            "video_service": Provide(lambda: video_service, sync_to_thread=False),
            "attachment_service": Provide(lambda: attachment_service, sync_to_thread=False),
            "media_storage": Provide(lambda: media_storage, sync_to_thread=False),
            "stored_uploads": Provide(lambda: stored_uploads, sync_to_thread=False),
            "enrollment_service": Provide(lambda: enrollment_service, sync_to_thread=False),
            "assessment_service": Provide(lambda: assessment_service, sync_to_thread=False),
            "progress_service": Provide(lambda: progress_service, sync_to_thread=False),
            "learning_path_service": Provide(lambda: learning_path_service, sync_to_thread=False),
            "certificate_service": Provide(lambda: certificate_service, sync_to_thread=False),
            "notification_service": Provide(lambda: notification_service, sync_to_thread=False),
            "search_service": Provide(lambda: search_service, sync_to_thread=False),
            "notification_stream_hub": Provide(lambda: container.notification.stream(), sync_to_thread=False),
            "stream_tickets": Provide(lambda: container.notification.tickets(), sync_to_thread=False),
            "unsubscribe_links": Provide(lambda: container.notification.links(), sync_to_thread=False),
            "payment_service": Provide(lambda: payment_service, sync_to_thread=False),
            "webhook_endpoints": Provide(lambda: webhook_endpoints, sync_to_thread=False),
            "billing_service": Provide(lambda: billing_service, sync_to_thread=False),
            "entitlement_service": Provide(lambda: entitlement_service, sync_to_thread=False),
            "checkout_service": Provide(lambda: checkout_service, sync_to_thread=False),
            "plan_service": Provide(lambda: plan_service, sync_to_thread=False),
            "discussion_service": Provide(lambda: discussion_service, sync_to_thread=False),
            "recommendation_service": Provide(lambda: recommendation_service, sync_to_thread=False),
            "at_risk_service": Provide(lambda: at_risk_service, sync_to_thread=False),
            "dashboard_service": Provide(lambda: dashboard_service, sync_to_thread=False),
            "chart_renderer": Provide(lambda: chart_renderer, sync_to_thread=False),
            "subscription_service": Provide(lambda: subscription_service, sync_to_thread=False),
            "session_settings": Provide(lambda: session_settings, sync_to_thread=False),
            "jwks_document": Provide(lambda: tokens.jwks, sync_to_thread=False),
            "database": Provide(lambda: database, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "subscriptions": Provide(lambda: subscriptions, sync_to_thread=False),
            "principal": Provide(provide_principal),
            "lrs": Provide(lambda: lrs, sync_to_thread=False),
            "statement_export": Provide(lambda: statement_export, sync_to_thread=False),
            "lrs_authenticator": Provide(lambda: lrs_authenticator, sync_to_thread=False),
        },
        request_class=ApiRequest,
        plugins=[StrictJsonBodies()],
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        middleware=[DefineMiddleware(RouteChecks, authenticate=authenticate)],
        compression_config=CompressionConfig(backend="gzip", minimum_size=500, gzip_compress_level=6),
        cors_config=CORSConfig(allow_origins=settings.cors_origins) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="E-learning platform API",
            version=API_VERSION,
            description="REST API of the e-learning platform. Errors are RFC 9457 problem details "
            "(`application/problem+json`). Sign in with `POST /api/v1/auth/login`, then use **Authorize** with "
            "the access token (bearer), or a browser session cookie plus its X-CSRF-Token for writes.",
            path="/schema",
            render_plugins=render_plugins(),
            # The docs and the document are public (the guard lets anonymous callers read ``public`` routes).
            openapi_router=Router("/schema", route_handlers=[], include_in_schema=False, opt={"public": True}),
            components=Components(),
        ),
        on_startup=[start_events],
        state=State(
            {
                "public_base_url": settings.resolved_public_base_url,
                "token_issuer": settings.resolved_token_issuer,
                "token_algorithms": [settings.token_algorithm],
                IDEMPOTENCY_STATE_KEY: idempotency,
                "overload": overload,
                # Anonymous catalog pages from their bytes: only over a catalog cache (its list version is
                # the memo's token); without one, the list route pays nothing for it.
                PAGE_MEMO_STATE_KEY: (
                    PageMemo(course_service.catalog_version)
                    if isinstance(container.course.catalog_queries(), CachedCatalogQueries)
                    else None
                ),
            }
        ),
        on_shutdown=[shutdown],
        logging_config=None,  # configure_logging() above owns the log format
        debug=False,
    )
    fix_options_allow(app)
    # Outermost, so unrouted requests (404, 405) get a request id, an access line and a sample too.
    # Inside it, the overload layers: client address, rate limit (429), admission control (503).
    app.asgi_handler = RequestContextMiddleware(overload.wrap(app.asgi_handler), access_log=settings.access_log)
    return app


def server_app() -> Litestar:
    """The app as a server process runs it: settings from the environment, JSON logs configured."""
    settings = Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    return create_app(settings, freeze_startup_objects=True)
