"""``elearning invoices export`` (the invoices issued in a period, as a table, JSON or CSV),
``elearning billing revenue|balances`` (the ledger's figures) and ``elearning billing reconcile``
(the ledger against the payment gateway's records). Amounts print as exact decimals of the
currency's major unit (reconciliation's JSON and CSV: integers of minor units); every figure comes
from the invoices, the ledger or the gateway, never recomputed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, cast

import typer

from elearning_cli._common import (
    CliError,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    progress,
    report_error,
    run,
)
from elearning_cli._output import Field, parse_output, render
from elearning_core.billing.ledger import Balance, RevenueRow
from elearning_core.billing.model import Invoice
from elearning_core.billing.money import MINOR_UNITS, Money
from elearning_core.billing.reconcile import Difference, Reconciliation
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


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 date or time (UTC when it names no offset), or one line on stderr and exit 2."""
    if value is None:
        return None
    try:
        return _utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        report_error(f"{value!r} is not an ISO 8601 date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])")
        raise typer.Exit(2) from None


def _amount(amount: int | None, currency: str | None) -> str:
    """A table cell: the decimal amount and its currency ("-" when that side has nothing); minor units
    for a currency billing does not know (a gateway may report one)."""
    if amount is None or currency is None:
        return "-"
    return Money(amount, currency).format() if currency in MINOR_UNITS else f"{amount} {currency} (minor units)"


DIFFERENCE_FIELDS: list[Field[Difference]] = [
    Field("kind", lambda d: d.kind.value, "Difference", whole=True),
    Field("reference", lambda d: d.reference, "Gateway id", whole=True),
    Field("at", lambda d: d.at, "At"),
    Field("gateway_amount", lambda d: d.gateway_amount),
    Field("gateway_currency", lambda d: d.gateway_currency),
    Field("ledger_amount", lambda d: d.ledger_amount),
    Field("ledger_currency", lambda d: d.ledger_currency),
    Field(None, lambda d: _amount(d.gateway_amount, d.gateway_currency), "Gateway", justify="right"),
    Field(None, lambda d: _amount(d.ledger_amount, d.ledger_currency), "Ledger", justify="right"),
    Field("payment_id", lambda d: d.payment_id, "Payment"),
    Field("invoice_id", lambda d: d.invoice_id, "Invoice"),
    Field("detail", lambda d: d.detail, "Detail"),
]

ReconcileTime = Annotated[
    str | None,
    typer.Option(
        metavar="ISO-DATETIME",
        callback=parse_time,
        help="YYYY-MM-DD or an ISO 8601 time (UTC when no offset).",
    ),
]


async def _reconcile(since: datetime, until: datetime | None) -> Reconciliation:
    async with open_platform(load_settings()) as platform:
        with progress("Reading the gateway's records", None) as update:
            return await platform.billing.reconcile(SYSTEM, since, until, lambda n: update(completed=n))


@billing_app.command("reconcile")
@handle_errors
def reconcile(
    since: Annotated[
        str,
        typer.Option(
            metavar="ISO-DATETIME",
            callback=parse_time,
            help="Compare what was created or booked from this time on. YYYY-MM-DD or ISO 8601 (UTC when no offset).",
        ),
    ],
    until: ReconcileTime = None,
    output: OutputOption = "table",
) -> None:
    """The gateway's captured payments and refunds against the ledger's postings, from --since (included)
    to --until (excluded; default now): every difference, with its kind (missing-in-ledger,
    missing-at-gateway, amount-mismatch, currency-mismatch, refund-missing-in-ledger,
    refund-missing-at-gateway, refund-amount-mismatch).

    Exit status: 0 when the two agree, 1 when there are differences (or the run failed), 2 for bad input.
    """
    start, end = cast(datetime, since), cast(datetime | None, until)
    if end is not None and end <= start:
        report_error("--until must be after --since")
        raise typer.Exit(2)
    if end is None and start >= datetime.now(UTC):
        report_error("--since must be in the past (or give a later --until)")
        raise typer.Exit(2)
    result = run(_reconcile(start, end))
    compared = (
        f"{plural(result.gateway_payments, 'payment')} and {plural(result.gateway_refunds, 'refund')} at the gateway, "
        f"{plural(result.ledger_movements, 'posting')} in the ledger"
    )
    found = plural(len(result.differences), "difference") if result.differences else "no differences"
    summary = f"{found}: {compared}"
    render(result.differences, DIFFERENCE_FIELDS, output, title=summary, empty=summary)
    if output != "table":
        info(summary)  # a table says it in its title (or as its empty line); JSON and CSV keep stdout for rows
    if result.differences:
        raise typer.Exit(1)
