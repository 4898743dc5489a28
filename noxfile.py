"""The project's checks. `nox` runs them all; `nox -s tests` runs one.

Sessions run in the current environment (install it first with
`pip install -e '.[dev]'`), so a full check costs no virtualenv rebuild.
"""

from __future__ import annotations

import os

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
    """pytest: unit, contract, integration and end-to-end tests, over two worker processes (pytest-xdist).

    ``--dist loadfile`` keeps each test file in one worker, so a module's expensive fixtures (servers,
    brokers) start once. ``nox -s tests -- -n 0`` runs in one process (a later ``-n`` wins).
    """
    workers = min(2, os.cpu_count() or 1)
    session.run("pytest", "-n", str(workers), "--dist", "loadfile", *session.posargs)
