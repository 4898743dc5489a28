"""``elearning subscriptions list|cancel``: the listing in every format with its filters, a cancel at the
period's end or now, and one-line errors for a bad id or an ended subscription."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.container import bootstrap
from elearning_adapters.payments.fake import card_token
from elearning_adapters.settings import Settings
from elearning_core.auth.service import user_principal
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM
from elearning_core.subscription.commands import PlanSpec, SavePaymentMethod, Subscribe
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok


@pytest.fixture(autouse=True)
def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


def seed(sqlite_url: str, tmp_path: Path) -> tuple[str, str]:
    """A user (by email) with one subscription, made through the platform: (email, subscription id)."""

    async def _seed() -> tuple[str, str]:
        platform = await bootstrap(Settings(database_url=sqlite_url, data_dir=tmp_path), run_migrations=False)
        try:
            spec = {
                "code": "pro",
                "name": "Pro",
                "interval": "month",
                "prices": [{"currency": "EUR", "amount": 1900}],
                "tax_inclusive": True,
                "includes": {"all_courses": True},
                "status": "active",
            }
            await platform.plans.import_plans(SYSTEM, [PlanSpec.model_validate(spec)])
            email = f"ada-{uuid.uuid4().hex[:6]}@example.org"
            user = await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name="Ada"))
            me = user_principal(user.id, (), None, email_verified=True)
            await platform.subscriptions.save_payment_method(
                me, SavePaymentMethod(token=card_token("4242424242424242"))
            )
            cmd = Subscribe(plan_code="pro", currency="EUR", billing_name="Ada", billing_country="FR")
            sub = await platform.subscriptions.subscribe(me, cmd)
            return email, str(sub.id)
        finally:
            await platform.aclose()

    return asyncio.run(_seed())


def listed(*args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok("subscriptions", "list", "-o", "json", *args).stdout)
    return rows


def test_list_filters_and_cancel_at_period_end_then_now(sqlite_url: str, tmp_path: Path) -> None:
    email, sub_id = seed(sqlite_url, tmp_path)
    (row,) = listed()
    assert (row["id"], row["status"], row["amount"], row["currency"]) == (sub_id, "active", 1900, "EUR")
    assert [r["id"] for r in listed("--user", email)] == [sub_id]
    assert listed("--status", "canceled") == []
    assert "1 subscription(s)" in ok("subscriptions", "list").stdout
    later = ok("subscriptions", "cancel", sub_id)
    assert f"subscription {sub_id} cancels at" in later.stderr
    assert listed()[0]["cancel_at_period_end"] is True
    now = ok("subscriptions", "cancel", sub_id, "--now")
    assert f"subscription {sub_id} is canceled" in now.stderr
    assert [r["id"] for r in listed("--status", "canceled")] == [sub_id]
    again = invoke("subscriptions", "cancel", sub_id)
    assert again.exit_code == 1
    (line,) = error_lines(again)
    assert "canceled: cannot cancel" in line


def test_bad_input_is_one_line_and_a_non_zero_exit() -> None:
    for args, message in [
        (("subscriptions", "cancel", "nope"), "subscription id 'nope' is not a UUID"),
        (("subscriptions", "cancel", str(uuid.uuid4())), "was not found"),
        (("subscriptions", "list", "--status", "lapsed"), "lapsed"),
    ]:
        result = invoke(*args)
        assert result.exit_code != 0, result.output
        assert message in " ".join(error_lines(result)), error_lines(result)
