"""``elearning users set-email`` as an admin uses it: the account moves at once, verified, and the old
address is told (the console mailer prints the notice); refusals are one line, exit code 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_helpers import isolate_cli_env, ok
from tests.e2e.test_cli_identity import create, fails, login, stored_user


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


PASSWORD = "correct horse battery staple"


def test_set_email_moves_the_account_verified_and_tells_the_old_address() -> None:
    user_id = create("ada@example.org", "--password-stdin", input=f"{PASSWORD}\n")
    moved = ok("users", "set-email", "ada@example.org", "Ada@New.Example.org")
    assert f"Changed the email of {user_id} from ada@example.org to Ada@new.example.org" in moved.stderr
    assert "an administrator changed the email address of your account to Ada@new.example.org" in moved.stderr
    account = stored_user("ada@new.example.org")
    assert (str(account.id), account.email, account.email_verified) == (user_id, "Ada@new.example.org", True)
    assert login("ada@new.example.org", PASSWORD).user_id == account.id
    # By id as well; the same address again changes nothing.
    assert "nothing changed" in ok("users", "set-email", user_id, "Ada@new.example.org").stderr


def test_set_email_refusals_are_one_line() -> None:
    create("ada@example.org")
    create("grace@example.org")
    fails("users", "set-email", "ada@example.org", "GRACE@example.org", message="another account uses this email")
    fails("users", "set-email", "ada@example.org", "not an address", message="must be an email address")
    fails("users", "set-email", "nobody@example.org", "x@example.org", message="was not found")
    assert stored_user("ada@example.org").email == "ada@example.org"
