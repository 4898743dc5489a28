"""The project's checks. `nox` runs them all; `nox -s tests` runs one.

Sessions run in the current environment (install it first with
`pip install -e '.[dev]'`), so a full check costs no virtualenv rebuild.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "imports", "tests"]
nox.options.default_venv_backend = "none"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.run("ruff", "check", "src", "tests", "benchmarks", "migrations", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "migrations", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy: strict on the core, checked everywhere in src."""
    session.run("mypy", "src")


@nox.session
def imports(session: nox.Session) -> None:
    """import-linter: the layer contracts in pyproject.toml."""
    session.run("lint-imports")


@nox.session
def tests(session: nox.Session) -> None:
    """pytest: unit, contract, integration and end-to-end tests, in one process.

    The suite is worker-safe (``nox -s tests -- -n 2 --dist loadfile`` runs it over two pytest-xdist
    workers, each with its own databases, brokers and ports), but such a run on 2026-12-07 reported 3,990 of
    the 4,472 items it scheduled, in 830 s, without saying why the rest went unreported: until that is
    understood, CI runs every test in one process.
    """
    session.run("pytest", *session.posargs)
