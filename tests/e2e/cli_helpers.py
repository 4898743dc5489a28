"""Running the ``elearning`` CLI in-process, for every CLI test: no traceback may ever reach the user."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from elearning_cli.main import app

runner = CliRunner()


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
