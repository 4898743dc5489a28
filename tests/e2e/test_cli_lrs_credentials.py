"""``elearning analytics lrs-credentials create|list|revoke`` as an admin uses them: the secret printed once
and accepted by the LRS, listings without secrets, revocation that refuses the key, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.analytics.lrs_credentials import LrsCredential
from elearning_core.shared.errors import Unauthenticated
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


def authenticate(key: str, secret: str) -> LrsCredential | str:
    async def use(platform: Platform) -> LrsCredential | str:
        try:
            return await platform.lrs_credentials.authenticate(key, secret)
        except Unauthenticated as exc:
            return exc.detail

    return on_platform(use)


@pytest.mark.usefixtures("cli")
def test_create_list_and_revoke_a_credential() -> None:
    org_id = ok("orgs", "create", "acme", "--name", "Acme").stdout.strip()
    created = json.loads(
        ok(
            "analytics",
            "lrs-credentials",
            "create",
            "acme",
            "--scope",
            "statements/write",
            "--scope",
            "statements/read",
            "--label",
            "quiz tool",
            "-o",
            "json",
        ).stdout
    )
    assert created["key"].startswith("lrs-")
    assert created["organization_id"] == org_id
    assert sorted(created["scopes"]) == ["statements/read", "statements/write"]
    credential = authenticate(created["key"], created["secret"])
    assert isinstance(credential, LrsCredential)
    assert credential.can_read
    assert credential.can_write
    assert isinstance(authenticate(created["key"], created["secret"] + "x"), str)

    listed = json.loads(ok("analytics", "lrs-credentials", "list", "--org", org_id, "-o", "json").stdout)
    assert [row["key"] for row in listed] == [created["key"]]
    assert listed[0]["state"] == "active"
    assert listed[0]["label"] == "quiz tool"
    assert created["secret"] not in ok("analytics", "lrs-credentials", "list").output
    table = ok("analytics", "lrs-credentials", "list").output
    assert created["key"] in table
    assert "quiz tool" in table

    assert "Revoked" in ok("analytics", "lrs-credentials", "revoke", created["key"]).output
    assert isinstance(authenticate(created["key"], created["secret"]), str)
    listed = json.loads(ok("analytics", "lrs-credentials", "list", "-o", "json").stdout)
    assert listed[0]["state"] == "revoked"
    assert listed[0]["revoked_at"]


@pytest.mark.usefixtures("cli")
def test_bad_input_gives_one_line_errors() -> None:
    ok("orgs", "create", "acme", "--name", "Acme")
    for args, says in (
        (("create", "acme", "--scope", "statements/delete"), "unknown LRS scope"),
        (("create", "nowhere", "--scope", "all"), "organization nowhere was not found"),
        (("revoke", "lrs-nothing"), "LRS credential lrs-nothing was not found"),
        (("list", "--org", "nowhere"), "organization nowhere was not found"),
    ):
        result = invoke("analytics", "lrs-credentials", *args)
        assert result.exit_code != 0, args
        lines = error_lines(result)
        assert lines[0].startswith("error: "), lines
        assert says in lines[0], lines  # a validation error names its field on a second line
    missing_scope = invoke("analytics", "lrs-credentials", "create", "acme")
    assert missing_scope.exit_code != 0
    assert "--scope" in missing_scope.output
