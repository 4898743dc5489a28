"""Rewriting a deleted account's statements under its pseudonym, in the caller's transaction.

The statements are found set-wise: those whose actor is the account through the ``actor`` index, and
those an LRS client wrote (``organization_id`` set) that name the account elsewhere (an Agent object,
``context.instructor``) by a text match on their JSON (the projection writes the user only as the actor).
Each chunk of 1,000 is rewritten in Python (the JSON, its ``actor`` column and its digest, which covers
the actor: the store's "same statement" test must hold for the rewritten content) and written back with
one prepared ``UPDATE ... WHERE seq = :seq`` executed for the whole chunk (executemany, as the projection
inserts). Ids, ``seq``, ``stored``, ``registration`` and voiding are kept.

Concurrency (PostgreSQL). A writer that reads "this account is not deleted" and stores a statement naming
it could commit after the deletion's rewrite has looked, leaving that statement under the real id (the
projection on a second consumer, an LRS client's ``POST``). So each platform account has a
transaction-level advisory lock (``lock_accounts``): writers hold it shared from before they read the
accounts' status until they commit, the rewrite holds it exclusively from before it looks. Either the
writer commits first and the rewrite finds its statement, or the rewrite (and the deletion before it)
committed first and the writer reads the account as deleted. Shared holders never wait for each other,
and every holder takes its locks in one sweep in key order, so they cannot deadlock among themselves.
SQLite runs one write transaction at a time and needs none of it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import String, bindparam, cast, column, select, table, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.analytics._sql import among
from elearning_adapters.sql.analytics._tables import xapi_statements
from elearning_core.analytics.model import Activity, Agent, Statement, digest_of
from elearning_core.analytics.pseudonyms import Pseudonyms, account_key, accounts_named, pseudonymise

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


ACCOUNT_LOCKS = 0x61637472  # "actr": the class (first int4) of the per-account advisory locks

# One statement takes every lock, in key order (the inner ORDER BY is evaluated before the outer query's
# volatile lock calls, row by row: EXPLAIN shows Subquery Scan over Sort).
_SWEEP = text(
    "SELECT count(*) FROM (SELECT CASE WHEN x THEN pg_advisory_xact_lock(:cls, k) "
    "ELSE pg_advisory_xact_lock_shared(:cls, k) END "
    "FROM (SELECT k, x FROM unnest(CAST(:keys AS integer[]), CAST(:exclusive AS boolean[])) AS t(k, x) "
    "ORDER BY k) AS ordered) AS taken"
)


def _lock_key(user_id: str) -> int:
    # A hash, not the id's leading bytes: those are a UUIDv7's timestamp, alike for accounts made together.
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=4).digest(), "big", signed=True)


async def lock_accounts(conn: AsyncConnection, names: Iterable[str], *, exclusive: Iterable[str] = ()) -> None:
    """On PostgreSQL, the transaction-level advisory locks of the accounts ``names`` (shared: a writer of their
    statements) and ``exclusive`` (the rewrite of deleted ones), all in one sweep in key order. A lock this
    transaction holds already is taken again at once. Two accounts may share a key (a 32-bit hash): a writer of
    one then waits for the other's rewrite too, and a rewrite for the other's writers."""
    if conn.dialect.name != "postgresql":
        return
    modes = dict.fromkeys(map(_lock_key, names), False)
    modes.update(dict.fromkeys(map(_lock_key, exclusive), True))
    if modes:
        keys = sorted(modes)
        await conn.execute(_SWEEP, {"cls": ACCOUNT_LOCKS, "keys": keys, "exclusive": [modes[k] for k in keys]})


def accounts_of(statements: Iterable[Statement], home_page: str, *, anywhere: bool = False) -> set[str]:
    """The platform accounts (user ids as text) ``statements`` name: as their actor, or with ``anywhere`` also
    as an Agent object, an instructor, a group member (what an LRS client may send)."""
    found: set[str] = set()
    for statement in statements:
        if anywhere:
            found |= _accounts_anywhere(statement, home_page)
        elif (account := statement.actor.account) is not None and account.home_page == home_page:
            found.add(account.name)
    return {name for name in found if _is_uuid(name)}


def _accounts_anywhere(statement: Statement, home_page: str) -> set[str]:
    """``accounts_named`` of the statement's JSON, read from the model instead (dumping 100 statements to JSON
    cost 7 ms per POST): the model refuses unknown fields, so agents are only where it types them (the actor,
    the authority, an Agent object, the instructor) and free JSON only in extensions."""
    agents = [statement.actor, statement.authority, statement.context.instructor if statement.context else None]
    if isinstance(statement.object, Agent):
        agents.append(statement.object)
    found = {
        agent.account.name
        for agent in agents
        if agent is not None and agent.account is not None and agent.account.home_page == home_page
    }
    activities = [statement.object] if isinstance(statement.object, Activity) else []
    if statement.context is not None and statement.context.context_activities is not None:
        listed = statement.context.context_activities
        for group in (listed.parent, listed.grouping, listed.category, listed.other):
            activities.extend(group or ())
    extensions = [a.definition.extensions for a in activities if a.definition is not None]
    extensions.append(statement.result.extensions if statement.result else None)
    extensions.append(statement.context.extensions if statement.context else None)
    for each in extensions:
        if each:
            found |= accounts_named(each, home_page)
    return found


async def under_pseudonyms(
    conn: AsyncConnection,
    statements: list[Statement],
    home_page: str,
    pseudonyms: Pseudonyms,
    *,
    anywhere: bool = False,
) -> list[Statement]:
    """``statements``, every agent of a deleted account in them (the actor; with ``anywhere``, wherever it is)
    rewritten under its pseudonym, with one read for the batch: a statement that arrives after the deletion (a
    late event, an LRS client still sending) never names the person, and one sent again after the rewrite is
    the same statement as the stored one. Takes the accounts' shared locks first (``lock_accounts``), held to
    the caller's commit, so a deletion's rewrite running meanwhile either sees these statements or came first."""
    each = [accounts_of([statement], home_page, anywhere=anywhere) for statement in statements]
    named = set().union(*each)
    if not named:
        return statements
    await lock_accounts(conn, named)
    deleted = {str(u) for u in await deleted_among(conn, [uuid.UUID(name) for name in named])}
    if not deleted:
        return statements
    out: list[Statement] = []
    for statement, its in zip(statements, each, strict=True):
        names = deleted & its
        if names:
            data = statement.as_json()
            for name in sorted(names):
                data, _ = pseudonymise(data, home_page, name, str(pseudonyms.of(uuid.UUID(name))))
            statement = Statement.from_json(data)
        out.append(statement)
    return out


def _is_uuid(name: str) -> bool:
    """A user id as the platform writes it (canonical text: the rewrite matches the name exactly)."""
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


_REWRITE = (
    update(s)
    .where(s.c.seq == bindparam("b_seq"))
    .values(actor=bindparam("b_actor"), statement=bindparam("b_statement"), digest=bindparam("b_digest"))
)


async def pseudonymise_statements(
    conn: AsyncConnection, home_page: str, user_id: uuid.UUID, pseudonym: uuid.UUID
) -> int:
    """Rewrite every stored statement that names the account ``home_page``/``user_id``; how many were. Holds
    the account's lock exclusively first (``lock_accounts``): writers of its statements in flight commit first."""
    old, new = str(user_id), str(pseudonym)
    await lock_accounts(conn, (), exclusive=[old])
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
