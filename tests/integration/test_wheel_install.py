"""The wheel carries its migrations: installed in a fresh venv, ``elearning db upgrade`` builds the schema.

The fresh venv sees the dev venv's third-party packages through a ``.pth`` file
listing the dev site-packages directory. A ``.pth`` line only appends a path,
it does not process that directory's own ``.pth`` files, so the project's
editable install (a ``.pth`` in the dev site-packages) stays invisible: the
platform is imported from the installed wheel, which the test checks.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from elearning_adapters.sql import migrate
from elearning_adapters.sql.search import ENGINE_OBJECTS
from elearning_adapters.sql.tables import metadata

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 180  # seconds per build, venv and install step; the whole test stays under pytest's limit

pytestmark = pytest.mark.timeout(600)


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one step, bounded in time, and insist that it succeeds."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _source_copy(into: Path) -> Path:
    """The files a build reads, copied so the build leaves nothing behind in the checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    tree = into / "source"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    for name in ("src", "migrations"):
        shutil.copytree(REPO / name, tree / name, ignore=ignore)
    return tree


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("ELEARNING_", "VIRTUAL_ENV"))}
    return env | extra


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("wheel", reason="building the wheel needs the `wheel` package (dev extra)")
    work = tmp_path_factory.mktemp("wheel")
    tree = _source_copy(work)
    dist = work / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(dist),
            ".",
        ],
        cwd=tree,
        env=_clean_env(),
    )
    (built,) = dist.glob("elearning_platform-*.whl")
    return built


def test_the_wheel_ships_every_migration_script(wheel: Path) -> None:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    scripts = {f"elearning_migrations/versions/{p.name}" for p in (REPO / "migrations" / "versions").glob("*.py")}
    assert {"elearning_migrations/env.py", "elearning_migrations/script.py.mako"} <= shipped
    assert scripts <= shipped
    assert not any(name.startswith("migrations/") for name in shipped)


def test_an_installed_wheel_migrates_a_new_sqlite_database(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    # The dev venv's pip installs into the new venv while it still sees nothing else (no uninstall elsewhere).
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        cwd=tmp_path,
        env=_clean_env(),
    )
    new_site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
        ).stdout.strip()
    )
    (new_site / "dev-third-party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = _clean_env(
        ELEARNING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
        ELEARNING_DATA_DIR=str(tmp_path / "data"),
    )
    origins = _run(
        [
            str(python),
            "-c",
            "import elearning_adapters, elearning_migrations; "
            "print(elearning_adapters.__file__); print(elearning_migrations.__file__)",
        ],
        cwd=cwd,
        env=env,
    ).stdout.split()
    assert all(Path(origin).is_relative_to(new_site) for origin in origins), origins

    upgraded = _run([str(venv / "bin" / "elearning"), "db", "upgrade"], cwd=cwd, env=env)

    assert "Upgraded" in upgraded.stderr
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert tables - ENGINE_OBJECTS == set(metadata.tables) | {"alembic_version"}  # less what FTS5 adds
    assert version == migrate.head_revision()
    assert not (cwd / "migrations").exists()
