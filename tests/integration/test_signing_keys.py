"""The signing keys shared through the database: one key however many processes start, rotation, encryption at rest.

Each "process" is a ``SharedKeyRing`` on its own ``Database`` handle (its own
connections and locks) on one database, SQLite file then PostgreSQL. Time is a
``FixedClock`` shared by both, moved by hand.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select, update

from elearning_adapters.security.keystore import (
    KeyStoreError,
    RefreshingTokenService,
    SharedKeyRing,
    SigningKeyStore,
)
from elearning_adapters.security.tokens import DEFAULT_LEEWAY, JwtTokenService, SigningKey, UnknownKeyId
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.signing_keys import UNDECRYPTABLE, SqlSigningKeyStore, signing_keys
from elearning_core.auth.ports import InvalidToken
from elearning_core.shared.clock import FixedClock

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
RELOAD = timedelta(seconds=30)
WINDOW = TTL + DEFAULT_LEEWAY + RELOAD  # how long a retired key verifies
SECRET = b"the settings secret of this deployment"
ISSUER = "https://learn.example.org"
AUDIENCE = "elearning-api"


class CountingStore(SigningKeyStore):
    """The SQL store, counting the loads (a reload is one load) and able to fail like an unreachable database."""

    def __init__(self, inner: SqlSigningKeyStore) -> None:
        self.inner = inner
        self.loads = 0
        self.failing = False

    async def load(self) -> list[SigningKey]:
        self.loads += 1
        if self.failing:
            raise ConnectionError("database unreachable")
        return await self.inner.load()

    async def ensure_active(self, algorithm: str) -> SigningKey:
        return await self.inner.ensure_active(algorithm)

    async def rotate(self, algorithm: str, *, older_than: timedelta | None = None) -> SigningKey:
        return await self.inner.rotate(algorithm, older_than=older_than)

    async def prune(self, retention: timedelta) -> list[str]:
        return await self.inner.prune(retention)


@dataclass
class Process:
    """What one server process holds: its database handle, its ring, its token service."""

    store: CountingStore
    keys: SharedKeyRing
    tokens: RefreshingTokenService


@pytest.fixture
async def db(database: Database) -> AsyncIterator[Database]:
    """The migrated database without stored keys, before and after: these tests store keys under secrets of
    their own, which a later test's platform on the shared database could not decrypt."""
    await _drop_keys(database)
    yield database
    await _drop_keys(database)


async def _drop_keys(database: Database) -> None:
    async with database.write() as conn:
        await conn.execute(delete(signing_keys))
        await conn.commit()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
async def handles(db: Database) -> AsyncIterator[list[Database]]:
    """Fresh handles on the same database, as other processes would open; disposed at the end."""
    opened: list[Database] = []
    yield opened
    for handle in opened:
        await handle.dispose()


def handle_on(db: Database, handles: list[Database]) -> Database:
    handle = Database(db.url.render_as_string(hide_password=False))
    handles.append(handle)
    return handle


def shared_ring(
    db: Database,
    clock: FixedClock,
    *,
    secret: bytes = SECRET,
    algorithm: str = "EdDSA",
    store: SigningKeyStore | None = None,
) -> SharedKeyRing:
    store = store or SqlSigningKeyStore(db, secret, clock=clock)
    return SharedKeyRing(store, algorithm=algorithm, access_ttl=TTL, reload_seconds=RELOAD.total_seconds(), clock=clock)


async def start_process(db: Database, clock: FixedClock, *, algorithm: str = "EdDSA") -> Process:
    store = CountingStore(SqlSigningKeyStore(db, SECRET, clock=clock))
    keys = shared_ring(db, clock, algorithm=algorithm, store=store)
    await keys.start()
    return Process(store, keys, RefreshingTokenService.create(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock))


