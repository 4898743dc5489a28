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
    """pytest: unit, contract, integration and end-to-end tests, over two pytest-xdist workers.

    Each worker has its own PostgreSQL database, Redis database (``gwN`` uses db 1+N), Kafka-protocol broker
    and free loopback ports. ``--dist loadfile`` sends each test file whole to one worker: the servers,
    apps and databases a module shares (module-scoped fixtures) are built once, not once per worker, and
    a file's tests keep their order; the longest file (the OpenAPI fuzz, a few minutes) is far below half
    the run, so the two workers still finish close together. ``nox -s tests -- -n 0`` runs in one process
    (e.g. with ``--pdb``); later options override these.
    """
    session.run("pytest", "-n", "2", "--dist", "loadfile", *session.posargs)
