"""Schemathesis against the whole API: what the document promises is what the server does.

The app runs in-process on a migrated SQLite file (schemathesis' ASGI transport: the real routing,
guards, validation, exception mapping and SQL adapters), seeded with a few real objects through
the API, so path parameters hit existing resources on every other case as well as unknown ids.
Each operation is fuzzed as the admin service account and anonymously, with every check on:
no server error, every status, content type, header and body as documented, invalid data refused,
valid data accepted. Derandomized (a fixed seed per test) and bounded in examples, so a run is
repeatable and takes well under two minutes on two cores.

A new route is held to it from its first commit: nothing here names a route.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from litestar import Litestar
from schemathesis.checks import negative_data_rejection
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi

from elearning_adapters.sql import migrate
from elearning_adapters.sql.engine import Database
from elearning_http.app import create_app
from elearning_http.openapi import document_of
from tests.e2e.http_helpers import ADMIN, ADMIN_TOKEN, settings_for

MAX_EXAMPLES = 5
"""Per operation and caller: ~110 operations x 2 callers x 5 cases, plus the negative and auth checks' calls."""

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def _seed(app: Litestar) -> dict[str, str]:
    """A few real objects, created through the API: the ids path parameters will reuse."""
    with asgi.get_client(app) as client:

        def post(url: str, body: Any = None, status: int = 201) -> dict[str, Any]:
            response = client.post(url, json=body, headers=ADMIN)
            assert response.status_code == status, f"seeding {url}: {response.status_code} {response.text}"
            return response.json() if response.content else {}

        course = post("/api/v1/courses", {"title": "Fuzzed course", "tags": ["fuzz"]})
        section = post(f"/api/v1/courses/{course['id']}/sections", {"title": "Basics"})
        lesson = post(f"/api/v1/courses/{course['id']}/sections/{section['id']}/lessons", {"title": "Variables"})
        question = post(
            f"/api/v1/courses/{course['id']}/questions",
            {"prompt": "True?", "body": {"kind": "true_false", "correct": True}, "tags": ["fuzz"]},
        )
        quiz = post(
            f"/api/v1/courses/{course['id']}/quizzes",
            {"title": "Fuzzed quiz", "slots": [{"type": "fixed", "question_id": question["id"]}]},
        )
        post(f"/api/v1/quizzes/{quiz['id']}/publish", status=200)
        post(f"/api/v1/courses/{course['id']}/publish", status=200)
        video = post(f"/api/v1/courses/{course['id']}/videos", {"title": "Fuzzed video"})
        cohort = post(f"/api/v1/courses/{course['id']}/cohorts", {"name": "Spring"})
        user = post("/api/v1/admin/users", {"email": "learner@example.org", "display_name": "Learner"})
        organization = post("/api/v1/organizations", {"slug": "fuzz-org", "name": "Fuzz Org"})
        response = client.put(f"/api/v1/courses/{course['id']}/enrollments/{user['id']}", json={}, headers=ADMIN)
        assert response.status_code == 201, response.text
        return {
            "course_id": course["id"],
            "slug": course["slug"],
            "section_id": section["id"],
            "lesson_id": lesson["id"],
            "question_id": question["id"],
            "quiz_id": quiz["id"],
            "video_id": video["id"],
            "cohort_id": cohort["id"],
            "user_id": user["id"],
            "organization_id": organization["id"],
            "number": "1",
        }


# Built at collection, since schemathesis parametrizes from the document; the database is migrated and
# seeded by the ``seeds`` fixture before the first call starts the app's lifespan (on schemathesis'
# own event-loop thread, where the engine and the key ring then live).
_DIRECTORY = Path(tempfile.mkdtemp(prefix="elearning-fuzz-"))
atexit.register(shutil.rmtree, _DIRECTORY, ignore_errors=True)
# Over a thousand requests with one token from one address: the rate limit and admission bounds are set
# high (as settings_for sets them), so the fuzz never meets a 429/503 it did not ask for. Both answers stay
# documented on every operation and checked statically (test_openapi_document.py).
SETTINGS = settings_for(
    f"sqlite+aiosqlite:///{_DIRECTORY / 'elearning.db'}",
    _DIRECTORY,
    admin_token=ADMIN_TOKEN,
    rate_limit_per_token=1_000_000,
    rate_limit_per_ip=1_000_000,
    max_in_flight=10_000,
)
APP = create_app(SETTINGS, run_events=False)
schema = schemathesis.openapi.from_dict(document_of(APP))
schema.app = APP
# Unknown query parameters and headers are ignored, as HTTP servers behind proxies must: not a negative case.
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, allow_extra_parameters=False)
# Schema-valid data may still break a rule no JSON Schema can state (closes_at after opens_at, an expired
# mail token, an IANA time zone): a 422 problem naming the field is a right answer to it.
# A throttled route (429 with Retry-After) and a size limit from the settings (413) refuse valid data too.
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *("2xx", "3xx", "401", "403", "404", "409", "413", "422", "429"),
]
# A tus chunk is raw bytes.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
# tus refuses a request without its version header with its own 412, before looking at anything else.
for _check in (schema.config.checks.negative_data_rejection, schema.config.checks.missing_required_header):
    _check.expected_statuses = [*_check.expected_statuses, "412"]


@pytest.fixture(scope="module")
def seeds() -> Iterator[dict[str, str]]:
    async def migrated() -> None:
        database = Database(SETTINGS.resolved_database_url)
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(migrated())
    yield _seed(APP)
    asgi.shutdown_lifespans()


_turn = itertools.count()


def _call(case: schemathesis.Case, seeds: dict[str, str], headers: dict[str, str]) -> None:
    # Every other case aims at the seeded objects, so the success paths are exercised too, not only 404s.
    if case.path_parameters and next(_turn) % 2 == 0:
        for name in case.path_parameters:
            if name in seeds:
                case.path_parameters[name] = seeds[name]
    components = case.meta.components if case.meta is not None else {}
    negative = {location for location, info in components.items() if info.mode == GenerationMode.NEGATIVE}
    # A path segment is text: a "wrong type" path value (the array [1]) can serialize to a valid one ("1").
    excluded = [negative_data_rejection] if negative == {ParameterLocation.PATH} else []
    case.call_and_validate(headers=headers, excluded_checks=excluded)


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_keeps_its_document_for_the_admin(case: schemathesis.Case, seeds: dict[str, str]) -> None:
    _call(case, seeds, dict(ADMIN))


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_keeps_its_document_for_anonymous_callers(case: schemathesis.Case, seeds: dict[str, str]) -> None:
    _call(case, seeds, {})