async def stored_rows(db: Database) -> list[dict[str, object]]:
    async with db.read() as conn:
        query = select(signing_keys).order_by(signing_keys.c.created_at)
        return [dict(row) for row in (await conn.execute(query)).mappings()]


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_the_first_start_creates_exactly_one_key(db: Database, clock: FixedClock) -> None:
    assert await stored_rows(db) == []
    first = await start_process(db, clock)
    [row] = await stored_rows(db)
    assert (row["kid"], row["algorithm"], row["retired_at"]) == (first.keys.ring.active.kid, "EdDSA", None)
    assert row["created_at"] == T0
    assert row["public_jwk"] == first.keys.ring.active.public_jwk()

    clock.advance(timedelta(hours=1))
    again = await start_process(db, clock)
    assert again.keys.ring.active.kid == first.keys.ring.active.kid
    assert len(await stored_rows(db)) == 1


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
async def test_processes_starting_together_end_with_one_active_key(
    db: Database, handles: list[Database], clock: FixedClock, algorithm: str
) -> None:
    processes = [handle_on(db, handles) for _ in range(8)]
    for _ in range(4):  # several rounds: a check-then-insert without the lock loses some of them on PostgreSQL
        async with db.write() as conn:
            await conn.execute(delete(signing_keys))
            await conn.commit()
        rings = [shared_ring(handle, clock, algorithm=algorithm) for handle in processes]
        await asyncio.gather(*(ring.start() for ring in rings))

        rows = await stored_rows(db)
        assert len(rows) == 1
        assert rows[0]["retired_at"] is None
        assert {ring.ring.active.kid for ring in rings} == {rows[0]["kid"]}
        assert {ring.ring.algorithm for ring in rings} == {algorithm}


async def test_a_token_one_process_signs_verifies_in_another(
    db: Database, handles: list[Database], clock: FixedClock
) -> None:
    a = await start_process(handle_on(db, handles), clock)
    b = await start_process(handle_on(db, handles), clock)

    token = a.tokens.issue_access("user-1", scope=["courses:read"], session_id="session-9")
    got = b.tokens.verify_access(token)  # the synchronous hot path: no reload needed
    assert (got.subject, got.scope, got.session_id) == ("user-1", ("courses:read",), "session-9")
    assert (await b.tokens.verify_access_fresh(a.tokens.issue_access("user-2"))).subject == "user-2"
    assert a.tokens.jwks() == b.tokens.jwks()


async def test_rotation_new_kid_old_tokens_verify_for_the_window_then_prune(
    db: Database, handles: list[Database], clock: FixedClock
) -> None:
    a = await start_process(handle_on(db, handles), clock)
    b = await start_process(handle_on(db, handles), clock)
    old = a.keys.ring.active
    before = a.tokens.issue_access("user-1")

    clock.advance(timedelta(seconds=10))
    rotated_at = clock.now()
    new = await a.keys.rotate()
    assert new.kid != old.kid
    after = a.tokens.issue_access("user-2")
    assert (kid_of(before), kid_of(after)) == (old.kid, new.kid)

    # B has not reloaded yet: it still signs with the retired key, and does not know the new one.
    clock.advance(timedelta(seconds=19))  # 29 s after B's load: not stale yet
    stale_signed = b.tokens.issue_access("user-3")
    assert kid_of(stale_signed) == old.kid
    with pytest.raises(UnknownKeyId):
        b.tokens.verify_access(after)
    assert (await b.tokens.verify_access_fresh(after)).subject == "user-2"  # one reload, then it verifies
    assert kid_of(b.tokens.issue_access("user-4")) == new.kid

    rows = {row["kid"]: row for row in await stored_rows(db)}
    assert rows[old.kid]["retired_at"] == rotated_at
    assert rows[new.kid]["retired_at"] is None
    for process in (a, b):
        assert {k["kid"] for k in process.tokens.jwks()["keys"]} == {old.kid, new.kid}
    assert await a.keys.prune() == []  # nothing is past its window yet

    # The last token signed with the old key (by the stale process) lives until its expiry + leeway:
    # only a window that includes the reload period keeps its key that long.
    last_second = clock.now() + TTL + DEFAULT_LEEWAY - timedelta(seconds=1)
    assert last_second < rotated_at + WINDOW
    clock.advance(last_second - clock.now())
    for process in (a, b):
        await process.tokens.refresh_if_stale()
        assert process.tokens.verify_access(stale_signed).subject == "user-3"
    clock.advance(rotated_at + WINDOW - clock.now() - timedelta(microseconds=1))
    assert a.keys.ring.verification_key(old.kid) is not None

    clock.advance(timedelta(microseconds=1))  # the window ends: the old key verifies nothing more
    assert a.keys.ring.verification_key(old.kid) is None
    signed_now = jwt.encode(  # even a token the old key signs now, unexpired, is refused
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-5",
            "iat": int(clock.now().timestamp()),
            "exp": int((clock.now() + TTL).timestamp()),
            "jti": "j",
            "token_type": "access",
        },
        old.private_key,
        algorithm="EdDSA",
        headers={"kid": old.kid, "typ": "at+jwt"},
    )
    for process in (a, b):
        for token in (before, stale_signed, signed_now):
            with pytest.raises(InvalidToken):
                await process.tokens.verify_access_fresh(token)
    assert [k["kid"] for k in a.tokens.jwks()["keys"]] == [new.kid]

    assert await a.keys.prune() == [old.kid]
    assert [row["kid"] for row in await stored_rows(db)] == [new.kid]
    await b.keys.reload()
    for process in (a, b):
        assert [k.kid for k in process.keys.ring.keys] == [new.kid]
        assert [k["kid"] for k in process.tokens.jwks()["keys"]] == [new.kid]
    assert (await b.tokens.verify_access_fresh(a.tokens.issue_access("user-6"))).subject == "user-6"


