"""The ``elearning`` admin command line: the Typer app, one file per command group."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated, Any

import typer

from elearning_cli import (
    courses,
    db,
    enrollments,
    events,
    grades,
    keys,
    orgs,
    outbox,
    quizzes,
    serve,
    users,
    videos,
    worker,
)
from elearning_cli._common import state


def _flags_show_no_value_type() -> None:
    """Typer's rich help prints a type after every option, so a flag reads ``--dry-run <bool>``, as if it
    took a value (``--dry-run true``); a flag takes none, so its type column stays empty. Options that
    take values keep theirs. ``tests/e2e/test_cli_output.py`` walks every command's help to hold this."""
    from typer.core import TyperOption

    typed = TyperOption.display_type_rich
    if getattr(typed, "flags_untyped", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else typed(self, ctx)

    display_type_rich.flags_untyped = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_value_type()

app = typer.Typer(
    name="elearning",
    help=(
        "Administer the e-learning platform: run the API, migrate the database, import and export courses, "
        "manage accounts, organizations and signing keys.\n\n"
        "Configured by ELEARNING_* environment variables, e.g. ELEARNING_DATABASE_URL "
        "(default: a SQLite file in ELEARNING_DATA_DIR, ./.elearning). "
        "Commands act as the platform's admin service account."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("serve")(serve.serve)
app.add_typer(db.app, name="db")
app.add_typer(courses.app, name="courses")
app.add_typer(users.app, name="users")
app.add_typer(enrollments.app, name="enrollments")
app.add_typer(orgs.app, name="orgs")
app.add_typer(keys.app, name="keys")
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(events.events_app, name="events")
app.add_typer(worker.worker_app, name="worker")
app.add_typer(videos.app, name="videos")
app.add_typer(quizzes.app, name="quizzes")
app.add_typer(grades.app, name="grades")


def _version(value: bool) -> None:
    if value:
        try:
            version = metadata.version("elearning-platform")
        except metadata.PackageNotFoundError:
            version = "unknown"
        typer.echo(f"elearning {version}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of unexpected errors (for bug reports).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Administer the e-learning platform."""
    state.debug = debug


def run() -> None:
    """Console-script entry point (``elearning``)."""
    app(prog_name="elearning")
