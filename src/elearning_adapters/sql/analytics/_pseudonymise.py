"""Rewriting a deleted account's statements under its pseudonym, in the caller's transaction.

The statements are found set-wise: those whose actor is the account through the ``actor`` index, and
those an LRS client wrote (``organization_id`` set) that name the account elsewhere (an Agent object,
``context.instructor``) by a text match on their JSON (the projection writes the user only as the actor).
Each chunk of 1,000 is rewritten in Python (the JSON, its ``actor`` column and its digest, which covers
the actor: the store's "same statement" test must hold for the rewritten content) and written back with
one prepared ``UPDATE ... WHERE seq = :seq`` executed for the whole chunk (executemany, as the projection
inserts). Ids, ``seq``, ``stored``, ``registration`` and voiding are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, bindparam, cast, column, select, table, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.analytics._sql import among
from elearning_adapters.sql.analytics._tables import xapi_statements
from elearning_core.analytics.model import Statement, digest_of
from elearning_core.analytics.pseudonyms import Pseudonyms, account_key, pseudonymise

_CHUNK = 1000
_IDS_PER_READ = 500

# The identity module's table, as far as this module reads it (no import of the identity adapter).
_users = table("users", column("id", Uuid), column("status", String))

s = xapi_statements


async def deleted_among(conn: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``user_ids`` are deleted accounts (their late statements are stored under a pseudonym)."""
    wanted = sorted(set(user_ids))
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), _IDS_PER_READ):
        rows = await conn.execute(
            select(_users.c.id).where(
                among(conn, _users.c.id, wanted[start : start + _IDS_PER_READ]), _users.c.status == "deleted"
            )
        )
        found.update(rows.scalars())
    return found


async def under_pseudonyms(
    conn: AsyncConnection, statements: list[Statement], home_page: str, pseudonyms: Pseudonyms
) -> list[Statement]:
    """``statements``, those whose actor is a deleted account rewritten under its pseudonym (one read for the
    batch): a statement that arrives after the deletion (a late event, an LRS client still sending) never names
    the person, and one sent again after the rewrite is the same statement as the stored one."""
    actors = {name for st in statements if (name := _platform_account(st, home_page)) is not None}
    deleted = {str(u) for u in await deleted_among(conn, [uuid.UUID(name) for name in actors])} if actors else set()
    if not deleted:
        return statements
    out: list[Statement] = []
    for statement in statements:
        name = _platform_account(statement, home_page)
        if name is not None and name in deleted:
            data, _ = pseudonymise(statement.as_json(), home_page, name, str(pseudonyms.of(uuid.UUID(name))))
            statement = Statement.from_json(data)
        out.append(statement)
    return out


def _platform_account(statement: Statement, home_page: str) -> str | None:
    """The user id the statement's actor names, when it is a platform account named by a UUID."""
    account = statement.actor.account
    if account is None or account.home_page != home_page:
        return None
    try:
        uuid.UUID(account.name)
    except ValueError:
        return None
    return account.name


_REWRITE = (
    update(s)
    .where(s.c.seq == bindparam("b_seq"))
    .values(actor=bindparam("b_actor"), statement=bindparam("b_statement"), digest=bindparam("b_digest"))
)


async def pseudonymise_statements(
    conn: AsyncConnection, home_page: str, user_id: uuid.UUID, pseudonym: uuid.UUID
) -> int:
    """Rewrite every stored statement that names the account ``home_page``/``user_id``; how many were."""
    old, new = str(user_id), str(pseudonym)
    old_key = account_key(home_page, old)
    rewritten, after = 0, -1
    # The actor's statements: a keyset walk of the (actor, seq) index.
    while True:
        query = select(s.c.seq, s.c.actor, s.c.statement).where(s.c.actor == old_key, s.c.seq > after)
        rows = (await conn.execute(query.order_by(s.c.seq).limit(_CHUNK))).all()
        if not rows:
            break
        after = rows[-1].seq
        rewritten += await _rewrite(conn, rows, home_page, old, new)
    # Statements LRS clients wrote that name the account elsewhere: one pass over their JSON text for the few
    # rows that mention the id at all, then the same rewrite (the JSON decides whether it is the account).
    mentions = (
        select(s.c.seq)
        .where(
            s.c.organization_id.is_not(None),
            s.c.actor != old_key,
            cast(s.c.statement, String).contains(old, autoescape=True),
        )
        .order_by(s.c.seq)
    )
    seqs = list((await conn.execute(mentions)).scalars())
    for start in range(0, len(seqs), _CHUNK):
        query = select(s.c.seq, s.c.actor, s.c.statement).where(s.c.seq.in_(seqs[start : start + _CHUNK]))
        rewritten += await _rewrite(conn, (await conn.execute(query)).all(), home_page, old, new)
    return rewritten


async def _rewrite(conn: AsyncConnection, rows: Sequence[Any], home_page: str, old: str, new: str) -> int:
    old_key, new_key = account_key(home_page, old), account_key(home_page, new)
    changes: list[dict[str, Any]] = []
    for row in rows:
        data, changed = pseudonymise(row.statement, home_page, old, new)
        if not changed:
            continue  # the id appeared in some other text (an extension's value), not as the account
        changes.append(
            {
                "b_seq": row.seq,
                "b_actor": new_key if row.actor == old_key else row.actor,
                "b_statement": data,
                "b_digest": digest_of(data),
            }
        )
    if changes:
        await conn.execute(_REWRITE, changes)
    return len(changes)
