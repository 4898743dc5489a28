"""``elearning plans import|list``: the subscription plans' catalog as JSON files an admin keeps under
version control. ``list -o json`` prints exactly what ``import`` reads (times included, which import
ignores), so a catalog round-trips; importing the same file twice changes nothing."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError

from elearning_cli._common import (
    CliError,
    collect,
    handle_errors,
    info,
    load_settings,
    open_platform,
    plural,
    progress,
    read_json,
    run,
)
from elearning_cli._output import Field, FormatOption, render
from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.ports import SYSTEM
from elearning_core.subscription.commands import PlanSpec
from elearning_core.subscription.model import Plan, PlanStatus
from elearning_core.subscription.service import ImportResult

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

READ_ONLY = ("created_at", "updated_at")
"""Keys ``list -o json`` prints that the catalog file may carry but that import does not set."""


def _includes(plan: Plan) -> dict[str, Any]:
    inc = plan.includes
    return {"all_courses": inc.all_courses, "course_ids": list(inc.course_ids), "path_ids": list(inc.path_ids)}


def _included(plan: Plan) -> str:
    inc = plan.includes
    return "all courses" if inc.all_courses else f"{len(inc.course_ids)} course(s), {len(inc.path_ids)} path(s)"


PLAN_FIELDS: list[Field[Plan]] = [
    Field("code", lambda p: p.code, "Code"),
    Field("name", lambda p: p.name, "Name"),
    Field("description", lambda p: p.description),
    Field("interval", lambda p: p.interval),
    Field("interval_count", lambda p: p.interval_count),
    Field(None, lambda p: f"{p.interval_count} {p.interval}", "Every"),
    Field("trial_days", lambda p: p.trial_days, "Trial days", justify="right"),
    Field("prices", lambda p: [{"currency": m.currency, "amount": m.amount} for m in p.prices]),
    Field(None, lambda p: ", ".join(m.format() for m in p.prices), "Prices"),
    Field("tax_inclusive", lambda p: p.tax_inclusive, "Tax incl."),
    Field("includes", _includes),
    Field(None, _included, "Includes"),
    Field("status", lambda p: p.status, "Status"),
    Field("created_at", lambda p: p.created_at),
    Field("updated_at", lambda p: p.updated_at, "Updated at"),
]


def _specs(name: str, data: Any) -> list[PlanSpec]:
    """Every record checked before anything is written; the first bad one named by index and field."""
    if not isinstance(data, list):
        raise CliError(f"{name} must hold a JSON list of plans (the shape `elearning plans list -o json` prints)")
    specs = []
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise CliError(f"{name}: record {index}: must be a JSON object")
        try:
            specs.append(PlanSpec.model_validate({k: v for k, v in record.items() if k not in READ_ONLY}))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "record"
            raise CliError(f"{name}: record {index}: {where}: {error['msg']}") from None
    return specs


async def _import(name: str, specs: list[PlanSpec], dry_run: bool) -> ImportResult:
    async with open_platform(load_settings()) as platform:
        try:
            with progress("Checking plans" if dry_run else "Importing plans", len(specs)) as update:
                return await platform.plans.import_plans(
                    SYSTEM, specs, dry_run=dry_run, on_progress=lambda done: update(completed=done)
                )
        except ValidationFailed as exc:
            raise CliError(f"{name}: {exc.detail}") from None


@app.command("import")
@handle_errors
def import_plans(
    file: Annotated[str, typer.Argument(help="JSON file to import, or - to read standard input.", metavar="FILE")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check everything, then write nothing.")] = False,
) -> None:
    """Create or update plans by code from a JSON list (the shape `elearning plans list -o json` prints)."""
    name, data = read_json(file, "a JSON list of plans")
    result = run(_import(name, _specs(name, data), dry_run))
    counts = (
        f"{plural(len(result.created), 'plan')} created, {len(result.changed)} changed, "
        f"{len(result.unchanged)} unchanged"
    )
    info(f"Dry run: {name} is valid; {counts}. Nothing was written." if dry_run else f"{name}: {counts}.")


async def _list(status: PlanStatus | None) -> list[Plan]:
    async with open_platform(load_settings()) as platform:
        items, _ = await collect(
            lambda cursor, size: platform.plans.plans(SYSTEM, status=status, cursor=cursor, limit=size)
        )
        return items


@app.command("list")
@handle_errors
def list_plans(
    status: Annotated[PlanStatus | None, typer.Option(help="Only plans with this status.")] = None,
    output: FormatOption = "table",
) -> None:
    """List plans, drafts and archived ones included (every page)."""
    items = run(_list(status))
    render(items, PLAN_FIELDS, output, title=f"{len(items)} plan(s)", empty="no plans")
