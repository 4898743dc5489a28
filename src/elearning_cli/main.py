"""The ``elearning`` admin command line: the Typer app, one file per command group."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer import _click as click


@dataclass(frozen=True, slots=True)
class _Entry:
    """A top-level command or group, imported only when it is run or its own help is asked for."""

    module: str
    attribute: str
    help: str


GROUPS: dict[str, _Entry] = {
    "serve": _Entry(
        "elearning_cli.serve",
        "serve",
        "Run the HTTP API. Migrates the embedded SQLite database first; refuses an outdated PostgreSQL one.",
    ),
    "db": _Entry(
        "elearning_cli.db",
        "app",
        "Migrate the database schema (Alembic, one linear history for SQLite and PostgreSQL).",
    ),
    "courses": _Entry("elearning_cli.courses", "app", "List the catalog; import and export courses as JSON."),
    "users": _Entry(
        "elearning_cli.users",
        "app",
        "Create accounts, list them, suspend or reactivate them, change their email, grant and revoke roles.",
    ),
    "enrollments": _Entry(
        "elearning_cli.enrollments", "app", "List a course's enrollments, enroll a learner, unenroll one."
    ),
    "paths": _Entry("elearning_cli.paths", "app", "List learning paths; import one from a JSON file, export one."),
    "orgs": _Entry("elearning_cli.orgs", "app", "Create and list organizations; add members."),
    "keys": _Entry("elearning_cli.keys", "app", "List and rotate the token signing keys."),
    "outbox": _Entry(
        "elearning_cli.outbox",
        "outbox_app",
        "Inspect the transactional outbox (what the relay still has to publish) and prune published rows.",
    ),
    "events": _Entry(
        "elearning_cli.events",
        "events_app",
        "Look at the event topics: dead letters and live traffic. `tail`, `dlq show` and offsets need "
        "ELEARNING_KAFKA_BOOTSTRAP_SERVERS; without it `dlq list|replay` act on the in-process transport's "
        "dead letters. Never commits consumer offsets.",
    ),
    "worker": _Entry(
        "elearning_cli.worker",
        "worker_app",
        "Background workers: the outbox relay and the event consumers (need ELEARNING_KAFKA_BOOTSTRAP_SERVERS), "
        "the scheduler, `events`, the outbox relayed to the handlers without Kafka, and `forward-statements`, the "
        "xAPI statements sent on to an external LRS or Kafka topic.",
    ),
    "jobs": _Entry(
        "elearning_cli.jobs",
        "app",
        "List the scheduled jobs (last run, next due) and run one now, through the same claim as the schedulers.",
    ),
    "videos": _Entry("elearning_cli.videos", "app", "List videos, show their processing status, reprocess them."),
    "lessons": _Entry("elearning_cli.lessons", "app", "A lesson's uploaded files (attachments)."),
    "media": _Entry(
        "elearning_cli.media",
        "app",
        "The object store: copy local media into S3 (verified, resumable); the bucket CORS players need.",
    ),
    "quizzes": _Entry(
        "elearning_cli.quizzes",
        "app",
        "Import and export quizzes (JSON), list a course's quizzes, close attempts whose time ran out.",
    ),
    "grades": _Entry("elearning_cli.grades", "app", "Export a course's gradebook."),
    "progress": _Entry(
        "elearning_cli.progress", "app", "Rebuild learners' progress from the facts; show or reset one learner's."
    ),
    "certificates": _Entry(
        "elearning_cli.certificates",
        "app",
        "Set awards, list and revoke certificates, issue those waiting for an award's date, verify a certificate file.",
    ),
    "notifications": _Entry(
        "elearning_cli.notifications",
        "app",
        "Send the due digests, retry failed notification mails, show the delivery log.",
    ),
    "recommendations": _Entry(
        "elearning_cli.recommendations",
        "app",
        "Train the recommendations, evaluate them offline against popularity, show a learner's list.",
    ),
    "search": _Entry(
        "elearning_cli.search",
        "app",
        "Rebuild the search index online, query it, report frequent and zero-result searches.",
    ),
    "entitlements": _Entry(
        "elearning_cli.entitlements", "app", "Grant, revoke and show a user's access to a paid course."
    ),
    "discussion": _Entry(
        "elearning_cli.discussion", "app", "Review a course's discussion: the moderation queue of flagged posts."
    ),
    "plans": _Entry(
        "elearning_cli.plans", "app", "Import and list subscription plans (JSON in, table, JSON or CSV out)."
    ),
    "subscriptions": _Entry(
        "elearning_cli.subscriptions", "app", "List subscriptions (table, JSON or CSV) and cancel one."
    ),
    "invoices": _Entry(
        "elearning_cli.billing", "invoices_app", "Export the invoices issued in a period (table, JSON, CSV)."
    ),
    "billing": _Entry(
        "elearning_cli.billing", "billing_app", "The ledger's figures: revenue per course and month, balances."
    ),
    "coupons": _Entry("elearning_cli.checkout", "coupons_app", "Create and list checkout coupons."),
    "orders": _Entry("elearning_cli.checkout", "orders_app", "List and show checkout orders."),
    "analytics": _Entry(
        "elearning_cli.analytics",
        "app",
        "Learning analytics: course and platform dashboards and reports (HTML, CSV, PNG), a course's learners at "
        "risk with why, rebuilding the aggregates, a learner's statements exported, the learning record store's "
        "credentials.",
    ),
}
"""Every top-level command, in the order ``elearning --help`` lists them, with the help line it shows there.

A command group's module (and what it imports: the core's pydantic models, the adapters, rich tables) is
imported only when that group runs or shows its own help, so ``elearning --help`` and
``elearning <group> --help`` start in a fraction of the time importing all of them takes."""


def _load(name: str) -> click.Command:
    entry = GROUPS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        # get_group, not get_command: a group with one command (grades) must stay a group, not become it.
        command: click.Command = typer.main.get_group(target)
        command.help = entry.help
    else:  # a single command: its docstring is its help
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """The root group: lists every entry of ``GROUPS`` and imports one only when it is resolved to run.

    Listing the commands in the root's own help shows each entry's line from a placeholder, so that help
    imports none of them."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*GROUPS, *(name for name in super().list_commands(ctx) if name not in GROUPS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in GROUPS:
            return command
        if self._listing:
            return TyperGroup(name=cmd_name, help=GROUPS[cmd_name].help)
        command = self.commands[cmd_name] = _load(cmd_name)
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


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
    cls=_LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        from importlib import metadata  # here: 20 ms of imports that only --version needs

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
    from elearning_cli._common import state

    state.debug = debug


def run() -> None:
    """Console-script entry point (``elearning``)."""
    app(prog_name="elearning")
