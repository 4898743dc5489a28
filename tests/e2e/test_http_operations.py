"""What operators and tooling rely on: health, readiness, metrics, the OpenAPI document,
compression, request ids and the JSON access log."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from elearning_adapters.settings import Settings
from tests.e2e.http_helpers import (
    ADMIN,
    BACKENDS,
    COURSES,
    PROBLEM_JSON,
    Api,
    assert_problem,
    backend_settings,
    course_spec,
    serve,
    settings_for,
)

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nope"


# One app per backend for the whole module (building one costs more than most tests);
# every test starts from empty tables.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("e2e"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


# -- liveness and readiness ------------------------------------------------------------------


async def test_health_is_ok(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


async def test_ready_when_the_database_answers(api: Api) -> None:
    response = await api.client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_not_ready_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = settings_for(UNREACHABLE_DATABASE, tmp_path)
    async with serve(settings, run_migrations=False) as api:
        # Bounded by the check's own timeout (a hang would trip pytest-timeout); no wall-clock assert.
        response = await api.client.get("/ready")
        body = assert_problem(response, 503)
        assert body["type"] == "urn:elearning:problem:not-ready"
        assert body["checks"] == {"database": "down"}
        assert body["detail"].startswith("database unavailable")
        # Liveness does not depend on the database.
        health = await api.client.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        # A read that needs the database: no connection can be had within the checkout deadline, a 503
        # problem to retry later (docs/overload.md, Deadlines): no driver text, no traceback.
        response = await api.client.get(COURSES)
        failed = assert_problem(response, 503)
        assert failed["type"] == "urn:elearning:problem:pool-timeout"
        assert "unreachable" in failed["detail"]
        assert int(response.headers["retry-after"]) >= 1
        assert "Traceback" not in failed["detail"]
        assert "psycopg" not in failed["detail"]
        assert "127.0.0.1" not in json.dumps(failed)


# -- metrics ----------------------------------------------------------------------------------


async def scrape(api: Api) -> dict[tuple[str, str, str, str], float]:
    """The app's own samples, keyed by (sample name, method, path, status)."""
    response = await api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):  # also proves the exposition format parses
        for sample in family.samples:
            if sample.name.startswith("elearning_"):
                labels = sample.labels
                key = (sample.name, labels.get("method", ""), labels.get("path", ""), labels.get("status_code", ""))
                samples[key] = sample.value
    return samples


async def test_metrics_count_requests_per_route(api: Api) -> None:
    (course_id,) = await api.seed(course_spec("metered"))
    before = await scrape(api)
    for _ in range(3):
        assert (await api.client.get(f"{COURSES}/{course_id}")).status_code == 200
    assert (await api.client.get(f"{COURSES}/{course_id}/nope")).status_code == 404
    after = await scrape(api)

    route = ("GET", "/api/v1/courses/{course_id}", "200")

    def grew(name: str, key: tuple[str, str, str]) -> float:
        return after.get((name, *key), 0.0) - before.get((name, *key), 0.0)

    assert grew("elearning_requests_total", route) == 3
    assert grew("elearning_request_duration_seconds_count", route) == 3
    text = (await api.client.get("/metrics")).text
    assert "# TYPE elearning_requests_total counter" in text
    assert "# TYPE elearning_request_duration_seconds histogram" in text
    # Paths are grouped by route template, so ids never become label values.
    assert course_id not in text


# -- the OpenAPI document -----------------------------------------------------------------------

