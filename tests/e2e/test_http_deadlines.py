"""A request past its database deadline ends as a 503 problem that says what ran out, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.http_helpers import ADMIN, COURSES, assert_problem, serve, settings_for

pytestmark = pytest.mark.postgres


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_a_write_waiting_on_a_locked_row_is_a_503_lock_timeout_and_changes_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = settings_for(postgres_url, tmp_path, db_lock_timeout_ms=200, db_statement_timeout_ms=2000)
    async with serve(settings) as api:
        course = await api.create("Locked course")
        before = await api.row_counts()
        async with await psycopg.AsyncConnection.connect(_libpq(postgres_url)) as other:
            await other.execute("SELECT 1 FROM courses WHERE id = %s FOR UPDATE", (course["id"],))
            response = await api.client.patch(f"{COURSES}/{course['id']}", json={"title": "Changed"}, headers=ADMIN)
            await other.rollback()
        body = assert_problem(response, 503)
        assert body["type"] == "urn:elearning:problem:lock-timeout"
        assert int(response.headers["Retry-After"]) >= 1
        assert (await api.outline(course["id"]))["title"] == "Locked course"
        assert await api.row_counts() == before  # no outbox event either


async def test_a_hot_read_past_its_deadline_is_a_503_problem_too(postgres_url: str, tmp_path: Path) -> None:
    """The catalog reads on the psycopg pool, outside any unit of work: the one mapping still answers 503."""
    settings = settings_for(postgres_url, tmp_path, db_lock_timeout_ms=200, db_statement_timeout_ms=2000, cache="none")
    async with serve(settings) as api:
        await api.create("Listed course")
        async with await psycopg.AsyncConnection.connect(_libpq(postgres_url)) as other:
            await other.execute("LOCK TABLE courses IN ACCESS EXCLUSIVE MODE")
            response = await api.client.get(COURSES, headers=ADMIN)
            await other.rollback()
        body = assert_problem(response, 503)
        assert body["type"] == "urn:elearning:problem:lock-timeout"
        assert "Retry-After" in response.headers
        after = await api.client.get(COURSES, headers=ADMIN)
        assert after.status_code == 200  # the lock released, the same read answers again
