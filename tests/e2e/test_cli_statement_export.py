"""``elearning analytics export-statements USER --output FILE``: every statement of the learner (across more
than one page) written as a JSON array, none of anyone else's, an empty array for a learner with none, and
one-line errors with a non-zero exit (and no file left behind) on bad input."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from elearning_adapters.container import Platform
from elearning_adapters.sql.analytics import xapi_statements
from elearning_core.analytics.export import EXPORT_PAGE
from elearning_core.analytics.model import Statement
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform

BASE = "https://learn.example.org"


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    monkeypatch.setenv("ELEARNING_PUBLIC_BASE_URL", BASE)
    ok("db", "upgrade")
    return sqlite_url


def learners(statements: dict[str, int]) -> dict[str, tuple[str, list[str]]]:
    """Accounts by email, each with that many statements of theirs; their ids and stored statement ids."""

    async def go(platform: Platform) -> dict[str, tuple[str, list[str]]]:
        made: dict[str, tuple[str, list[str]]] = {}
        for email, count in statements.items():
            user = await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name=email[:3]))
            batch = [
                Statement.from_json(
                    {
                        "id": str(uuid.uuid4()),
                        "actor": {"account": {"homePage": BASE, "name": str(user.id)}},
                        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
                        "object": {"id": f"{BASE}/xapi/activities/lesson/{n}"},
                        "timestamp": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
                    }
                )
                for n in range(count)
            ]
            if batch:
                await platform.container.analytics.store().append(batch)
            s = xapi_statements
            async with platform.database.read() as conn:
                found = await conn.execute(
                    select(s.c.id).where(s.c.actor == f"account:{BASE}|{user.id}").order_by(s.c.seq)
                )
                made[email] = (str(user.id), [str(i) for i in found.scalars()])
        return made

    return on_platform(go)


def test_a_learners_statements_are_written_to_a_file(tmp_path: Path) -> None:
    made = learners({"ada@example.org": EXPORT_PAGE + 3, "bob@example.org": 2, "cy@example.org": 0})
    target = tmp_path / "ada.ndjson"
    result = ok("analytics", "export-statements", "ada@example.org", "--output", str(target))
    ada_id, ada_ids = made["ada@example.org"]
    assert len(ada_ids) == EXPORT_PAGE + 3
    written = [json.loads(line) for line in target.read_text().splitlines()]
    assert [s["id"] for s in written] == ada_ids
    assert {s["actor"]["account"]["name"] for s in written} == {ada_id}
    assert f"Wrote {EXPORT_PAGE + 3} statements of ada@example.org to {target}" in result.stderr
    assert not (tmp_path / "ada.ndjson.partial").exists()

    bob_id, bob_ids = made["bob@example.org"]
    ok("analytics", "export-statements", bob_id, "-o", str(tmp_path / "bob.ndjson"))
    assert [json.loads(line)["id"] for line in (tmp_path / "bob.ndjson").read_text().splitlines()] == bob_ids

    ok("analytics", "export-statements", "cy@example.org", "-o", str(tmp_path / "cy.ndjson"))
    assert (tmp_path / "cy.ndjson").read_text() == ""


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("ghost@example.org", "user ghost@example.org was not found"),
        ("01900000-0000-7000-8000-00000000dead", "user 01900000-0000-7000-8000-00000000dead was not found"),
        ("nobody", "'nobody' is neither a user id (UUID) nor an email address"),
    ],
)
def test_bad_users_are_one_line_errors(tmp_path: Path, user: str, message: str) -> None:
    target = tmp_path / "out.json"
    result = invoke("analytics", "export-statements", user, "--output", str(target))
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert not target.exists()


def test_an_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    learners({"ada@example.org": 1})
    target = tmp_path / "missing-dir" / "ada.ndjson"
    result = invoke("analytics", "export-statements", "ada@example.org", "--output", str(target))
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert "No such file or directory" in lines[0]


def test_the_output_is_required() -> None:
    result = invoke("analytics", "export-statements", "ada@example.org")
    assert result.exit_code == 2
    assert "--output" in result.output
