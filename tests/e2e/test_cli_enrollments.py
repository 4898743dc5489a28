"""``elearning enrollments`` as an admin uses it: list, add and remove, checked against the database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.enrollment.commands import CreateCohort, EnrollmentSettings
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


def fails(*args: str, message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert message in lines[0], lines[0]
    assert result.stdout == ""


def a_course(slug: str, capacity: int | None = None) -> str:
    async def go(platform: Platform) -> str:
        (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(slug)])
        await platform.enrollments.update_settings(SYSTEM, course.id, EnrollmentSettings(capacity=capacity))
        return str(course.id)

    return on_platform(go)


def a_user(email: str) -> str:
    async def go(platform: Platform) -> str:
        return str((await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name="L"))).id)

    return on_platform(go)


def listed(course: str, *options: str) -> list[dict[str, str]]:
    return list(json.loads(ok("enrollments", "list", course, "-o", "json", *options).stdout))


def test_add_list_remove_by_slug_and_email() -> None:
    course_id = a_course("python-basics")
    ada_id = a_user("ada@example.org")
    added = ok("enrollments", "add", "python-basics", "Ada@Example.org")
    assert "enrolled ada@example.org" in added.stderr
    assert "already enrolled" in ok("enrollments", "add", course_id, ada_id).stderr
    (row,) = listed("python-basics")
    assert (row["user_id"], row["email"], row["status"], row["source"]) == (
        ada_id,
        "ada@example.org",
        "active",
        "staff",
    )
    table = ok("enrollments", "list", course_id).stdout
    assert "ada@example.org" in table
    assert "active" in table
    ok("enrollments", "remove", "python-basics", "ada@example.org")
    assert listed(course_id, "--status", "active") == []
    assert [r["status"] for r in listed(course_id, "--status", "unenrolled")] == ["unenrolled"]
    assert "no enrollments" in ok("enrollments", "list", course_id, "--status", "completed").stderr


def test_add_into_a_cohort_by_name_and_the_capacity_holds() -> None:
    course_id = a_course("capped", capacity=1)

    async def cohort(platform: Platform) -> str:
        return str(
            (await platform.enrollments.create_cohort(SYSTEM, uuid.UUID(course_id), CreateCohort(name="Autumn"))).id
        )

    cohort_id = on_platform(cohort)
    a_user("ada@example.org")
    a_user("bob@example.org")
    ok("enrollments", "add", "capped", "ada@example.org", "--cohort", "Autumn")
    (row,) = listed("capped", "--cohort", cohort_id)
    assert row["cohort_id"] == cohort_id
    fails("enrollments", "add", "capped", "bob@example.org", message="the course is full (1 seats)")


def test_bad_references_are_one_line_errors() -> None:
    a_course("real")
    a_user("ada@example.org")
    fails("enrollments", "list", "no-such-course", message="course no-such-course was not found")
    fails("enrollments", "add", "real", "nobody@example.org", message="user nobody@example.org was not found")
    fails("enrollments", "add", "real", "ada@example.org", "--cohort", "Nope", message="cohort 'Nope'")
    fails("enrollments", "remove", "real", "ada@example.org", message="was not found")
    fails("enrollments", "add", "real", "not-an-email", message="neither a user id")
