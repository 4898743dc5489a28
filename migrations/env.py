"""Alembic environment: runs on a connection handed over by ``elearning_adapters.migrate``,
or, from the alembic command line, on the database the settings name."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from elearning_adapters.sql.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_from_settings() -> None:
    from elearning_adapters.settings import Settings
    from elearning_adapters.sql.engine import Database

    async def go() -> None:
        db = Database.from_settings(Settings())
        try:
            async with db.engine.connect() as conn:
                await conn.run_sync(_run)
                await conn.commit()
        finally:
            await db.dispose()

    asyncio.run(go())


connection = context.config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
if connection is None:
    _run_from_settings()
else:
    _run(connection)
