"""``elearning analytics at-risk`` as an operator uses it: the table, JSON and CSV of a course's learners at
risk, the thresholds, and one-line errors with a non-zero exit on bad input."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from elearning_adapters.container import Platform
from elearning_adapters.sql.enrollment import enrollments
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM, Principal
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


def a_class() -> tuple[str, str, str]:
    """A four-lesson course "risky": ada enrolled 20 days ago and did nothing; bob enrolled today and viewed a
    lesson (the progress projection run)."""

    async def go(platform: Platform) -> tuple[str, str, str]:
        (course,) = await platform.courses.import_courses(SYSTEM, [course_spec("risky", lessons=4)])
        ada = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
        bob = await platform.identity.create_user(SYSTEM, CreateUser(email="bob@example.org", display_name="Bob"))
        for user in (ada, bob):
            await platform.enrollments.enroll(SYSTEM, course.id, user.id)
        outline = await platform.courses.get_outline(SYSTEM, course.id)
        learner = Principal(subject=f"user:{bob.id}", roles=frozenset({"learner"}), user_id=bob.id)
        await platform.progress.view(learner, course.id, outline.sections[0].lessons[0].id)
        assert platform.events is not None
        await platform.events.drain()
        async with platform.database.write() as conn:
            await conn.execute(
                update(enrollments)
                .where(enrollments.c.user_id == ada.id)
                .values(enrolled_at=datetime.now(UTC) - timedelta(days=20))
            )
            await conn.commit()
        return str(course.id), str(ada.id), str(bob.id)

    return on_platform(go)


def test_the_list_as_a_table_json_and_csv() -> None:
    course_id, ada, _bob = a_class()
    table = ok("analytics", "at-risk", "risky")
    assert "ada@example.org" in table.stdout
    assert "inactive, behind_pace" in table.stdout
    assert "0 of 2 due (4 required)" in table.stdout
    assert "bob@example.org" not in table.stdout  # active today, nothing due yet
    assert "1 learner at risk (inactive after 14 days, pace over 30 days)" in table.stdout
    assert "inactive: 1, failing: 0, behind_pace: 1" in table.stderr

    (row,) = json.loads(ok("analytics", "at-risk", course_id, "--format", "json").stdout)
    assert (row["user_id"], row["reasons"], row["inactive_days"]) == (ada, ["inactive", "behind_pace"], 20)
    assert (row["required_completed"], row["expected_lessons"], row["required_lessons"]) == (0, 2, 4)
    assert (row["last_activity_at"], row["pace_start"], row["lost_items"]) == (None, "enrollment", [])

    rows = list(csv.DictReader(io.StringIO(ok("analytics", "at-risk", "risky", "-o", "csv").stdout)))
    assert [(r["email"], r["reasons"], r["inactive_days"]) for r in rows] == [
        ("ada@example.org", "inactive; behind_pace", "20")
    ]


def test_thresholds_and_the_reason_filter() -> None:
    a_class()
    lenient = ok("analytics", "at-risk", "risky", "--inactive-days", "21", "--expected-days", "200", "-o", "json")
    assert json.loads(lenient.stdout) == []
    only_inactive = ok("analytics", "at-risk", "risky", "--reason", "inactive", "-o", "json")
    assert [r["email"] for r in json.loads(only_inactive.stdout)] == ["ada@example.org"]
    assert json.loads(ok("analytics", "at-risk", "risky", "--reason", "failing", "-o", "json").stdout) == []
    empty = ok("analytics", "at-risk", "risky", "--reason", "failing")
    assert "no learner at risk" in empty.stderr


def test_bad_input_is_one_line_and_a_non_zero_exit() -> None:
    a_class()
    for args, code, message in (
        (("analytics", "at-risk", "nope"), 1, "course"),
        (("analytics", "at-risk", str(uuid.uuid4())), 1, "course"),
        (("analytics", "at-risk", "risky", "--inactive-days", "0"), 2, "--inactive-days"),
        (("analytics", "at-risk", "risky", "--expected-days", "4000"), 2, "--expected-days"),
        (("analytics", "at-risk", "risky", "--reason", "lazy"), 2, "unknown reason"),
        (("analytics", "at-risk", "risky", "--format", "xml"), 2, "unknown output format"),
    ):
        result = invoke(*args)
        assert result.exit_code == code, (args, result.output)
        lines = error_lines(result)
        assert len(lines) == 1, lines
        assert message in lines[0], lines[0]
