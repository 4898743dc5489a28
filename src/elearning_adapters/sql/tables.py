"""Every table of every module on one MetaData: what Alembic compares the migrations with."""

from elearning_adapters.sql import course, dead_letters, inbox, outbox
from elearning_adapters.sql.engine import metadata

__all__ = ["course", "dead_letters", "inbox", "metadata", "outbox"]
