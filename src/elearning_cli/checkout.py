"""``elearning coupons create|list`` and ``elearning orders list|show``: billing admins' view of checkout
(docs/modules/checkout.md). Money is printed in minor units in JSON and CSV, formatted in tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from elearning_cli._common import CliError, collect, handle_errors, info, load_settings, open_platform, run
from elearning_cli._output import Field, FormatOption, render
from elearning_core.billing.money import Money
from elearning_core.checkout.commands import CreateCoupon, PriceInput
from elearning_core.checkout.model import Coupon, Order
from elearning_core.shared.ports import SYSTEM

coupons_app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS
orders_app = typer.Typer(no_args_is_help=True)


def _money(amount: int, currency: str) -> str:
    try:
        return Money(amount, currency).format()
    except ValueError:
        return f"{amount} {currency}"


COUPON_FIELDS: list[Field[Coupon]] = [
    Field("code", lambda c: c.code, "Code"),
    Field("percent_off", lambda c: c.percent_off),
    Field("amounts_off", lambda c: [{"currency": k, "amount": v} for k, v in sorted(c.amounts_off.items())]),
    Field(
        None,
        lambda c: (
            f"{c.percent_off} %"
            if c.percent_off is not None
            else ", ".join(_money(v, k) for k, v in sorted(c.amounts_off.items()))
        ),
        "Off",
    ),
    Field("expires_at", lambda c: c.expires_at, "Expires"),
    Field("max_redemptions", lambda c: c.max_redemptions, "Max", justify="right"),
    Field("per_customer", lambda c: c.per_customer),
    Field("items", lambda c: [str(i) for i in c.items]),
    Field("active", lambda c: c.active, "Active"),
    Field("redeemed", lambda c: c.redeemed, "Redeemed", justify="right"),
    Field("created_at", lambda c: c.created_at),
]

ORDER_FIELDS: list[Field[Order]] = [
    Field("id", lambda o: str(o.id), "Order"),
    Field("customer_id", lambda o: str(o.customer_id), "Customer"),
    Field("item_kind", lambda o: o.item_kind.value, "Item"),
    Field("item_id", lambda o: str(o.item_id)),
    Field("currency", lambda o: o.currency),
    Field("total", lambda o: o.total),
    Field(None, lambda o: _money(o.total, o.currency), "Total", justify="right"),
    Field("tax", lambda o: o.tax),
    Field("coupon", lambda o: o.coupon_code, "Coupon"),
    Field("status", lambda o: o.status.value, "Status"),
    Field("refunded", lambda o: o.refunded),
    Field("payment_id", lambda o: o.payment_id),
    Field("invoice_id", lambda o: str(o.invoice_id) if o.invoice_id else None),
    Field("created_at", lambda o: o.created_at, "Created"),
]


def _amounts(values: list[str]) -> list[PriceInput]:
    amounts = []
    for value in values:
        currency, _, amount = value.partition(":")
        if not amount.isdigit():
            raise CliError(f"--amount-off takes CURRENCY:MINOR_UNITS (e.g. EUR:500), not {value!r}")
        amounts.append(PriceInput(currency=currency.upper(), amount=int(amount)))
    return amounts


@coupons_app.command("create")
@handle_errors
def create_coupon(
    code: Annotated[str, typer.Argument(help="Upper-case letters, digits, - and _ (2-40).")],
    percent_off: Annotated[int | None, typer.Option("--percent-off", help="1 to 100.")] = None,
    amount_off: Annotated[
        list[str] | None, typer.Option("--amount-off", help="CURRENCY:MINOR_UNITS, repeatable (EUR:500).")
    ] = None,
    expires_at: Annotated[datetime | None, typer.Option("--expires-at", help="ISO date-time (UTC if no zone).")] = None,
    max_redemptions: Annotated[int | None, typer.Option("--max-redemptions", help="In total.")] = None,
    per_customer: Annotated[int | None, typer.Option("--per-customer", help="Per customer.")] = None,
    item: Annotated[list[str] | None, typer.Option("--item", help="A course or path id it is limited to.")] = None,
) -> None:
    """Create a coupon: a percent or a fixed amount per currency, optional expiry and limits."""
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=datetime.now().astimezone().tzinfo)
    try:
        cmd = CreateCoupon(
            code=code,
            percent_off=percent_off,
            amounts_off=_amounts(amount_off or []),
            expires_at=expires_at,
            max_redemptions=max_redemptions,
            per_customer=per_customer,
            items=[uuid.UUID(i) for i in item or []],
        )
    except (ValidationError, ValueError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise CliError(f"invalid coupon: {message}") from None

    async def create() -> Coupon:
        async with open_platform(load_settings()) as platform:
            return await platform.checkout.create_coupon(SYSTEM, cmd)

    coupon = run(create())
    info(f"coupon {coupon.code} created")


@coupons_app.command("list")
@handle_errors
def list_coupons(output: FormatOption = "table") -> None:
    """List every coupon (code order) with its redemptions."""

    async def listing() -> list[Coupon]:
        async with open_platform(load_settings()) as platform:
            items, _ = await collect(lambda cursor, size: platform.checkout.coupons(SYSTEM, cursor=cursor, limit=size))
            return items

    items = run(listing())
    render(items, COUPON_FIELDS, output, title=f"{len(items)} coupon(s)", empty="no coupons")


@orders_app.command("list")
@handle_errors
def list_orders(output: FormatOption = "table") -> None:
    """List every order, newest first."""

    async def listing() -> list[Order]:
        async with open_platform(load_settings()) as platform:
            items, _ = await collect(
                lambda cursor, size: platform.checkout.all_orders(SYSTEM, cursor=cursor, limit=size)
            )
            return items

    items = run(listing())
    render(items, ORDER_FIELDS, output, title=f"{len(items)} order(s)", empty="no orders")


@orders_app.command("show")
@handle_errors
def show_order(
    order_id: Annotated[str, typer.Argument(help="The order's id.", metavar="ORDER_ID")],
    output: FormatOption = "table",
) -> None:
    """Show one order."""
    try:
        key = uuid.UUID(order_id)
    except ValueError:
        raise CliError(f"not an order id: {order_id!r}") from None

    async def show() -> Order:
        async with open_platform(load_settings()) as platform:
            return await platform.checkout.order(SYSTEM, key)

    render([run(show())], ORDER_FIELDS, output, title="order", empty="no order")
