"""``elearning invoices export`` and ``elearning billing revenue|balances|reconcile`` as an admin uses them."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from elearning_adapters.container import Platform
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput, RecordPayment, Refund
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


def book_a_payment_the_gateway_never_saw() -> Invoice:
    """The CLI's fake gateway lives in its own process and has no records: a booked payment is
    missing at the gateway."""
    invoice = two_invoices()[1]
    payment = RecordPayment(invoice_id=invoice.id, amount=5000, payment_ref="pay_ghost")
    on_platform(lambda platform: platform.billing.record_payment(SYSTEM, payment))
    return invoice


def test_reconcile_exits_0_when_the_books_and_the_gateway_agree() -> None:
    result = ok("billing", "reconcile", "--since", "2000-01-01", "-o", "json")
    assert json.loads(result.stdout) == []
    assert "no differences: 0 payments and 0 refunds at the gateway, 0 postings in the ledger" in result.stderr
    table = ok("billing", "reconcile", "--since", "2000-01-01T00:00:00+02:00", "--until", "2100-01-01")
    assert "no differences" in table.stderr


def test_reconcile_lists_the_differences_and_exits_1() -> None:
    invoice = book_a_payment_the_gateway_never_saw()
    result = invoke("billing", "reconcile", "--since", "2000-01-01", "-o", "json")
    assert result.exit_code == 1, result.output
    [difference] = json.loads(result.stdout)
    assert difference["kind"] == "missing-at-gateway"
    assert difference["reference"] == "pay_ghost"
    assert (difference["ledger_amount"], difference["ledger_currency"]) == (5000, "EUR")
    assert difference["gateway_amount"] is None
    assert difference["invoice_id"] == str(invoice.id)
    assert "1 difference" in result.stderr
    table = invoke("billing", "reconcile", "--since", "2000-01-01")
    assert table.exit_code == 1
    for cell in ("missing-at-gateway", "pay_ghost", "50.00 EUR"):
        assert cell in table.stdout
    rows = list(
        csv.DictReader(io.StringIO(invoke("billing", "reconcile", "--since", "2000-01-01", "-o", "csv").stdout))
    )
    assert [(r["kind"], r["ledger_amount"]) for r in rows] == [("missing-at-gateway", "5000")]
    before = invoke("billing", "reconcile", "--since", "2000-01-01", "--until", "2001-01-01", "-o", "json")
    assert (before.exit_code, json.loads(before.stdout)) == (0, [])


def test_reconcile_refuses_bad_input_in_one_line_with_exit_2() -> None:
    for args, message in (
        (("--since", "yesterday"), "'yesterday' is not an ISO 8601 date or time"),
        (("--since", "2026-02-01", "--until", "2026-01-31T23:59:59"), "--until must be after --since"),
        (("--since", "2026-02-01", "-o", "xml"), "unknown output format"),
        (("--since", "2999-01-01"), "--since must be in the past"),
    ):
        result = invoke("billing", "reconcile", *args)
        assert result.exit_code == 2, result.output
        lines = error_lines(result)
        assert len(lines) == 1, lines
        assert message in lines[0]
    assert "exit status" in ok("billing", "reconcile", "--help").stdout.lower()
