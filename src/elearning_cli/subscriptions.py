"""``elearning subscriptions list|cancel``: every subscription (or a user's, an organization's, one status),
and an operator's cancel (at the period's end by default, ``--now`` to end access at once)."""

from __future__ import annotations

from typing import Annotated

import typer

from elearning_cli._common import (
    collect,
    handle_errors,
    info,
    load_settings,
    open_platform,
    parse_uuid,
    resolve_organization,
    resolve_user,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_core.shared.ports import SYSTEM
from elearning_core.subscription.model import Status, Subscription

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

SUBSCRIPTION_FIELDS: list[Field[Subscription]] = [
    Field("id", lambda s: s.id, "Id"),
    Field("user_id", lambda s: s.user_id, "User"),
    Field("organization_id", lambda s: s.organization_id, "Organization"),
    Field("plan_code", lambda s: s.plan_code, "Plan"),
    Field("status", lambda s: s.status, "Status"),
    Field("currency", lambda s: s.currency),
    Field("amount", lambda s: s.amount),
    Field(None, lambda s: f"{s.amount} {s.currency}", "Amount (minor units)", justify="right"),
    Field("seats", lambda s: s.seats, "Seats", justify="right"),
    Field("current_period_start", lambda s: s.period_start),
    Field("current_period_end", lambda s: s.period_end, "Period ends"),
    Field("paid_through", lambda s: s.paid_through),
    Field("cancel_at_period_end", lambda s: s.cancel_at_period_end, "Cancels at end"),
    Field("ended_at", lambda s: s.ended_at),
    Field("next_retry_at", lambda s: s.next_retry_at),
    Field("created_at", lambda s: s.created_at),
]


async def _list(status: Status | None, user: str | None, org: str | None) -> list[Subscription]:
    async with open_platform(load_settings()) as platform:
        user_id = (await resolve_user(platform, user)).id if user else None
        org_id = (await resolve_organization(platform, org)).id if org else None
        items, _ = await collect(
            lambda cursor, size: platform.subscriptions.subscriptions(
                SYSTEM, user_id=user_id, organization_id=org_id, status=status, cursor=cursor, limit=size
            )
        )
        return items


@app.command("list")
@handle_errors
def list_subscriptions(
    status: Annotated[Status | None, typer.Option(help="Only subscriptions with this status.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user's (id or email).")] = None,
    org: Annotated[str | None, typer.Option(help="Only this organization's (id or slug).")] = None,
    output: FormatOption = "table",
) -> None:
    """List subscriptions, newest first (every page)."""
    items = run(_list(status, user, org))
    render(items, SUBSCRIPTION_FIELDS, output, title=f"{len(items)} subscription(s)", empty="no subscriptions")


async def _cancel(subscription_id: str, now: bool) -> Subscription:
    async with open_platform(load_settings()) as platform:
        return await platform.subscriptions.cancel(
            SYSTEM, parse_uuid(subscription_id, "subscription id"), at_period_end=not now
        )


@app.command("cancel")
@handle_errors
def cancel(
    subscription_id: Annotated[str, typer.Argument(help="The subscription's id.", metavar="ID")],
    now: Annotated[
        bool, typer.Option("--now", help="End it and its access now (default: at the period's end).")
    ] = False,
) -> None:
    """Cancel a subscription at the end of its paid period, or now."""
    sub = run(_cancel(subscription_id, now))
    if sub.cancel_at_period_end:
        info(f"subscription {sub.id} cancels at {sub.period_end:%Y-%m-%d %H:%M} UTC (access until then)")
    else:
        info(f"subscription {sub.id} is {sub.status.value}")
