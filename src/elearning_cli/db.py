"""``elearning db``: schema migrations of the configured database."""

from __future__ import annotations

from typing import Annotated

import typer

from elearning_cli._common import (
    database_label,
    handle_errors,
    info,
    load_settings,
    open_platform,
    run,
)
from elearning_cli._output import Field, FormatOption, render_record

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS


async def _current() -> tuple[str | None, str | None]:
    from elearning_adapters.sql import migrate

    async with open_platform(load_settings(), require_schema=False) as platform:
        return await migrate.current_revision(platform.database), migrate.head_revision()


async def _upgrade(revision: str) -> tuple[str | None, str | None]:
    from elearning_adapters.sql import migrate

    async with open_platform(load_settings(), require_schema=False) as platform:
        before = await migrate.current_revision(platform.database)
        await migrate.upgrade(platform.database, revision)
        return before, await migrate.current_revision(platform.database)


async def _downgrade(revision: str, confirm: bool) -> tuple[str | None, str | None]:
    from elearning_adapters.sql import migrate

    settings = load_settings()
    async with open_platform(settings, require_schema=False) as platform:
        before = await migrate.current_revision(platform.database)
        if before is None:
            return None, None
        if confirm:
            typer.confirm(
                f"Downgrade {database_label(settings)} from revision {before} to {revision}? "
                "Tables and data added by the undone migrations are dropped",
                abort=True,
                err=True,
            )
        await migrate.downgrade(platform.database, revision)
        return before, await migrate.current_revision(platform.database)


def _name(revision: str | None) -> str:
    return revision or "none (empty schema)"


@app.command()
@handle_errors
def upgrade(
    revision: Annotated[
        str,
        typer.Argument(
            help="Target revision: `head` (default), a revision id, or a relative step like +1.", metavar="REVISION"
        ),
    ] = "head",
) -> None:
    """Apply pending migrations (safe to run repeatedly)."""
    label = database_label(load_settings())
    before, after = run(_upgrade(revision))
    if before == after:
        info(f"{label} is already at revision {_name(after)}; nothing to do.")
    else:
        info(f"Upgraded {label} from revision {_name(before)} to {_name(after)}.")


@app.command()
@handle_errors
def downgrade(
    revision: Annotated[
        str,
        typer.Argument(
            help="Target revision: `base` (drop everything), a revision id, or a step like -1.", metavar="REVISION"
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Undo migrations down to REVISION. Destroys the data of the undone migrations."""
    label = database_label(load_settings())
    before, after = run(_downgrade(revision, confirm=not yes))
    if before is None:
        info(f"{label} has no schema; nothing to downgrade.")
    elif before == after:
        info(f"{label} is already at revision {_name(after)}; nothing to do.")
    else:
        info(f"Downgraded {label} from revision {_name(before)} to {_name(after)}.")


def _pending(revisions: tuple[str | None, str | None]) -> str:
    current_rev, head = revisions
    if current_rev == head:
        return "no, up to date"
    if current_rev is None:
        return "yes, the schema is not created; run `elearning db upgrade`"
    return "yes; run `elearning db upgrade`"


SchemaState = tuple[str, tuple[str | None, str | None]]
"""The database's label, its revision and the head revision."""

SCHEMA_FIELDS: list[Field[SchemaState]] = [
    Field("database", lambda s: s[0], "Database", whole=True),
    Field("current_revision", lambda s: s[1][0], "Current revision", cell=lambda s: _name(s[1][0])),
    Field("head_revision", lambda s: s[1][1], "Head revision", cell=lambda s: _name(s[1][1])),
    Field(
        "pending",
        lambda s: s[1][0] != s[1][1],
        "Pending migrations",
        cell=lambda s: _pending(s[1]),
        style=lambda s: "green" if s[1][0] == s[1][1] else "yellow",
    ),
]


@app.command()
@handle_errors
def current(output: FormatOption = "table") -> None:
    """Show the database's revision, the newest one this version knows, and whether migrations are pending."""
    label = database_label(load_settings())
    render_record((label, run(_current())), SCHEMA_FIELDS, output, title="Database schema")
