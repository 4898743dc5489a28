"""``elearning progress`` as an admin uses it: rebuild from the facts, show a learner, reset one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM, Principal
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


def a_learner_who_viewed_a_lesson() -> tuple[str, str]:
    """A two-lesson course, and a learner enrolled who viewed the first lesson (no projection ran yet)."""

    async def go(platform: Platform) -> tuple[str, str]:
        (course,) = await platform.courses.import_courses(SYSTEM, [course_spec("tracked", lessons=2)])
        user = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
        await platform.enrollments.enroll(SYSTEM, course.id, user.id)
        outline = await platform.courses.get_outline(SYSTEM, course.id)
        learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
        await platform.progress.view(learner, course.id, outline.sections[0].lessons[0].id)
        return str(course.id), str(user.id)

    return on_platform(go)


def states(user: str, course: str) -> list[str]:
    return [row["state"] for row in json.loads(ok("progress", "show", user, course, "-o", "json").stdout)]


def test_rebuild_derives_the_state_from_the_facts_and_reset_clears_it() -> None:
    course_id, _ = a_learner_who_viewed_a_lesson()
    rebuilt = ok("progress", "rebuild")
    assert "rebuilt the progress of 1 learner in 1 course" in rebuilt.stderr
    assert states("ada@example.org", "tracked") == ["completed", "not_started"]
    assert "50.0%" in ok("progress", "show", "ada@example.org", course_id).stdout
    again = ok("progress", "rebuild", "--course", "tracked", "--from-scratch")
    assert "1 learner in 1 course" in again.stderr
    assert states("ada@example.org", "tracked") == ["completed", "not_started"]
    assert (
        "reset the progress of ada@example.org"
        in ok("progress", "reset", "ada@example.org", "tracked", "--reason", "x").stderr
    )
    assert states("ada@example.org", "tracked") == ["not_started", "not_started"]


def test_bad_names_are_one_line_errors() -> None:
    a_learner_who_viewed_a_lesson()
    for args, message in (
        (("progress", "show", "ada@example.org", "nope"), "course"),
        (("progress", "show", "nobody@example.org", "tracked"), "user"),
        (("progress", "rebuild", "--course", str(uuid.uuid4())), "course"),
    ):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        lines = error_lines(result)
        assert len(lines) == 1, lines
        assert message in lines[0], lines[0]
    assert invoke("progress", "reset", "ada@example.org", "tracked").exit_code == 2  # --reason is required
