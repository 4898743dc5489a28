"""``elearning coupons create|list`` and ``elearning orders list|show`` as an admin uses them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok


@pytest.fixture(autouse=True)
def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


def test_a_coupon_created_is_listed_and_bad_ones_are_one_line() -> None:
    ok("coupons", "create", "SPRING", "--percent-off", "20", "--max-redemptions", "10")
    ok("coupons", "create", "FIVE", "--amount-off", "EUR:500", "--amount-off", "usd:600")
    listed = json.loads(ok("coupons", "list", "-o", "json").stdout)
    assert [c["code"] for c in listed] == ["FIVE", "SPRING"]
    assert listed[0]["amounts_off"] == [{"currency": "EUR", "amount": 500}, {"currency": "USD", "amount": 600}]
    assert (listed[1]["percent_off"], listed[1]["max_redemptions"], listed[1]["redeemed"]) == (20, 10, 0)
    assert "SPRING" in ok("coupons", "list").stdout
    taken = invoke("coupons", "create", "SPRING", "--percent-off", "5")
    assert taken.exit_code == 1
    assert error_lines(taken) == ["error: coupon SPRING exists already"]
    both = invoke("coupons", "create", "BOTH", "--percent-off", "5", "--amount-off", "EUR:1")
    assert both.exit_code == 1
    assert error_lines(both)[0] == "error: a coupon takes either percent_off or amounts_off"
    assert invoke("coupons", "create", "bad code", "--percent-off", "5").exit_code != 0
    assert invoke("coupons", "create", "X2", "--amount-off", "EUR").exit_code != 0


def test_orders_list_and_show() -> None:
    assert json.loads(ok("orders", "list", "-o", "json").stdout) == []
    assert "no orders" in ok("orders", "list").output
    missing = invoke("orders", "show", str(uuid.uuid4()))
    assert missing.exit_code == 1
    assert error_lines(missing)[0].startswith("error: order ")
    assert invoke("orders", "show", "nope").exit_code != 0
