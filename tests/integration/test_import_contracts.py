"""The import-linter contracts hold, and each one really catches the violation it exists for.

Each case copies src/ and pyproject.toml to a temporary directory, plants one
forbidden import in the copy and runs ``lint-imports`` on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = [
    c["name"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
]
CORE = "The core imports no infrastructure library"
RUNTIMES = "Runtimes do not import each other"
ADAPTERS = "Adapters do not import runtimes"


def lint_imports_command() -> list[str]:
    found = shutil.which("lint-imports", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if found is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[dev]')")
    return [found]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [*lint_imports_command(), str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def plant(tree: Path, module: str, statement: str) -> None:
    path = tree / "src" / module
    assert path.is_file(), path
    path.write_text(path.read_text() + f"\n{statement}  # deliberate contract violation\n")


def test_the_contracts_under_test_are_the_configured_ones() -> None:
    assert CONTRACTS == [CORE, RUNTIMES, ADAPTERS]


def test_the_unmodified_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout
    assert f"{len(CONTRACTS)} kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "broken", "unaffected"),
    [
        ("elearning_core/course/model/_course.py", "import sqlalchemy", CORE, [RUNTIMES, ADAPTERS]),
        ("elearning_core/shared/clock.py", "from elearning_adapters import settings", CORE, [RUNTIMES, ADAPTERS]),
        ("elearning_http/__init__.py", "import elearning_cli", RUNTIMES, [CORE, ADAPTERS]),
        ("elearning_workers/__init__.py", "import elearning_http", RUNTIMES, [CORE, ADAPTERS]),
        # Runtimes import the adapters, so this may also make two runtimes depend on each
        # other indirectly; only the core contract is certainly unaffected.
        ("elearning_adapters/settings/__init__.py", "import elearning_http", ADAPTERS, [CORE]),
    ],
    ids=[
        "core-imports-sqlalchemy",
        "core-imports-adapters",
        "http-imports-cli",
        "workers-import-http",
        "adapters-import-http",
    ],
)
def test_a_violation_breaks_its_contract(
    tree: Path, module: str, statement: str, broken: str, unaffected: list[str]
) -> None:
    plant(tree, module, statement)
    result = lint(tree)
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"{broken} BROKEN" in result.stdout
    for name in unaffected:
        assert f"{name} KEPT" in result.stdout
    assert statement.split()[-1] in result.stdout  # the report names the offending import