async def test_rotating_only_when_the_active_key_is_old_enough(db: Database, clock: FixedClock) -> None:
    a = await start_process(db, clock)
    first = a.keys.ring.active
    clock.advance(timedelta(days=29))
    assert (await a.keys.rotate(older_than=timedelta(days=30))).kid == first.kid
    assert len(await stored_rows(db)) == 1
    clock.advance(timedelta(days=1))
    second = await a.keys.rotate(older_than=timedelta(days=30))
    assert second.kid != first.kid
    assert [(row["kid"], row["retired_at"]) for row in await stored_rows(db)] == [
        (first.kid, clock.now()),
        (second.kid, None),
    ]


async def test_the_private_key_is_not_readable_in_the_table(db: Database, clock: FixedClock) -> None:
    a = await start_process(db, clock, algorithm="ES256")
    await a.keys.rotate()
    await a.keys.rotate()
    rows = await stored_rows(db)
    keys = {key.kid: key for key in a.keys.ring.keys}
    assert len(rows) == len(keys) == 3
    for row in rows:
        key = keys[str(row["kid"])]
        blob = row["private_key"]
        assert isinstance(blob, bytes)
        d = key.private_jwk()["d"]
        der = key.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        for secret in (key.private_pem(), der, d.encode(), base64.urlsafe_b64decode(d + "=" * (-len(d) % 4))):
            assert secret not in blob
        assert b"PRIVATE" not in blob
        assert "d" not in row["public_jwk"]  # type: ignore[operator]
        assert len(blob) == 12 + len(key.private_pem()) + 16  # nonce + ciphertext + GCM tag
    assert len({bytes(row["private_key"][:12]) for row in rows}) == 3  # type: ignore[index]  # a fresh nonce each


async def test_a_different_secret_cannot_decrypt_the_keys(db: Database, clock: FixedClock) -> None:
    await start_process(db, clock)
    with pytest.raises(KeyStoreError) as refused:
        await SqlSigningKeyStore(db, b"another secret", clock=clock).load()
    assert str(refused.value) == UNDECRYPTABLE
    assert "ELEARNING_SECRET_KEY" in UNDECRYPTABLE
    with pytest.raises(KeyStoreError, match="cannot be decrypted"):
        await shared_ring(db, clock, secret=b"another secret").start()


async def test_a_blob_moved_to_another_row_does_not_decrypt(db: Database, clock: FixedClock) -> None:
    """The kid is the ciphertext's associated data: swapping private keys between rows is detected."""
    a = await start_process(db, clock)
    await a.keys.rotate()
    first, second = await stored_rows(db)
    async with db.write() as conn:
        await conn.execute(
            update(signing_keys).where(signing_keys.c.kid == first["kid"]).values(private_key=second["private_key"])
        )
        await conn.commit()
    with pytest.raises(KeyStoreError):
        await SqlSigningKeyStore(db, SECRET, clock=clock).load()