DOCUMENTED_OPERATIONS = {
    ("/api/v1/courses", "get"),
    ("/api/v1/courses", "post"),
    ("/api/v1/courses/{course_id}", "get"),
    ("/api/v1/courses/{course_id}", "patch"),
    ("/api/v1/courses/{course_id}", "delete"),
    ("/api/v1/courses/by-slug/{slug}", "get"),
    ("/api/v1/courses/{course_id}/publish", "post"),
    ("/api/v1/courses/{course_id}/unpublish", "post"),
    ("/api/v1/courses/{course_id}/archive", "post"),
    ("/api/v1/courses/{course_id}/sections", "post"),
    ("/api/v1/courses/{course_id}/sections/order", "put"),
    ("/api/v1/courses/{course_id}/sections/{section_id}", "patch"),
    ("/api/v1/courses/{course_id}/sections/{section_id}", "delete"),
    ("/api/v1/courses/{course_id}/sections/{section_id}/release", "put"),
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}", "get"),
    ("/api/v1/courses/{course_id}/sections/{section_id}/lessons", "post"),
    ("/api/v1/courses/{course_id}/sections/{section_id}/lessons/order", "put"),
    ("/api/v1/courses/{course_id}/sections/{section_id}/lessons/{lesson_id}", "patch"),
    ("/api/v1/courses/{course_id}/sections/{section_id}/lessons/{lesson_id}", "delete"),
    # identity, enrollment and video (every operation of the API is listed here)
    ("/.well-known/jwks.json", "get"),
    ("/.well-known/openid-configuration", "get"),
    ("/api/v1/admin/users", "get"),
    ("/api/v1/admin/users", "post"),
    ("/api/v1/admin/users/{user_id}", "delete"),
    ("/api/v1/admin/users/{user_id}", "get"),
    ("/api/v1/admin/users/{user_id}/reactivate", "post"),
    ("/api/v1/admin/users/{user_id}/roles", "delete"),
    ("/api/v1/admin/users/{user_id}/roles", "post"),
    ("/api/v1/admin/users/{user_id}/suspend", "post"),
    ("/api/v1/auth/email-change/confirm", "get"),
    ("/api/v1/auth/email-change/confirm", "post"),
    ("/api/v1/auth/login", "post"),
    ("/api/v1/auth/logout", "post"),
    ("/api/v1/auth/oidc/{provider}/authorize", "get"),
    ("/api/v1/auth/oidc/{provider}/callback", "get"),
    ("/api/v1/auth/password-reset", "post"),
    ("/api/v1/auth/password-reset/confirm", "get"),
    ("/api/v1/auth/password-reset/confirm", "post"),
    ("/api/v1/auth/password-reset/form", "post"),
    ("/api/v1/auth/providers", "get"),
    ("/api/v1/auth/refresh", "post"),
    ("/api/v1/auth/register", "post"),
    ("/api/v1/auth/verify-email", "get"),
    ("/api/v1/auth/verify-email", "post"),
    ("/api/v1/auth/verify-email/resend", "post"),
    ("/api/v1/courses/{course_id}/cohorts", "get"),
    ("/api/v1/courses/{course_id}/cohorts", "post"),
    ("/api/v1/courses/{course_id}/cohorts/{cohort_id}", "delete"),
    ("/api/v1/courses/{course_id}/cohorts/{cohort_id}", "patch"),
    ("/api/v1/courses/{course_id}/enrollment-settings", "get"),
    ("/api/v1/courses/{course_id}/enrollment-settings", "put"),
    ("/api/v1/courses/{course_id}/enrollments", "get"),
    ("/api/v1/courses/{course_id}/enrollments", "post"),
    ("/api/v1/courses/{course_id}/enrollments/me", "delete"),
    ("/api/v1/courses/{course_id}/enrollments/{user_id}", "delete"),
    ("/api/v1/courses/{course_id}/enrollments/{user_id}", "put"),
    ("/api/v1/courses/{course_id}/enrollments/{user_id}/complete", "post"),
    ("/api/v1/courses/{course_id}/enrollments/{user_id}/move", "post"),
    ("/api/v1/courses/{course_id}/sections/{section_id}/lessons/{lesson_id}/content", "put"),
    ("/api/v1/courses/{course_id}/versions", "get"),
    ("/api/v1/courses/{course_id}/versions/{number}", "get"),
    ("/api/v1/courses/{course_id}/videos", "get"),
    ("/api/v1/courses/{course_id}/videos", "post"),
    ("/api/v1/me/enrollments", "get"),
    ("/api/v1/me/permissions", "get"),
    ("/api/v1/me/statements/export", "get"),
    ("/api/v1/admin/users/{user_id}/statements/export", "get"),
    ("/api/v1/media/{token}/videos/{video_id}/{file_path}", "get"),
    ("/api/v1/organizations", "get"),
    ("/api/v1/organizations", "post"),
    ("/api/v1/organizations/{organization_id}", "get"),
    ("/api/v1/organizations/{organization_id}", "patch"),
    ("/api/v1/organizations/{organization_id}/members/{user_id}", "delete"),
    ("/api/v1/organizations/{organization_id}/members/{user_id}", "put"),
    ("/api/v1/uploads", "options"),
    ("/api/v1/uploads", "post"),
    ("/api/v1/uploads/{upload_id}", "delete"),
    ("/api/v1/uploads/{upload_id}", "head"),
    ("/api/v1/uploads/{upload_id}", "patch"),
    ("/api/v1/users/me", "delete"),
    ("/api/v1/users/me", "get"),
    ("/api/v1/users/me", "patch"),
    ("/api/v1/users/me/email", "post"),
    ("/api/v1/users/me/password", "post"),
    ("/api/v1/videos/{video_id}", "delete"),
    ("/api/v1/videos/{video_id}", "get"),
    ("/api/v1/videos/{video_id}/captions", "get"),
    ("/api/v1/videos/{video_id}/captions/{language}", "delete"),
    ("/api/v1/videos/{video_id}/captions/{language}", "put"),
    ("/api/v1/videos/{video_id}/playback", "get"),
    ("/api/v1/videos/{video_id}/position", "get"),
    ("/api/v1/videos/{video_id}/position", "put"),
    ("/api/v1/videos/{video_id}/reprocess", "post"),
    # analytics and lesson attachments
    ("/api/v1/courses/{course_id}/analytics/at-risk", "get"),
    ("/api/v1/courses/{course_id}/analytics/dashboard", "get"),
    ("/api/v1/courses/{course_id}/analytics/charts/{key}", "get"),
    ("/api/v1/analytics/dashboard", "get"),
    ("/api/v1/analytics/charts/{key}", "get"),
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}/attachments", "get"),
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}/attachments", "post"),
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}/attachments/{attachment_id}", "get"),
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}/attachments/{attachment_id}", "delete"),
    # assessment
    ("/api/v1/courses/{course_id}/questions", "get"),
    ("/api/v1/courses/{course_id}/questions", "post"),
    ("/api/v1/questions/{question_id}", "get"),
    ("/api/v1/questions/{question_id}", "put"),
    ("/api/v1/questions/{question_id}", "delete"),
    ("/api/v1/questions/{question_id}/regrade", "post"),
    ("/api/v1/courses/{course_id}/quizzes", "get"),
    ("/api/v1/courses/{course_id}/quizzes", "post"),
    ("/api/v1/courses/{course_id}/quizzes/import", "post"),
    ("/api/v1/quizzes/{quiz_id}", "get"),
    ("/api/v1/quizzes/{quiz_id}", "put"),
    ("/api/v1/quizzes/{quiz_id}/publish", "post"),
    ("/api/v1/quizzes/{quiz_id}/extensions/{user_id}", "put"),
    ("/api/v1/quizzes/{quiz_id}/extensions/{user_id}", "delete"),
    ("/api/v1/quizzes/{quiz_id}/export", "get"),
    ("/api/v1/quizzes/{quiz_id}/statistics", "get"),
    ("/api/v1/quizzes/{quiz_id}/attempts", "get"),
    ("/api/v1/quizzes/{quiz_id}/attempts", "post"),
    ("/api/v1/attempts/{attempt_id}", "get"),
    ("/api/v1/attempts/{attempt_id}/answers/{question_id}", "put"),
    ("/api/v1/attempts/{attempt_id}/submit", "post"),
    ("/api/v1/attempts/{attempt_id}/items/{question_id}/grade", "put"),
    ("/api/v1/attempts/{attempt_id}/feedback", "put"),
    ("/api/v1/courses/{course_id}/grading-queue", "get"),
    ("/api/v1/courses/{course_id}/grading-scheme", "get"),
    ("/api/v1/courses/{course_id}/grading-scheme", "put"),
    ("/api/v1/courses/{course_id}/gradebook", "get"),
    ("/api/v1/courses/{course_id}/gradebook.csv", "get"),
    ("/api/v1/courses/{course_id}/my-grades", "get"),
    # conditional release
    ("/api/v1/courses/{course_id}/sections/{section_id}/requirements", "put"),
    ("/api/v1/courses/{course_id}/sections/{section_id}/lessons/{lesson_id}/requirements", "put"),
    # notifications
    ("/api/v1/me/notifications", "get"),
    ("/api/v1/me/notifications/unread-count", "get"),
    ("/api/v1/me/notifications/{notification_id}/read", "post"),
    ("/api/v1/me/notifications/read-all", "post"),
    ("/api/v1/me/notifications/stream-ticket", "post"),
    ("/api/v1/me/notifications/stream", "get"),
    ("/api/v1/me/notification-preferences", "get"),
    ("/api/v1/me/notification-preferences", "put"),
    ("/api/v1/notifications/unsubscribe", "post"),
    # recommendations
    ("/api/v1/courses/{course_id}/similar", "get"),
    ("/api/v1/courses/{course_id}/also-taken", "get"),
    ("/api/v1/me/recommendations", "get"),
    # search
    ("/api/v1/search", "get"),
    ("/api/v1/search/suggest", "get"),
    ("/api/v1/search/synonyms", "get"),
    ("/api/v1/search/synonyms/{term}", "put"),
    ("/api/v1/search/synonyms/{term}", "delete"),
    # certificates
    ("/api/v1/courses/{course_id}/certificate-award", "get"),
    ("/api/v1/courses/{course_id}/certificate-award", "put"),
    ("/api/v1/courses/{course_id}/certificates", "get"),
    # progress
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}/view", "post"),
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}/done", "post"),
    ("/api/v1/courses/{course_id}/lessons/{lesson_id}/heartbeats", "post"),
    ("/api/v1/courses/{course_id}/progress", "get"),
    ("/api/v1/courses/{course_id}/progress/learners", "get"),
    ("/api/v1/courses/{course_id}/progress/learners.csv", "get"),
    ("/api/v1/courses/{course_id}/progress/learners/{user_id}", "get"),
    ("/api/v1/courses/{course_id}/progress/learners/{user_id}/audit", "get"),
    ("/api/v1/courses/{course_id}/progress/learners/{user_id}/reset", "post"),
    ("/api/v1/courses/{course_id}/progress/lessons", "get"),
    ("/api/v1/courses/{course_id}/completion-rules", "get"),
    ("/api/v1/courses/{course_id}/completion-rules", "put"),
    ("/api/v1/me/progress", "get"),
    # entitlements
    ("/api/v1/courses/{course_id}/entitlement", "get"),
    ("/api/v1/courses/{course_id}/offer", "get"),
    ("/api/v1/courses/{course_id}/offer", "put"),
    # discussion
    ("/api/v1/courses/{course_id}/threads", "get"),
    ("/api/v1/courses/{course_id}/threads", "post"),
    ("/api/v1/courses/{course_id}/announcements", "get"),
    ("/api/v1/courses/{course_id}/announcements", "post"),
    ("/api/v1/courses/{course_id}/discussion/unread", "get"),
    ("/api/v1/courses/{course_id}/discussion/watch", "put"),
    ("/api/v1/courses/{course_id}/discussion/moderation-queue", "get"),
    ("/api/v1/courses/{course_id}/discussion/bans", "post"),
    ("/api/v1/courses/{course_id}/discussion/blackouts", "put"),
    ("/api/v1/threads/{thread_id}", "get"),
    ("/api/v1/threads/{thread_id}/replies", "post"),
    ("/api/v1/threads/{thread_id}/subscription", "put"),
    ("/api/v1/threads/{thread_id}/accepted-answer", "put"),
    ("/api/v1/threads/{thread_id}/staff-flags", "put"),
    ("/api/v1/threads/{thread_id}/read", "put"),
    ("/api/v1/posts/{post_id}", "patch"),
    ("/api/v1/posts/{post_id}/history", "get"),
    ("/api/v1/posts/{post_id}/vote", "put"),
    ("/api/v1/posts/{post_id}/vote", "delete"),
    ("/api/v1/posts/{post_id}/endorsement", "put"),
    ("/api/v1/posts/{post_id}/flags", "post"),
    ("/api/v1/posts/{post_id}/moderation", "post"),
    ("/api/v1/posts/{post_id}/moderation", "get"),
    ("/api/v1/me/blocks/{user_id}", "put"),
    ("/api/v1/me/blocks/{user_id}", "delete"),
    # checkout
    ("/api/v1/courses/{course_id}/prices", "get"),
    ("/api/v1/courses/{course_id}/prices", "put"),
    ("/api/v1/learning-paths/{path_id}/prices", "get"),
    ("/api/v1/learning-paths/{path_id}/prices", "put"),
    ("/api/v1/me/billing-profile", "get"),
    ("/api/v1/me/billing-profile", "put"),
    ("/api/v1/coupons", "get"),
    ("/api/v1/coupons", "post"),
    ("/api/v1/coupons/{code}", "get"),
    ("/api/v1/coupons/{code}/deactivate", "post"),
    ("/api/v1/checkout", "post"),
    ("/api/v1/orders", "get"),
    ("/api/v1/orders/{order_id}", "get"),
    ("/api/v1/orders/{order_id}/confirm", "post"),
    ("/api/v1/refunds", "post"),
    # subscription plans
    ("/api/v1/plans", "get"),
    ("/api/v1/plans/{code}", "get"),
    # subscriptions and saved payment methods
    ("/api/v1/me/payment-methods", "get"),
    ("/api/v1/me/payment-methods", "post"),
    ("/api/v1/me/payment-methods/{method_id}", "delete"),
    ("/api/v1/subscriptions", "get"),
    ("/api/v1/subscriptions", "post"),
    ("/api/v1/subscriptions/{subscription_id}", "get"),
    ("/api/v1/subscriptions/{subscription_id}/cancel", "post"),
    ("/api/v1/subscriptions/{subscription_id}/resume", "post"),
    ("/api/v1/subscriptions/{subscription_id}/change-plan", "post"),
    ("/api/v1/subscriptions/{subscription_id}/confirm-payment", "post"),
    ("/api/v1/subscriptions/{subscription_id}/seats", "get"),
    ("/api/v1/subscriptions/{subscription_id}/seats", "post"),
    ("/api/v1/subscriptions/{subscription_id}/seats/{user_id}", "delete"),
    ("/health", "get"),
    ("/ready", "get"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


async def openapi(api: Api) -> dict:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/")
    return json.loads(response.content)


async def test_openapi_documents_every_course_operation(api: Api) -> None:
    document = await openapi(api)
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "E-learning platform API"
    assert document["info"]["version"]
    operations = {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    missing = DOCUMENTED_OPERATIONS - operations.keys()
    assert not missing, f"undocumented: {sorted(missing)}"
    undocumented_course_routes = {op for op in operations if op[0].startswith(COURSES)} - DOCUMENTED_OPERATIONS
    assert not undocumented_course_routes, f"unexpected course operations: {sorted(undocumented_course_routes)}"
    for key in DOCUMENTED_OPERATIONS:
        assert operations[key].get("summary"), f"{key} has no summary"
    assert len({op["operationId"] for op in operations.values()}) == len(operations)  # unique ids
    # Path ids are declared as UUIDs, and the input limits reach the schema.
    patch_params = {p["name"]: p for p in operations[("/api/v1/courses/{course_id}", "patch")]["parameters"]}
    assert patch_params["course_id"]["schema"] == {"type": "string", "format": "uuid"}
    create = document["components"]["schemas"]["CreateCourse"]
    assert create["properties"]["title"]["maxLength"] == 200
    assert create["properties"]["summary"]["maxLength"] == 500
    list_params = {p["name"]: p for p in operations[("/api/v1/courses", "get")]["parameters"]}
    assert {"language", "level", "tag", "q", "cursor", "limit"} <= list_params.keys()
    assert (list_params["limit"]["schema"]["minimum"], list_params["limit"]["schema"]["maximum"]) == (1, 100)


async def test_openapi_documents_errors_as_problem_details(api: Api) -> None:
    # Every error leaves as application/problem+json; a schema promising another shape misleads clients.
    document = await openapi(api)
    wrong = [
        f"{method.upper()} {path} {status}: {sorted(response.get('content', {}))}"
        for path, item in document["paths"].items()
        if path.startswith(COURSES)
        for method, operation in item.items()
        if method in HTTP_METHODS
        for status, response in operation["responses"].items()
        if status.startswith("4") and set(response.get("content", {})) != {PROBLEM_JSON}
    ]
    assert not wrong, "error responses documented with a body the API never sends:\n" + "\n".join(wrong)


async def test_schema_ui_is_html(api: Api) -> None:
    for path in ("/schema",):
        response = await api.client.get(path)
        assert response.status_code == 200, f"{path}: {response.text[:200]}"
        assert response.headers["content-type"].startswith("text/html")
        assert "<html" in response.text.lower()
        assert "E-learning platform API" in response.text


# -- compression ---------------------------------------------------------------------------------


async def test_large_responses_are_gzipped_when_asked(api: Api) -> None:
    await api.seed(*(course_spec(f"course-{i}", summary="A summary that takes some room. " * 5) for i in range(10)))

    async with api.client.stream("GET", COURSES, headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert raw[:2] == b"\x1f\x8b"
    body = json.loads(gzip.decompress(raw))
    assert len(body["items"]) == 10
    assert len(raw) < len(json.dumps(body)) / 2

    plain = await api.client.get(COURSES, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == body
    # Below the 500-byte threshold compression costs more than it saves.
    small = await api.client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    assert small.json() == {"status": "ok"}


# -- request ids -----------------------------------------------------------------------------------


async def test_every_response_carries_a_request_id(api: Api) -> None:
    course = await api.create("Traced")
    requests = [
        ("GET", "/health", {}, None),
        ("GET", COURSES, {}, None),
        ("GET", f"{COURSES}/{course['id']}", ADMIN, None),
        ("POST", COURSES, ADMIN, {"title": "Traced too"}),
        ("POST", COURSES, {}, {"title": "No token"}),
        ("GET", f"{COURSES}/00000000-0000-0000-0000-000000000000", {}, None),
        ("GET", "/no/such/route", {}, None),
        ("PUT", "/health", {}, None),
        ("GET", f"{COURSES}?limit=0", {}, None),
        ("DELETE", f"{COURSES}/{course['id']}", ADMIN, None),
        ("GET", "/metrics", {}, None),
        ("GET", "/schema/openapi.json", {}, None),
    ]
    seen = set()
    for method, url, headers, body in requests:
        response = await api.client.request(method, url, headers=headers, json=body)
        request_id = response.headers.get("x-request-id", "")
        assert GENERATED_ID.fullmatch(request_id), f"{method} {url} -> {response.status_code}: {request_id!r}"
        if response.headers.get("content-type", "").startswith(PROBLEM_JSON):
            assert response.json()["request_id"] == request_id
        seen.add(request_id)
    assert len(seen) == len(requests)


async def test_a_sane_caller_request_id_is_echoed(api: Api) -> None:
    for supplied in ("trace-7f3a.b_c:1", "x" * 128):
        response = await api.client.get("/health", headers={"X-Request-ID": supplied})
        assert response.headers["x-request-id"] == supplied
        problem = await api.client.get(
            f"{COURSES}/00000000-0000-0000-0000-000000000000", headers={"X-Request-ID": supplied}
        )
        assert assert_problem(problem, 404)["request_id"] == supplied
        assert problem.headers["x-request-id"] == supplied
    # Anything else is replaced, never reflected.
    for insane in ("has space", "x" * 129, "semi;colon", 'quote"d', "<script>", b"caf\xe9"):
        response = await api.client.get("/health", headers={"X-Request-ID": insane})
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"]), insane


# -- the access log ------------------------------------------------------------------------------


def access_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "elearning.access"]


async def test_access_log_is_one_json_line_per_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'logged.db'}", tmp_path, access_log=True, log_json=True)
    async with serve(settings) as api:
        capsys.readouterr()  # startup noise
        ok = await api.client.get(COURSES, params={"limit": 5}, headers={"X-Request-ID": "access-log-check"})
        missing = await api.client.post("/no/such/route", json={})
        lines = access_lines(capsys.readouterr().out)

    assert ok.status_code == 200
    assert missing.status_code == 404
    assert len(lines) == 2, lines
    first, second = lines
    assert first["message"] == "request"
    assert first["level"] == "info"
    assert {k: first[k] for k in ("method", "path", "status", "request_id")} == {
        "method": "GET",
        "path": COURSES,  # the path, without the query string
        "status": 200,
        "request_id": "access-log-check",
    }
    assert isinstance(first["duration_ms"], int | float)
    assert first["duration_ms"] >= 0
    assert {k: second[k] for k in ("method", "path", "status", "request_id")} == {
        "method": "POST",
        "path": "/no/such/route",
        "status": 404,
        "request_id": missing.headers["x-request-id"],
    }

    quiet = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'quiet.db'}", tmp_path, access_log=False, log_json=True)
    async with serve(quiet) as api:
        capsys.readouterr()
        assert (await api.client.get(COURSES)).status_code == 200
        assert access_lines(capsys.readouterr().out) == []
