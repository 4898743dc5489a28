"""``elearning notifications send-digests|retry-failed|log`` against a real SMTP server process."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from elearning_adapters.container import Platform
from elearning_adapters.sql.notification import record_notices
from elearning_core.identity.commands import CreateUser
from elearning_core.notification.model import Notice, NotificationType
from elearning_core.shared.ports import SYSTEM
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

pytest_plugins = ["tests.smtp_server"]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str, smtp_server: SmtpServer) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    monkeypatch.setenv("ELEARNING_MAIL_BACKEND", "smtp")
    monkeypatch.setenv("ELEARNING_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("ELEARNING_SMTP_PORT", str(smtp_server.port))
    ok("db", "upgrade")


async def _a_notice(platform: Platform) -> uuid.UUID:
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="cli@example.org", display_name="Cli"))
    notice = Notice(NotificationType.CERTIFICATE_ISSUED, user.id, uuid.uuid4(), {"course": "Logic"})
    async with platform.database.write() as conn:
        await record_notices(
            conn, [notice], at=datetime.now(UTC), render=lambda k, d, loc: ("t", "b"), mail_domain="example.org"
        )
        await conn.commit()
    return user.id


@pytest.mark.usefixtures("cli")
def test_retry_failed_sends_what_is_due_and_the_log_shows_it(smtp_server: SmtpServer) -> None:
    user_id = on_platform(_a_notice)
    assert json.loads(ok("notifications", "log", "-o", "json").stdout)[0]["status"] == "pending"

    result = ok("notifications", "retry-failed")
    assert "requeued 0 failed mail(s); sent 1, 0 failed again" in result.output
    (mail,) = smtp_server.wait_for(1, where=lambda m: "cli@example.org" in m.rcpt_tos)

    (row,) = json.loads(ok("notifications", "log", "-o", "json").stdout)
    assert (row["status"], row["user_id"], row["attempts"]) == ("sent", str(user_id), 1)
    assert row["message_id"] == mail.message["Message-ID"]
    assert ok("notifications", "log", "--status", "failed", "-o", "json").stdout.strip() == "[]"
    assert "sent 0 digest(s)" in ok("notifications", "send-digests").output


@pytest.mark.usefixtures("cli")
def test_a_wrong_status_is_one_line() -> None:
    result = invoke("notifications", "log", "--status", "lost")
    assert result.exit_code == 1
    assert error_lines(result) == ["error: unknown status 'lost': one of pending, digest, sent, failed, suppressed"]
