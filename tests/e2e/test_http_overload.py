"""Admission control (503) and the per-client rate limit (429) as a client sees them, on the real app.

Concurrency is driven by a route held open on an event, not by timing: the test waits (bounded) until
the admission counter shows the held requests in flight, then checks what the next request gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import get
from prometheus_client.parser import text_string_to_metric_families

from elearning_adapters.container import bootstrap
from elearning_http.app import create_app
from elearning_http.overload import OverloadLayers
from tests.e2e.http_helpers import ADMIN, COURSES, assert_problem, settings_for

HELD = "/api/v1/test-held"
HELD_STREAM = "/api/v1/uploads-test-held"
WAIT_S = 10.0


@asynccontextmanager
async def app_with_held_routes(
    tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Any, OverloadLayers, asyncio.Event]]:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}", tmp_path, **overrides)
    release = asyncio.Event()

    @get(HELD, opt={"public": True}, include_in_schema=False)
    async def held() -> dict[str, str]:
        await asyncio.wait_for(release.wait(), WAIT_S)
        return {"held": "done"}

    @get(HELD_STREAM, opt={"public": True}, include_in_schema=False)
    async def held_stream() -> dict[str, str]:
        await asyncio.wait_for(release.wait(), WAIT_S)
        return {"stream": "done"}

    platform = await bootstrap(settings, run_migrations=True)
    try:
        app = create_app(container=platform.container, run_events=False)
        app.register(held)
        app.register(held_stream)
        await platform.start_keys()
        # httpx's ASGI transport runs the app on this loop (Litestar's test client would serialise the
        # held requests through a portal of its own); lifespan hooks are not needed by these tests.
        transport = httpx.ASGITransport(app=app, client=("testclient", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, app.state["overload"], release
    finally:
        await platform.aclose()


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(int(WAIT_S / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def metric(text: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no {name}{labels} in the metrics")


async def test_past_the_bound_a_request_gets_503_at_once_and_health_still_answers(tmp_path: Path) -> None:
    async with app_with_held_routes(tmp_path, max_in_flight=2, max_streams=1, overload_retry_after_seconds=3) as (
        client,
        overload,
        release,
    ):
        admission = overload.admission
        assert admission is not None
        held = [asyncio.create_task(client.get(HELD)) for _ in range(2)]
        stream = asyncio.create_task(client.get(HELD_STREAM))
        await until(lambda: admission.in_flight == 2 and admission.streams == 1, "two requests and a stream held")

        refused = await client.get(COURSES, headers=ADMIN)
        body = assert_problem(refused, 503)
        assert body["type"] == "urn:elearning:problem:overloaded"
        assert refused.headers["retry-after"] == "3"
        assert body["retry_after"] == 3
        assert body["instance"] == COURSES
        # A stream has its own bound: the second is refused, not because of the requests.
        assert_problem(await client.get(HELD_STREAM), 503)
        # The operator's endpoints are never refused.
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
        scrape = await client.get("/metrics")
        assert scrape.status_code == 200
        assert metric(scrape.text, "elearning_http_in_flight_requests", {"kind": "requests"}) == 2
        assert metric(scrape.text, "elearning_http_in_flight_requests", {"kind": "streams"}) == 1
        assert metric(scrape.text, "elearning_http_refused_requests_total", {"reason": "overloaded"}) >= 1

        release.set()
        assert [r.status_code for r in await asyncio.gather(*held, stream)] == [200, 200, 200]
        assert admission.in_flight == 0
        assert admission.streams == 0
        assert (await client.get(COURSES, headers=ADMIN)).status_code == 200


async def test_a_credential_over_its_quota_gets_429_with_the_ietf_headers(tmp_path: Path) -> None:
    async with app_with_held_routes(tmp_path, rate_limit_per_token=3, rate_limit_window_seconds=3600) as (
        client,
        _,
        _release,
    ):
        statuses = [(await client.get(COURSES, headers=ADMIN)).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = await client.get(COURSES, headers=ADMIN)
        body = assert_problem(refused, 429)
        assert body["type"] == "urn:elearning:problem:rate-limited"
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 3600
        assert body["retry_after"] == retry_after
        assert refused.headers["ratelimit-policy"] == '"token";q=3;w=3600'
        assert refused.headers["ratelimit"] == f'"token";r=0;t={retry_after}'
        # Another credential has its own quota; the operator's endpoints and the docs have none.
        other = {"Authorization": "Bearer some-other-token"}
        assert (await client.get(COURSES, headers=other)).status_code == 401
        for path in ("/health", "/ready", "/metrics", "/schema/openapi.json"):
            assert (await client.get(path, headers=ADMIN)).status_code == 200, path


async def test_an_address_over_its_quota_gets_429_whatever_the_credential(tmp_path: Path) -> None:
    async with app_with_held_routes(tmp_path, rate_limit_per_ip=4, rate_limit_window_seconds=3600) as (
        client,
        _,
        _release,
    ):
        tokens = [{"Authorization": f"Bearer rotating-{n}"} for n in range(4)]
        assert [(await client.get(COURSES, headers=t)).status_code for t in tokens] == [401] * 4
        refused = await client.get(COURSES)
        assert_problem(refused, 429)
        assert refused.headers["ratelimit-policy"] == '"ip";q=4;w=3600'


async def test_the_rate_limit_can_be_switched_off(tmp_path: Path) -> None:
    async with app_with_held_routes(
        tmp_path, rate_limit_enabled=False, rate_limit_per_token=1, rate_limit_per_ip=1
    ) as (
        client,
        overload,
        _release,
    ):
        assert overload.counters is None
        assert [(await client.get(COURSES, headers=ADMIN)).status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize("proxies", [[], ["127.0.0.1"]])
async def test_the_sign_in_throttle_takes_the_address_from_the_same_resolver(
    tmp_path: Path, proxies: list[str]
) -> None:
    """Through the in-process client the peer is "testclient": a forwarded header changes nothing either way."""
    async with app_with_held_routes(tmp_path, login_limit_per_ip=2, trusted_proxies=proxies) as (client, _, _r):
        statuses = []
        for n in range(3):
            response = await client.post(
                "/api/v1/auth/login",
                json={"email": f"nobody{n}@example.org", "password": "wrong-password-1"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 429]
