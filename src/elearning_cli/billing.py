"""``elearning invoices export`` (the invoices issued in a period, as a table, JSON or CSV) and
``elearning billing revenue|balances`` (the ledger's figures). Amounts print as exact decimals of
the currency's major unit; every figure comes from the invoices or the ledger, never recomputed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from elearning_cli._common import CliError, handle_errors, load_settings, open_platform, run
from elearning_cli._output import Field, parse_output, render
from elearning_core.billing.ledger import Balance, RevenueRow
from elearning_core.billing.model import Invoice
from elearning_core.billing.money import Money
from elearning_core.shared.ports import SYSTEM

invoices_app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS
billing_app = typer.Typer(no_args_is_help=True)

OutputOption = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        "--format",
        metavar="table|json|csv",
        callback=parse_output,
        help="table (for people), json (an array of objects) or csv (a header row, then a row per item).",
    ),
]
TimeOption = Annotated[
    datetime,
    typer.Option(
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
        help="YYYY-MM-DD or an ISO 8601 time (UTC when no offset).",
    ),
]

INVOICE_FIELDS: list[Field[Invoice]] = [
    Field("number", lambda i: i.number, "Number", whole=True),
    Field("issued_at", lambda i: i.issued_at, "Issued at"),
    Field("customer_id", lambda i: i.customer_id, "Customer", whole=True),
    Field("order_ref", lambda i: i.order_ref, "Order"),
    Field("name", lambda i: i.profile.name, "Billed to"),
    Field("country", lambda i: i.profile.country, "Country"),
    Field("tax_id", lambda i: i.profile.tax_id),
    Field("tax_treatment", lambda i: i.tax.treatment.value, "Tax"),
    Field("currency", lambda i: i.currency, "Cur."),
    Field("net", lambda i: i.net.decimal(), "Net", justify="right"),
    Field("tax", lambda i: i.tax_total.decimal(), "VAT", justify="right"),
    Field("gross", lambda i: i.gross.decimal(), "Total", justify="right"),
]

REVENUE_FIELDS: list[Field[RevenueRow]] = [
    Field("reference", lambda r: r.reference or "(none)", "Reference", whole=True),
    Field("currency", lambda r: r.currency, "Cur."),
    Field("revenue", lambda r: Money(r.revenue, r.currency).decimal(), "Revenue", justify="right"),
    Field("refunds", lambda r: Money(r.refunds, r.currency).decimal(), "Refunds", justify="right"),
    Field("net", lambda r: Money(r.net, r.currency).decimal(), "Net", justify="right"),
]

BALANCE_FIELDS: list[Field[Balance]] = [
    Field("account", lambda b: b.account.value, "Account", whole=True),
    Field("currency", lambda b: b.currency, "Cur."),
    Field("balance", lambda b: Money(b.amount, b.currency).decimal(), "Debit - credit", justify="right"),
]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


async def _export(since: datetime, until: datetime) -> list[Invoice]:
    async with open_platform(load_settings()) as platform:
        return await platform.billing.export(SYSTEM, since, until)


@invoices_app.command("export")
@handle_errors
def export(since: TimeOption, until: TimeOption, output: OutputOption = "table") -> None:
    """The invoices issued from --since (included) to --until (excluded), in number order."""
    start, end = _utc(since), _utc(until)
    if start >= end:
        raise CliError("--since must be before --until")
    items = run(_export(start, end))
    render(items, INVOICE_FIELDS, output, title=f"{len(items)} invoice(s)", empty="no invoices in this period")


async def _revenue(month: str) -> list[RevenueRow]:
    async with open_platform(load_settings()) as platform:
        return await platform.billing.revenue(SYSTEM, month)


@billing_app.command("revenue")
@handle_errors
def revenue(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (UTC).")], output: OutputOption = "table"
) -> None:
    """Revenue per course (or other reference) and currency booked in a month: invoiced net of tax,
    what credit notes took back, and the difference."""
    rows = run(_revenue(month))
    render(rows, REVENUE_FIELDS, output, title=f"revenue {month}", empty=f"no revenue booked in {month}")


async def _balances() -> list[Balance]:
    async with open_platform(load_settings()) as platform:
        return await platform.billing.balances(SYSTEM)


@billing_app.command("balances")
@handle_errors
def balances(output: OutputOption = "table") -> None:
    """Every ledger account's balance per currency (debits minus credits: revenue and tax payable are
    negative); the balances of one currency always sum to zero."""
    rows = run(_balances())
    render(rows, BALANCE_FIELDS, output, title="ledger balances", empty="the ledger is empty")
