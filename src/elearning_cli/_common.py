"""What every command group shares: consoles, settings, the platform, and error reporting.

Every command is wrapped in ``handle_errors``: anything a user can cause
(bad input, a missing file, an unreachable or unmigrated database, a refused
use case) becomes one clear line on stderr and exit code 1, never a
traceback. ``elearning --debug`` lets unexpected errors through with their
traceback, for bug reports.

The adapters (SQLAlchemy, Alembic, dependency-injector) are imported lazily,
so ``elearning --help`` does not pay for them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from elearning_core.shared.errors import DomainError, NotFound, ValidationFailed
from elearning_core.shared.pagination import MAX_PAGE_SIZE, Page
from elearning_core.shared.ports import SYSTEM
from elearning_core.shared.storage import StorageError

if TYPE_CHECKING:
    from elearning_adapters.container import Platform
    from elearning_adapters.settings import Settings
    from elearning_core.identity.model import Organization, User

P = ParamSpec("P")
T = TypeVar("T")

UPGRADE_HINT = "run `elearning db upgrade`"
MAX_FIELD_ERRORS = 5


class _State:
    """Process-wide CLI switches set by the root callback (``--debug``)."""

    debug = False


state = _State()


class CliError(Exception):
    """A failure to report to the user as-is: one message line, optionally a few detail lines."""

    def __init__(self, message: str, details: Sequence[str] = (), exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.exit_code = exit_code


# -- consoles ----------------------------------------------------------------------


def stdout_console() -> Console:
    """Tables and results. Created per use so tests and ``COLUMNS`` see the current streams."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """Messages, warnings and progress bars: stdout stays clean for JSON output."""
    return Console(stderr=True, highlight=False)


def info(message: str) -> None:
    stderr_console().print(Text(message), soft_wrap=True)


def warn(message: str) -> None:
    stderr_console().print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)


def report_error(message: str, details: Sequence[str] = ()) -> None:
    console = stderr_console()
    console.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
    for line in details:
        console.print(Text(f"  {line}"), soft_wrap=True)


@contextlib.contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr; yields ``update(completed=..., description=...)``. A ``total`` of None
    is not known yet (a count of records read so far, paging through a list of unknown length).

    The bar is dropped if the work fails, so an error is not preceded by a half-full bar.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
    ) as bar:
        task = bar.add_task(description, total=total)
        try:
            yield functools.partial(bar.update, task)
        except BaseException:
            bar.remove_task(task)
            raise


@contextlib.contextmanager
def rebuild_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """The bar of an ``elearning <module> rebuild``: yields the ``progress(done, total)`` callback that
    ``elearning_core.shared.rebuild.rebuild`` reports to (its total is known once the walk starts)."""
    with progress(description, 0) as update:

        def report(done: int, total: int) -> None:
            update(completed=done, total=total)

        yield report


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# -- error handling ----------------------------------------------------------------


def handle_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Turn every expected failure of ``command`` into a one-line message and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # Typer's own exits, aborts and usage errors
        except CliError as exc:
            report_error(exc.message, exc.details)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            report_error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            message, details = describe_error(exc)
            if message is None and state.debug:
                raise
            report_error(message or _unexpected(exc), details)
            raise typer.Exit(1) from None

    return wrapper


def _unexpected(exc: BaseException) -> str:
    text = _first_line(str(exc)) or "no details"
    return f"unexpected {type(exc).__name__}: {text} (rerun with `elearning --debug ...` for the traceback)"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def describe_error(exc: BaseException) -> tuple[str | None, list[str]]:
    """A user-facing message (and detail lines) for a known kind of error; None if it is a bug."""
    import sqlalchemy.exc
    from alembic.util.exc import CommandError

    if isinstance(exc, StorageError):
        return f"object store: {_first_line(str(exc))}", []
    if isinstance(exc, ValidationFailed):
        return exc.detail, field_error_lines(exc)
    if isinstance(exc, DomainError):
        return exc.detail, []
    if isinstance(exc, ValidationError):
        return format_pydantic_errors(exc, limit=1)[0], []
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", []
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", []
    if isinstance(exc, CommandError):
        return f"migration failed: {_first_line(str(exc))}", []
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        return f"invalid database URL (ELEARNING_DATABASE_URL): {_first_line(str(exc))}", []
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return f"database error: {_first_line(str(exc.orig))}", []
    return None, []


def field_error_lines(exc: ValidationFailed) -> list[str]:
    """The field errors worth printing under the message: none if the message already says it all."""
    if len(exc.errors) == 1 and exc.errors[0].message in exc.detail:
        return []
    lines = [f"{e.field}: {e.message}" for e in exc.errors[:MAX_FIELD_ERRORS]]
    if len(exc.errors) > MAX_FIELD_ERRORS:
        lines.append(f"... and {len(exc.errors) - MAX_FIELD_ERRORS} more")
    return lines


def format_pydantic_errors(exc: ValidationError, limit: int | None = None) -> list[str]:
    """``field.path: message`` for each error; "unknown field" instead of pydantic's jargon."""
    lines = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in error["loc"])
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        lines.append(f"{where}: {message}" if where else message)
    return lines


