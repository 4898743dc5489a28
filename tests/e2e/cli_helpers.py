"""Running the ``elearning`` CLI in-process, for every CLI test: no traceback may ever reach the user."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from typer.testing import CliRunner, Result

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_cli.main import app

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
