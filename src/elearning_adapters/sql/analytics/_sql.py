"""SQL helpers the analytics tables' readers and writers share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Uuid


def among(conn: AsyncConnection, column: Any, ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL ``= ANY(:array)``, one parameter: a short statement text that psycopg
    parses once and prepares, where an IN list of 100 placeholders is parsed again on every call."""
    result: ColumnElement[bool]
    if conn.dialect.name == "postgresql":
        result = column == any_(bindparam("ids", list(ids), type_=postgresql.ARRAY(Uuid)))
    else:
        result = column.in_(ids)
    return result
