"""``elearning entitlements grant|revoke|show``: an admin grants, shows and revokes a user's access to a
course, by email and slug; unknown users and courses are one clear line and exit 1."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec


@pytest.fixture(autouse=True)
def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


def a_course_and_a_user() -> tuple[str, str]:
    async def go(platform: Platform) -> tuple[str, str]:
        slug = f"cli-{uuid.uuid4().hex[:6]}"
        await platform.courses.import_courses(SYSTEM, [course_spec(slug)])
        await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
        return slug, "ada@example.org"

    return on_platform(go)


def fails(*args: str, message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert message in lines[0], lines[0]


def test_grant_show_and_revoke() -> None:
    slug, email = a_course_and_a_user()
    assert "granted purchased access" in ok("entitlements", "grant", email, slug, "--reference", "ticket 7").output
    shown = json.loads(ok("entitlements", "show", email, slug, "--output", "json").output)
    assert [(g["source"], g["status"], g["reference"]) for g in shown] == [("purchased", "active", "ticket 7")]
    assert "1 grant(s) now refunded" in ok("entitlements", "revoke", email, slug, "--as", "refunded").output
    shown = json.loads(ok("entitlements", "show", email, slug, "--output", "json").output)
    assert [g["status"] for g in shown] == ["refunded"]
    fails("entitlements", "revoke", email, slug, message="no active grant")


def test_unknown_users_courses_and_bad_options_are_one_line() -> None:
    slug, email = a_course_and_a_user()
    fails("entitlements", "grant", "nobody@example.org", slug, message="nobody@example.org")
    fails("entitlements", "grant", email, "no-such-course", message="no-such-course")
    fails("entitlements", "grant", email, slug, "--source", "free", message="source")
    fails("entitlements", "revoke", email, slug, "--as", "active", message="--as")
