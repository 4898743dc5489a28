"""``elearning certificates``: list, revoke, issue-due, and verify a certificate file against what a
running server publishes (its JWKS and status list, over HTTP on loopback)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from elearning_adapters.container import Platform
from elearning_adapters.sql.outbox import append_to_outbox
from elearning_core.certificate.commands import AwardSettings
from elearning_core.certificate.model import SubjectKind
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM
from tests.certificate_fakes import course_completed
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec
from tests.served import ADMIN, Served, serve_env, serving, wait_for


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> Iterator[Served]:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    env = serve_env(tmp_path / "data", database_url=sqlite_url, events_poll_seconds="0.1")
    with serving(env, tmp_path / "server.log") as served:
        yield served


def fails(*args: str, message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert message in lines[0], lines[0]


def a_completed_course() -> tuple[str, str]:
    """A course awarding certificates, and a learner's completion of it in the outbox (the server delivers it)."""

    async def go(platform: Platform) -> tuple[str, str]:
        (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(f"cli-{uuid.uuid4().hex[:6]}")])
        await platform.certificates.set_award(SYSTEM, SubjectKind.COURSE, course.id, AwardSettings(enabled=True))
        user = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
        event = course_completed(course.id, user.id)
        async with platform.database.write() as conn:
            await append_to_outbox(conn, [event])
            await conn.commit()
        return str(course.id), str(user.id)

    return on_platform(go)


def test_verify_list_and_revoke_a_certificate(server: Served, tmp_path: Path) -> None:
    course_id, user_id = a_completed_course()

    def issued() -> list[dict[str, str]]:
        response = httpx.get(f"{server.base}/api/v1/courses/{course_id}/certificates", headers=ADMIN, timeout=5)
        return list(response.json()["items"]) if response.status_code == 200 else []

    (certificate,) = wait_for(issued, "the certificate to be issued", seconds=30)
    token = httpx.get(f"{server.base}/api/v1/credentials/{certificate['id']}", timeout=5).json()["jwt"]
    file = tmp_path / "certificate.jwt"
    file.write_text(token)

    valid = ok("certificates", "verify", str(file), "--url", server.base)
    assert "valid: " in valid.stderr + valid.stdout
    listed = ok("certificates", "list", "--course", course_id, "--output", "json")
    assert certificate["id"] in listed.stdout
    assert user_id in listed.stdout

    tampered = tmp_path / "tampered.jwt"
    header, payload, signature = token.split(".")
    tampered.write_text(f"{header}.{payload[:-4]}AAAA.{signature}")
    fails("certificates", "verify", str(tampered), "--url", server.base, message="invalid certificate")

    ok("certificates", "revoke", certificate["id"], "--reason", "issued in error")
    fails("certificates", "verify", str(file), "--url", server.base, message="invalid certificate: revoked")


def test_refusals_are_one_line(server: Served, tmp_path: Path) -> None:
    fails("certificates", "verify", str(tmp_path / "missing.jwt"), "--url", server.base, message="cannot read")
    junk = tmp_path / "junk.jwt"
    junk.write_text("not a jwt")
    # A fresh platform has signed nothing yet: no key to check anything with.
    fails("certificates", "verify", str(junk), "--url", server.base, message="publishes no credential key")
    fails("certificates", "list", message="name one of --course or --path")
    fails("certificates", "revoke", str(uuid.uuid4()), "--reason", "x", message="was not found")
    fails("certificates", "revoke", "nope", "--reason", "x", message="certificate id")
    assert "issued 0 certificate(s)" in ok("certificates", "issue-due").stderr


def test_award_shows_and_changes_what_is_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str
) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")

    async def go(platform: Platform) -> str:
        (course,) = await platform.courses.import_courses(SYSTEM, [course_spec("awarded")])
        return str(course.id)

    course_id = on_platform(go)
    shown = json.loads(ok("certificates", "award", "--course", "awarded", "--output", "json").stdout)
    assert shown == [
        {
            "subject_kind": "course",
            "subject_id": course_id,
            "enabled": False,
            "available_from": None,
            "valid_days": None,
            "template": "default",
        }
    ]
    template = tmp_path / "page.html"
    template.write_text("<p>$learner_name completed $title</p>")
    ok("certificates", "award", "--course", course_id, "--enable", "--valid-days", "365", "--template", str(template))
    ok("certificates", "award", "--course", course_id, "--available-from", "2030-01-01T00:00:00")
    (changed,) = json.loads(ok("certificates", "award", "--course", course_id, "--output", "json").stdout)
    assert (changed["enabled"], changed["valid_days"], changed["template"]) == (True, 365, "custom")
    assert changed["available_from"].startswith("2030-01-01T00:00:00")

    template.write_text("<p>$nobody</p>")
    fails(
        "certificates",
        "award",
        "--course",
        course_id,
        "--template",
        str(template),
        message="unknown placeholder $nobody",
    )
    fails("certificates", "award", "--course", course_id, "--valid-days", "-3", message="invalid award")
    fails("certificates", "award", "--course", "no-such-course", message="was not found")
