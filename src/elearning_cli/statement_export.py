"""``elearning analytics export-statements USER --output FILE``: every xAPI statement of one learner, for their
right of access (GDPR art. 15), as the NDJSON ``GET /api/v1/me/statements/export`` serves (a statement per line). Read a page at a
time (never held whole), written to ``FILE.partial`` and renamed when complete, with a progress bar on stderr."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from elearning_cli._common import handle_errors, info, load_settings, open_platform, plural, progress, resolve_user, run
from elearning_core.shared.ports import SYSTEM


async def _export(user: str, output: Path) -> tuple[str, int]:
    async with open_platform(load_settings()) as platform:
        account = await resolve_user(platform, user)
        export = await platform.statement_export.export(SYSTEM, account.id)
        total = await export.count()
        partial = output.with_name(output.name + ".partial")
        written = 0
        try:
            with progress(f"Exporting {account.email}'s statements", total) as update, partial.open("wb") as out:

                def advance(count: int) -> None:
                    nonlocal written
                    written += count
                    update(completed=written)

                async for chunk in export.ndjson(on_page=advance):
                    out.write(chunk)
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
        return account.email, written


@handle_errors
def export_statements(
    user: Annotated[str, typer.Argument(help="The user's id or email address.", metavar="USER")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="The file to write (NDJSON: a statement per line; replaced if it exists).",
            metavar="FILE",
        ),
    ],
) -> None:
    """Write every xAPI statement of a learner (their right of access) to FILE, one JSON statement per line."""
    email, count = run(_export(user, output))
    info(f"Wrote {plural(count, 'statement')} of {email} to {output}.")
