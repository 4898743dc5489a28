"""Running the ``elearning`` CLI in-process, for every CLI test: no traceback may ever reach the user."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner, Result

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_cli.main import app
from elearning_core.course import events as ev
from elearning_core.course.commands import CreateCourse
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM

runner = CliRunner()
T = TypeVar("T")


def isolate_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, *, columns: int = 250) -> None:
    """A test's CLI runs on its own database and data directory, with wide tables and none of the
    ``ELEARNING_*`` configuration of the shell that started the tests."""
    for name in list(os.environ):
        if name.startswith("ELEARNING_") and name != "ELEARNING_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("ELEARNING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ELEARNING_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", str(columns))


def on_platform(use: Callable[[Platform], Awaitable[T]], *, keys: bool = False) -> T:
    """Run ``use`` on a platform of its own over the database the CLI uses (as another process would)."""

    async def go() -> T:
        async with await bootstrap(Settings(), run_migrations=False, start_keys=keys) as platform:
            return await use(platform)

    return asyncio.run(go())


def invoke(*args: str, input: str | None = None) -> Result:
    """Run the CLI; whatever happens, no traceback and no exception escaping the error handling."""
    result = runner.invoke(app, list(args), input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ok(*args: str, input: str | None = None) -> Result:
    result = invoke(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def make_in_process_dead_letters(url: str, courses: int) -> list[uuid.UUID]:
    """Course events whose handler always fails, relayed by the real in-process transport: real dead letters."""
    from elearning_adapters.events import InProcessEventTransport, Subscription

    async def failing(_event: DomainEvent, _envelope: EventEnvelope, _conn: AsyncConnection) -> None:
        raise RuntimeError("handler bug")

    async def make() -> list[uuid.UUID]:
        async with await bootstrap(Settings(database_url=url)) as platform:
            ids = [(await platform.courses.create(SYSTEM, CreateCourse(title=f"Dead {i}"))).id for i in range(courses)]
            subscription = Subscription("failing", "test", {ev.CourseCreated.type: failing})
            transport = InProcessEventTransport(
                platform.database, [subscription], max_attempts=2, initial_backoff=0.0, max_backoff=0.0
            )
            await transport.drain()
            return ids

    return asyncio.run(make())
