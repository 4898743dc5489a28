"""Schema migrations, run programmatically on the platform's own database handle."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from elearning_adapters.sql.engine import Database


def _script_location() -> Path:
    """The repository's top-level ``migrations/`` in a source checkout, else the installed ``elearning_migrations``.

    The checkout comes first so that a worktree run from its ``src/`` migrates
    with its own scripts, even where another checkout is installed (editable).
    The wheel ships ``migrations/`` as the ``elearning_migrations`` package.
    """
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file() and (checkout / "migrations" / "env.py").is_file():
        return checkout / "migrations"
    spec = importlib.util.find_spec("elearning_migrations")
    if spec is None or spec.origin is None:
        raise RuntimeError("the migration scripts are missing: elearning_migrations is not installed")
    return Path(spec.origin).parent


SCRIPT_LOCATION = _script_location()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    async with db.read() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(db: Database, revision: str = "head") -> None:
    async with db.write() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))
        await conn.commit()


async def downgrade(db: Database, revision: str) -> None:
    async with db.write() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))
        await conn.commit()


async def is_up_to_date(db: Database) -> bool:
    return await current_revision(db) == head_revision()