async def test_an_unknown_kid_triggers_one_reload_at_most_every_five_seconds(
    db: Database, handles: list[Database], clock: FixedClock
) -> None:
    a = await start_process(handle_on(db, handles), clock)
    b = await start_process(handle_on(db, handles), clock)
    forger = SigningKey.generate(now=T0)
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "iat": 0, "exp": 0, "jti": "j", "token_type": "access"},
        forger.private_key,
        algorithm="EdDSA",
        headers={"kid": forger.kid, "typ": "at+jwt"},
    )
    loads = b.store.loads
    for _ in range(3):
        with pytest.raises(InvalidToken):
            await b.tokens.verify_access_fresh(forged)
    assert b.store.loads == loads + 1  # one reload; the other two were rate-limited

    await a.keys.rotate()  # a genuine new kid, within the same 5 s: B cannot reload for it yet
    genuine = a.tokens.issue_access("user-1")
    with pytest.raises(UnknownKeyId):
        await b.tokens.verify_access_fresh(genuine)
    assert b.store.loads == loads + 1

    clock.advance(timedelta(seconds=5))
    assert (await b.tokens.verify_access_fresh(genuine)).subject == "user-1"
    assert b.store.loads == loads + 2
    assert (await b.tokens.verify_access_fresh(genuine)).subject == "user-1"  # known now: no reload
    assert b.store.loads == loads + 2


async def test_concurrent_unknown_kid_verifications_share_one_reload(
    db: Database, handles: list[Database], clock: FixedClock
) -> None:
    a = await start_process(handle_on(db, handles), clock)
    b = await start_process(handle_on(db, handles), clock)
    await a.keys.rotate()
    tokens = [a.tokens.issue_access(f"user-{i}") for i in range(8)]
    loads = b.store.loads
    claims = await asyncio.gather(*(b.tokens.verify_access_fresh(t) for t in tokens))
    assert [c.subject for c in claims] == [f"user-{i}" for i in range(8)]
    assert b.store.loads == loads + 1


async def test_a_stale_ring_reloads_once_per_period(db: Database, clock: FixedClock) -> None:
    a = await start_process(db, clock)
    loads = a.store.loads
    assert not await a.keys.refresh_if_stale()
    clock.advance(RELOAD - timedelta(microseconds=1))
    assert not await a.keys.refresh_if_stale()
    assert a.store.loads == loads

    clock.advance(timedelta(microseconds=1))
    assert sum(await asyncio.gather(*(a.keys.refresh_if_stale() for _ in range(5)))) == 1
    assert a.store.loads == loads + 1
    assert not await a.keys.refresh_if_stale()


async def test_verification_outlives_a_database_outage(db: Database, clock: FixedClock) -> None:
    """A reload that fails leaves the keys loaded before in place, and is retried only after a pause."""
    a = await start_process(db, clock)
    token = a.tokens.issue_access("user-1")
    clock.advance(RELOAD)
    a.store.failing = True
    loads = a.store.loads
    with pytest.raises(ConnectionError):
        await a.keys.refresh_if_stale()
    for _ in range(3):
        assert (await a.tokens.verify_access_fresh(token)).subject == "user-1"
    assert a.store.loads == loads + 1  # the failed reload is not retried on every request

    clock.advance(timedelta(seconds=5))
    a.store.failing = False
    assert (await a.tokens.verify_access_fresh(token)).subject == "user-1"
    assert a.store.loads == loads + 2


async def test_the_token_service_must_cover_the_reload_period(db: Database, clock: FixedClock) -> None:
    keys = shared_ring(db, clock)
    with pytest.raises(RuntimeError, match="not started"):
        _ = keys.ring
    await keys.start()
    assert keys.retention == WINDOW
    longer = JwtTokenService(keys.ring, issuer=ISSUER, audience=AUDIENCE, access_ttl=TTL + RELOAD, clock=clock)
    with pytest.raises(ValueError, match="reload period"):
        RefreshingTokenService(longer, keys)
