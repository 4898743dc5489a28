"""The statements table: each statement's JSON, plus the columns its queries filter and page on.

``seq`` is the stored order (the ``more`` cursor of ``GET /xapi/statements``); every filter has an
index ending in ``seq``, so a page of any one filter is an index range read whichever way it runs.
``voids`` is the target of a voiding statement, ``voided`` whether a voiding statement names this one.
``organization_id`` is the organization whose LRS credential wrote the statement (NULL: the platform's
own, from the projection); an LRS credential reads only its organization's (migration 0035).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Table, UniqueConstraint, false
from sqlalchemy.types import Uuid

from elearning_adapters.sql.analytics._aggregate_tables import AGGREGATE_TABLES
from elearning_adapters.sql.engine import UtcDateTime, metadata

IRI_MAX = 1000
ANALYTICS_TABLES = (
    *AGGREGATE_TABLES,
    "xapi_forwarding",
    "xapi_statements",
    "lrs_credentials",
)

xapi_statements = Table(
    "xapi_statements",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", Uuid, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("actor", String(IRI_MAX), nullable=False),
    Column("verb", String(IRI_MAX), nullable=False),
    Column("activity", String(IRI_MAX), nullable=True),
    Column("registration", Uuid, nullable=True),
    Column("voids", Uuid, nullable=True),
    Column("voided", Boolean, nullable=False, server_default=false()),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("stored", UtcDateTime, nullable=False),
    Column("statement", JSON, nullable=False),
    Column("organization_id", Uuid, nullable=True),
    UniqueConstraint("id", name="uq_xapi_statements_id"),
)
Index("ix_xapi_statements_actor_seq", xapi_statements.c.actor, xapi_statements.c.seq)
Index("ix_xapi_statements_verb_seq", xapi_statements.c.verb, xapi_statements.c.seq)
Index("ix_xapi_statements_activity_seq", xapi_statements.c.activity, xapi_statements.c.seq)
Index("ix_xapi_statements_registration_seq", xapi_statements.c.registration, xapi_statements.c.seq)
Index("ix_xapi_statements_organization_seq", xapi_statements.c.organization_id, xapi_statements.c.seq)
Index("ix_xapi_statements_stored", xapi_statements.c.stored)
Index(
    "ix_xapi_statements_voids",
    xapi_statements.c.voids,
    postgresql_where=xapi_statements.c.voids.is_not(None),
    sqlite_where=xapi_statements.c.voids.is_not(None),
)

xapi_forwarding = Table(
    "xapi_forwarding",
    metadata,
    Column("destination", String(300), primary_key=True),
    Column("position", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Each forwarding destination's checkpoint: the seq of the last statement it received (docs/modules/analytics.md)."""
