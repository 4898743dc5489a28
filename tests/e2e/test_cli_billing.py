"""``elearning invoices export`` and ``elearning billing revenue|balances`` as an admin uses them."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput, Refund
from elearning_core.billing.model import EvidenceKind, Invoice
from elearning_core.shared.ports import SYSTEM
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform


@pytest.fixture(autouse=True)
def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")


def two_invoices() -> list[Invoice]:
    async def go(platform: Platform) -> list[Invoice]:
        issued = []
        for n, country in enumerate(("FR", "US")):
            issued.append(
                await platform.billing.issue_invoice(
                    SYSTEM,
                    IssueInvoice(
                        customer_id=uuid.uuid4(),
                        order_ref=f"order-{n}",
                        currency="EUR",
                        profile=ProfileInput(
                            name=f"=Buyer {n}",
                            country=country,
                            evidence=[EvidenceInput(kind=EvidenceKind.BILLING_ADDRESS, country=country)],
                        ),
                        lines=[LineInput(description="Course", unit_price=12_000, reference="course:intro")],
                    ),
                )
            )
        await platform.billing.refund(SYSTEM, Refund(invoice_id=issued[0].id, amount=6000, reason="half"))
        return issued

    return on_platform(go)


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def test_invoices_export_as_csv_and_table() -> None:
    issued = two_invoices()
    result = ok("invoices", "export", "--since", "2000-01-01", "--until", "2100-01-01", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["number"] for r in rows] == [i.number for i in issued]
    assert [(r["net"], r["tax"], r["gross"]) for r in rows] == [
        ("100.00", "20.00", "120.00"),
        ("120.00", "0.00", "120.00"),
    ]
    assert rows[0]["name"] == "'=Buyer 0"  # no formula reaches a spreadsheet
    table = ok("invoices", "export", "--since", "2000-01-01", "--until", "2100-01-01")
    assert issued[1].number in table.stdout
    empty = ok("invoices", "export", "--since", "2000-01-01", "--until", "2000-02-01", "-o", "json")
    assert json.loads(empty.stdout) == []


def test_revenue_of_a_month_and_the_balances() -> None:
    two_invoices()
    result = ok("billing", "revenue", "--month", this_month(), "-o", "json")
    assert json.loads(result.stdout) == [
        {"reference": "course:intro", "currency": "EUR", "revenue": "220.00", "refunds": "50.00", "net": "170.00"}
    ]
    balances = json.loads(ok("billing", "balances", "-o", "json").stdout)
    by_account = {b["account"]: b["balance"] for b in balances}
    assert by_account["receivables"] == "180.00"
    assert by_account["tax_payable"] == "-10.00"


def test_bad_input_is_one_line_and_a_non_zero_exit() -> None:
    for args, message in (
        (("billing", "revenue", "--month", "2026-13"), "month must look like YYYY-MM"),
        (("invoices", "export", "--since", "2026-02-01", "--until", "2026-01-01"), "--since must be before --until"),
    ):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        lines = error_lines(result)
        assert len(lines) == 1, lines
        assert message in lines[0]