# -- settings and the platform -------------------------------------------------------


def load_settings() -> Settings:
    """``Settings()`` from the ``ELEARNING_*`` environment, with a readable error if it is invalid."""
    from elearning_adapters.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "ELEARNING_" + "_".join(str(p) for p in first["loc"]).upper()
        raise CliError(f"invalid configuration: {name}: {first['msg']}") from None


def database_label(settings: Settings) -> str:
    """The database URL with its password masked, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = settings.resolved_database_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable ELEARNING_DATABASE_URL)"


def run(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # here, like rich.progress: a command's help needs neither (about 20 ms of imports)

    return asyncio.run(coro)


@contextlib.asynccontextmanager
async def open_platform(settings: Settings, *, require_schema: bool = True) -> AsyncIterator[Platform]:
    """The platform on the configured database; the CLI then acts as ``SYSTEM``.

    Database failures inside the block are reported naming the database; with
    ``require_schema`` the database must be migrated to head first.
    """
    from elearning_adapters.container import bootstrap

    label = database_label(settings)
    # An admin's command is batch work: it gets the batch statement timeout, not a request's few seconds.
    platform = await bootstrap(settings.model_copy(update={"db_work_class": "batch"}), run_migrations=False)
    try:
        if require_schema:
            await ensure_schema_current(platform, label)
        yield platform
    except Exception as exc:
        translated = _database_error(exc, label)
        if translated is None:
            raise
        raise translated from None
    finally:
        await platform.aclose()


async def ensure_schema_current(platform: Platform, label: str) -> None:
    from elearning_adapters.sql import migrate

    current, head = await migrate.current_revision(platform.database), migrate.head_revision()
    if current == head:
        return
    if current is None:
        raise CliError(f"the database {label} has no schema yet; {UPGRADE_HINT}")
    raise CliError(f"the database {label} is at revision {current}, this version needs {head}; {UPGRADE_HINT}")


def _database_error(exc: BaseException, label: str) -> CliError | None:
    import sqlalchemy.exc

    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return None
    reason = _first_line(str(exc.orig)) or type(exc.orig).__name__
    lowered = reason.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return CliError(f"the database {label} is not migrated ({reason}); {UPGRADE_HINT}")
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return CliError(f"cannot use the database {label}: {reason}")
    return CliError(f"database error on {label}: {reason}")


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- identity references -------------------------------------------------------------


def as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def parse_uuid(text: str, what: str) -> uuid.UUID:
    """``text`` as a UUID, or a one-line error naming ``what`` it should have been."""
    value = as_uuid(text)
    if value is None:
        raise CliError(f"{what} {text!r} is not a UUID")
    return value


async def resolve_user(platform: Platform, ref: str) -> User:
    """The account ``ref`` names: a user id, or an email address (matched case-insensitively).

    Admins know people by email; the use cases take ids. The lookup goes
    through the unit of work, as the sign-in does, so deleted accounts never match.
    """
    text = ref.strip()
    if "@" in text:
        async with platform.container.adapters.unit_of_work() as uow:
            user: User | None = await uow.users.get_by_email(text)
        if user is None:
            raise NotFound("user", text)
        return user
    user_id = as_uuid(text)
    if user_id is None:
        raise CliError(f"{ref!r} is neither a user id (UUID) nor an email address")
    return await platform.identity.get_user(SYSTEM, user_id)


async def resolve_organization(platform: Platform, ref: str) -> Organization:
    """The organization ``ref`` names: its id or its slug."""
    text = ref.strip()
    organization_id = as_uuid(text)
    organization: Organization | None
    async with platform.container.adapters.unit_of_work() as uow:
        if organization_id is not None:
            organization = await uow.organizations.get(organization_id)
        else:
            organization = await uow.organizations.get_by_slug(text)
    if organization is None:
        raise NotFound("organization", text)
    return organization


def read_json(source: str, expected: str) -> tuple[str, Any]:
    """The parsed JSON of a file, or of stdin for ``-``; and a name for it in messages. ``expected``
    says what the file should hold, for the message when it is empty."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliError(f"{name} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}") from None
    if not text.strip():
        raise CliError(f"{name} is empty; expected {expected}")
    try:
        return name, json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def write_atomically(path: Path, text: str) -> None:
    """Write a complete file or none: a failed export never leaves half a JSON document behind.

    A new file is readable by its owner only (mkstemp): exports can hold unpublished courses.
    """
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None


async def collect(
    fetch: Callable[[str | None, int], Awaitable[Page[T]]], limit: int | None = None, page_size: int = MAX_PAGE_SIZE
) -> tuple[list[T], bool]:
    """Follow a listing's cursors (``fetch(cursor, page_size)``) until ``limit`` items, all of them
    when None; also say whether more exist beyond those."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        size = page_size if limit is None else max(1, min(page_size, limit - len(items)))
        page = await fetch(cursor, size)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, False
        if limit is not None and len(items) >= limit:
            return items, True
