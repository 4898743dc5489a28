"""CLI start-up: help and light commands import none of the heavy libraries (the structure, not a time).

The time is measured by benchmarks/cli_startup.py; what keeps it low is that ``elearning --help`` and a
group's help never import the database, web, Kafka or container stacks. Each case runs the real entry point
in a fresh interpreter and lists which of those modules it loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "sqlalchemy",
    "alembic",
    "psycopg",
    "litestar",
    "uvicorn",
    "confluent_kafka",
    "dependency_injector",
    "redis",
    "elearning_adapters.container",
)

MODELS = (
    "elearning_core.course.model",
    "elearning_core.course.model._content",
    "elearning_core.course.model._course",
    "elearning_core.course.commands",
    "elearning_core.course.queries",
    "elearning_core.shared.inputs",
)
"""The core modules that build pydantic models on import (about 50 ms): the course options need none of them."""

PROBE = f"""
import sys
from elearning_cli.main import run
sys.argv = ["elearning", *sys.argv[1:]]
try:
    run()
except SystemExit:
    pass
print("LOADED=" + ",".join(m for m in {HEAVY + MODELS!r} if m in sys.modules), file=sys.stderr)
"""

SRC = Path(__file__).resolve().parents[2] / "src"


def _loaded(*args: str, data_dir: Path, prints: str | None = None) -> list[str]:
    """The modules of HEAVY and MODELS the command loaded; ``prints``: a text it must write instead of help."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "COLUMNS": "100",
        "ELEARNING_DATA_DIR": str(data_dir),
    }
    env.pop("ELEARNING_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
        cwd=data_dir,
    )
    line = next((x for x in result.stderr.splitlines() if x.startswith("LOADED=")), None)
    assert line is not None, result.stderr
    if prints is not None:
        assert prints in result.stderr, result.stderr
    else:
        assert "Usage" in result.stdout or "elearning" in result.stdout, result.stdout
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("courses", "--help"),
        ("courses", "list", "--help"),
        ("users", "create", "--help"),
        ("events", "dlq", "list", "--help"),
        ("worker", "consume", "--help"),
        ("serve", "--help"),
    ],
    ids=lambda a: " ".join(a),
)
def test_help_and_version_load_no_heavy_library(args: tuple[str, ...], tmp_path: Path) -> None:
    assert [m for m in _loaded(*args, data_dir=tmp_path) if m in HEAVY] == []


@pytest.mark.parametrize("args", [("courses", "--help"), ("courses", "list", "--help")], ids=" ".join)
def test_the_course_commands_help_builds_no_course_model(args: tuple[str, ...], tmp_path: Path) -> None:
    """``--level`` and ``--status`` take their choices from ``elearning_core.course.values``, not the models."""
    assert _loaded(*args, data_dir=tmp_path) == []


def test_the_probe_would_see_a_course_model(tmp_path: Path) -> None:
    """The probe is not blind to the models: a command that runs (here: checks a file to import) loads them."""
    (tmp_path / "bad.json").write_text("[{}]")
    loaded = _loaded("courses", "import", "bad.json", data_dir=tmp_path, prints="1 of 1 records are invalid")
    assert "elearning_core.course.commands" in loaded


def test_the_probe_would_see_a_heavy_import(tmp_path: Path) -> None:
    """The probe is not blind: a command that opens the database does load SQLAlchemy."""
    assert "sqlalchemy" in _loaded("db", "current", data_dir=tmp_path)
