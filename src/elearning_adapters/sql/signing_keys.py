"""The token signing keys, shared by every process through the database, private parts encrypted at rest.

Each row is one key of the ring: the private key as PKCS#8 PEM sealed with
AES-256-GCM (key = HKDF-SHA256 of the settings secret, a random 12-byte nonce
in front, the kid as associated data so a blob cannot be moved to another row),
and the public JWK in clear for inspection. A database dump alone signs nothing.

Writes that decide which key is active (``ensure_active``, ``rotate``) are one
transaction each and serialised between processes: on PostgreSQL by a
transaction-scoped advisory lock taken before the active key is read, on SQLite
by its single writer (``BEGIN IMMEDIATE``). So two processes starting together
create one key: the second waits for the lock, then finds the first one's key.
"""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import JSON, Column, LargeBinary, String, Table, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.security.keystore import KeyStoreError, SigningKeyStore
from elearning_adapters.security.tokens import SUPPORTED_ALGORITHMS, SigningKey
from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_core.shared.clock import Clock, SystemClock

HKDF_INFO = b"elearning signing keys"
NONCE_BYTES = 12
UNDECRYPTABLE = "the signing keys cannot be decrypted: ELEARNING_SECRET_KEY differs from the one that stored them"
# One fixed advisory-lock id for every write that decides the active key.
_PG_LOCK_ID = int.from_bytes(hashlib.sha256(b"elearning.signing_keys").digest()[:8], "big", signed=True)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(100), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False),  # nonce + AES-256-GCM(PKCS#8 PEM), kid as associated data
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime, nullable=True),
)


class KeySealer:
    """Encrypts private keys at rest: AES-256-GCM, key = HKDF-SHA256(secret, info), the kid as associated data.

    ``info`` names the purpose, so each key set (access tokens, credentials) has its own encryption key."""

    def __init__(self, secret: bytes, info: bytes = HKDF_INFO) -> None:
        if not secret:
            raise ValueError("the signing keys need a non-empty secret to be encrypted with")
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret))

    def seal(self, kid: str, pem: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, pem, kid.encode())

    def open(self, kid: str, blob: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], kid.encode())
        except (InvalidTag, ValueError) as exc:
            raise KeyStoreError(UNDECRYPTABLE) from exc


class SqlSigningKeyStore(SigningKeyStore):
    def __init__(self, database: Database, secret: bytes, *, clock: Clock | None = None) -> None:
        self._db = database
        self._sealer = KeySealer(secret)
        self._clock = clock or SystemClock()

    async def load(self) -> list[SigningKey]:
        query = select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [self._decrypt(row) for row in rows]

    async def ensure_active(self, algorithm: str) -> SigningKey:
        _check(algorithm)
        async with self._db.write() as conn:
            await self._serialise(conn)
            row = await self._active_row(conn)
            if row is not None:
                await conn.rollback()
                return self._decrypt(row)
            key = SigningKey.generate(algorithm, now=self._clock.now())
            await conn.execute(insert(signing_keys).values(self._row(key)))
            await conn.commit()
            return key

    async def rotate(self, algorithm: str, *, older_than: timedelta | None = None) -> SigningKey:
        _check(algorithm)
        async with self._db.write() as conn:
            await self._serialise(conn)
            now = self._clock.now()
            if older_than is not None:
                row = await self._active_row(conn)
                if row is not None and now - row["created_at"] < older_than:
                    await conn.rollback()
                    return self._decrypt(row)
            key = SigningKey.generate(algorithm, now=now)
            await conn.execute(update(signing_keys).where(signing_keys.c.retired_at.is_(None)).values(retired_at=now))
            await conn.execute(insert(signing_keys).values(self._row(key)))
            await conn.commit()
            return key

    async def prune(self, retention: timedelta) -> list[str]:
        # A key verifies while now < retired_at + retention (``KeyRing``): at the cutoff it is done.
        cutoff = self._clock.now() - retention
        expired = signing_keys.c.retired_at.is_not(None) & (signing_keys.c.retired_at <= cutoff)
        async with self._db.write() as conn:
            kids = list((await conn.execute(select(signing_keys.c.kid).where(expired))).scalars())
            if kids:
                await conn.execute(delete(signing_keys).where(signing_keys.c.kid.in_(kids)))
            await conn.commit()
            return kids

    async def _serialise(self, conn: AsyncConnection) -> None:
        """Queue behind any other process deciding the active key (SQLite's write lock already does)."""
        if not self._db.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})

    async def _active_row(self, conn: AsyncConnection) -> Any:
        query = (
            select(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
            .limit(1)
        )
        return (await conn.execute(query)).mappings().first()

    def _row(self, key: SigningKey) -> dict[str, Any]:
        sealed = self._sealer.seal(key.kid, key.private_pem())
        return {
            "kid": key.kid,
            "algorithm": key.algorithm,
            "private_key": sealed,
            "public_jwk": key.public_jwk(),
            "created_at": key.created_at,
            "retired_at": key.retired_at,
        }

    def _decrypt(self, row: Any) -> SigningKey:
        pem = self._sealer.open(row["kid"], row["private_key"])
        key = SigningKey.from_pem(row["kid"], pem, created_at=row["created_at"], retired_at=row["retired_at"])
        if key.algorithm != row["algorithm"] or key.public_jwk() != row["public_jwk"]:
            raise KeyStoreError(f"the stored signing key {row['kid']} does not match its public key or algorithm")
        return key


def _check(algorithm: str) -> None:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}")
