"""Certificate tables, repositories, the credential key store and signer, and the narrow reads.

At most one active credential per learner and award is the partial unique index
``uq_credentials_active`` (``revoked_at IS NULL``) on both backends, not only a check:
two deliveries of one completion racing past ``active_for`` cannot both commit.
``status_index`` is unique too, so two issues racing for the next status-list bit
cannot share it (the loser's transaction fails and its event is retried).

A credential is inserted when it is added (in a savepoint), not at commit, so the
unique index's refusal reaches the issuing use case at once as ``ActiveCredentialExists``
and it answers with the credential that won; the rest of its transaction stands.

The repositories and the signer are part of ``SqlUnitOfWork`` (``sql/uow.py``), the one
unit of work every module's view is served by; its ``commit`` appends the events of the
credentials added or revoked to the outbox.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.security.credentials import (
    CredentialKey,
    CredentialKeyUrls,
    public_jwk,
    sign_vc_jwt,
    verify_vc_jwt,
)
from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.learning_path import learning_paths
from elearning_adapters.sql.signing_keys import KeySealer
from elearning_core.certificate.model import STATUS_LIST_SIZE, Award, Credential, SubjectKind
from elearning_core.certificate.ports import (
    ActiveCredentialExists,
    AwardRepository,
    CredentialRepository,
    CredentialSigner,
    CredentialVerifier,
    LearnerNames,
    PendingCompletions,
    Signed,
    SubjectTitles,
)
from elearning_core.certificate.ports import (
    CredentialKey as ListKey,
)
from elearning_core.course.gating import PublishedOutlines
from elearning_core.learning_path.model import PathStatus
from elearning_core.shared.clock import Clock, SystemClock
from elearning_core.shared.errors import Conflict

CREDENTIAL_KEYS_INFO = b"elearning credential keys"
ACTIVE_EXISTS = "the learner already holds an active certificate for this award"
_PG_LOCK_ID = int.from_bytes(hashlib.sha256(b"elearning.credential_keys").digest()[:8], "big", signed=True)

certificate_awards = Table(
    "certificate_awards",
    metadata,
    Column("subject_kind", String(10), primary_key=True),
    Column("subject_id", Uuid, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("available_from", UtcDateTime, nullable=True),
    Column("valid_days", Integer, nullable=True),
    Column("template", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("subject_kind", String(10), nullable=False),
    Column("subject_id", Uuid, nullable=False),
    Column("learner_name", String(100), nullable=False),
    Column("subject_title", String(300), nullable=False),
    Column("status_index", BigInteger, nullable=False, unique=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime, nullable=True),
    Column("kid", String(200), nullable=False),
    Column("jwt", Text, nullable=False),
    Column("replaces", Uuid, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_reason", String(500), nullable=True),
)
Index(
    "uq_credentials_active",
    credentials.c.user_id,
    credentials.c.subject_kind,
    credentials.c.subject_id,
    unique=True,
    postgresql_where=credentials.c.revoked_at.is_(None),
    sqlite_where=credentials.c.revoked_at.is_(None),
)
Index("ix_credentials_user_issued", credentials.c.user_id, credentials.c.issued_at, credentials.c.id)
Index(
    "ix_credentials_subject_issued",
    credentials.c.subject_kind,
    credentials.c.subject_id,
    credentials.c.issued_at,
    credentials.c.id,
)
Index("ix_credentials_replaces", credentials.c.replaces)

certificate_pending = Table(
    "certificate_pending",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("subject_kind", String(10), primary_key=True),
    Column("subject_id", Uuid, primary_key=True),
    Column("completed_at", UtcDateTime, nullable=False),
)

credential_keys = Table(
    "credential_keys",
    metadata,
    Column("kid", String(100), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False),  # KeySealer: nonce + AES-256-GCM(PKCS#8 PEM)
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime, nullable=True),
)


# -- repositories ----------------------------------------------------------------------------


class SqlAwardRepository(AwardRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, kind: SubjectKind, subject_id: uuid.UUID) -> Award | None:
        query = select(certificate_awards).where(
            certificate_awards.c.subject_kind == kind.value, certificate_awards.c.subject_id == subject_id
        )
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return Award(
            kind,
            subject_id,
            enabled=row.enabled,
            available_from=row.available_from,
            valid_days=row.valid_days,
            template=row.template,
            updated_at=row.updated_at,
        )

    async def save(self, award: Award) -> None:
        values = {
            "enabled": award.enabled,
            "available_from": award.available_from,
            "valid_days": award.valid_days,
            "template": award.template,
            "updated_at": award.updated_at,
        }
        where = and_(
            certificate_awards.c.subject_kind == award.kind.value, certificate_awards.c.subject_id == award.subject_id
        )
        updated = await self._conn.execute(update(certificate_awards).where(where).values(values))
        if updated.rowcount == 0:
            await self._conn.execute(
                insert(certificate_awards).values(subject_kind=award.kind.value, subject_id=award.subject_id, **values)
            )


def _credential(row: Any) -> Credential:
    return Credential(
        id=row.id,
        user_id=row.user_id,
        kind=SubjectKind(row.subject_kind),
        subject_id=row.subject_id,
        learner_name=row.learner_name,
        subject_title=row.subject_title,
        status_index=row.status_index,
        issued_at=row.issued_at,
        valid_until=row.valid_until,
        kid=row.kid,
        jwt=row.jwt,
        replaces=row.replaces,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


class SqlCredentialRepository(CredentialRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: list[Credential] = []

    def seen(self) -> list[Credential]:
        return list(self._seen)

    def _see(self, credential: Credential) -> None:
        if all(c is not credential for c in self._seen):  # added, then revoked: its events once
            self._seen.append(credential)

    async def get(self, credential_id: uuid.UUID) -> Credential | None:
        row = (await self._conn.execute(select(credentials).where(credentials.c.id == credential_id))).first()
        return None if row is None else _credential(row)

    async def active_for(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID) -> Credential | None:
        query = select(credentials).where(
            credentials.c.user_id == user_id,
            credentials.c.subject_kind == kind.value,
            credentials.c.subject_id == subject_id,
            credentials.c.revoked_at.is_(None),
        )
        row = (await self._conn.execute(query)).first()
        return None if row is None else _credential(row)

    async def active_of_user(self, user_id: uuid.UUID) -> list[Credential]:
        query = (
            select(credentials)
            .where(credentials.c.user_id == user_id, credentials.c.revoked_at.is_(None))
            .order_by(credentials.c.issued_at, credentials.c.id)
        )
        return [_credential(r) for r in (await self._conn.execute(query)).all()]

    async def add(self, credential: Credential) -> None:
        values = {
            "id": credential.id,
            "user_id": credential.user_id,
            "subject_kind": credential.kind.value,
            "subject_id": credential.subject_id,
            "learner_name": credential.learner_name[:100],
            "subject_title": credential.subject_title[:300],
            "status_index": credential.status_index,
            "issued_at": credential.issued_at,
            "valid_until": credential.valid_until,
            "kid": credential.kid,
            "jwt": credential.jwt,
            "replaces": credential.replaces,
            "revoked_at": credential.revoked_at,
            "revoked_reason": credential.revoked_reason,
        }
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(insert(credentials).values(values))
        except IntegrityError as exc:
            if "status_index" in str(exc.orig).lower():
                raise Conflict("two certificates were issued at once; try again") from None
            raise ActiveCredentialExists(ACTIVE_EXISTS) from None
        self._see(credential)

    async def save(self, credential: Credential) -> None:
        await self._conn.execute(
            update(credentials)
            .where(credentials.c.id == credential.id)
            .values(revoked_at=credential.revoked_at, revoked_reason=credential.revoked_reason)
        )
        self._see(credential)

    async def next_status_index(self) -> int:
        highest = (await self._conn.execute(select(func.max(credentials.c.status_index)))).scalar()
        return 0 if highest is None else int(highest) + 1

    async def revoked_positions(self, list_number: int) -> list[int]:
        low, high = (list_number - 1) * STATUS_LIST_SIZE, list_number * STATUS_LIST_SIZE
        query = select(credentials.c.status_index).where(
            credentials.c.status_index >= low,
            credentials.c.status_index < high,
            credentials.c.revoked_at.is_not(None),
        )
        return [int(i) - low for i in (await self._conn.execute(query)).scalars()]

    async def replaced_by(self, credential_id: uuid.UUID) -> uuid.UUID | None:
        query = select(credentials.c.id).where(credentials.c.replaces == credential_id).limit(1)
        value = (await self._conn.execute(query)).scalar()
        return None if value is None else uuid.UUID(str(value))

    async def of_user(self, user_id: uuid.UUID, after: ListKey | None, limit: int) -> list[Credential]:
        return await self._newest_first(credentials.c.user_id == user_id, after, limit)

    async def of_subject(
        self, kind: SubjectKind, subject_id: uuid.UUID, after: ListKey | None, limit: int
    ) -> list[Credential]:
        where = and_(credentials.c.subject_kind == kind.value, credentials.c.subject_id == subject_id)
        return await self._newest_first(where, after, limit)

    async def _newest_first(self, where: Any, after: ListKey | None, limit: int) -> list[Credential]:
        query = select(credentials).where(where)
        if after is not None:
            at, last_id = after
            query = query.where(
                or_(credentials.c.issued_at < at, and_(credentials.c.issued_at == at, credentials.c.id < last_id))
            )
        query = query.order_by(credentials.c.issued_at.desc(), credentials.c.id.desc()).limit(limit)
        return [_credential(r) for r in (await self._conn.execute(query)).all()]


class SqlPendingCompletions(PendingCompletions):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    def _where(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID) -> Any:
        return and_(
            certificate_pending.c.user_id == user_id,
            certificate_pending.c.subject_kind == kind.value,
            certificate_pending.c.subject_id == subject_id,
        )

    async def add(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID, at: datetime) -> None:
        found = await self._conn.execute(
            select(certificate_pending.c.user_id).where(self._where(user_id, kind, subject_id))
        )
        if found.first() is None:
            await self._conn.execute(
                insert(certificate_pending).values(
                    user_id=user_id, subject_kind=kind.value, subject_id=subject_id, completed_at=at
                )
            )

    async def due(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, SubjectKind, uuid.UUID]]:
        a, p = certificate_awards, certificate_pending
        query = (
            select(p.c.user_id, p.c.subject_kind, p.c.subject_id)
            .join(a, and_(a.c.subject_kind == p.c.subject_kind, a.c.subject_id == p.c.subject_id))
            .where(a.c.enabled.is_(True), or_(a.c.available_from.is_(None), a.c.available_from <= now))
            .order_by(p.c.completed_at)
            .limit(limit)
        )
        return [(r.user_id, SubjectKind(r.subject_kind), r.subject_id) for r in (await self._conn.execute(query))]

    async def remove(self, user_id: uuid.UUID, kind: SubjectKind, subject_id: uuid.UUID) -> None:
        await self._conn.execute(delete(certificate_pending).where(self._where(user_id, kind, subject_id)))


# -- keys ----------------------------------------------------------------------------------------


class SqlCredentialKeys:
    """The credential key set: created on first use, loaded and cached (decrypting an RSA key costs)."""

    def __init__(self, database: Database, secret: bytes, public_base_url: str, *, clock: Clock | None = None) -> None:
        self._db = database
        self._sealer = KeySealer(secret, CREDENTIAL_KEYS_INFO)
        self.urls = CredentialKeyUrls(public_base_url)
        self._clock = clock or SystemClock()
        self._cache: dict[str, CredentialKey] = {}

    async def active(self, conn: AsyncConnection) -> CredentialKey:
        """The signing key, in the caller's transaction; the first one is created there when none exists."""
        row = await self._active_row(conn)
        if row is None:
            if not self._db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            row = await self._active_row(conn)
        if row is None:
            key = CredentialKey.generate(self._clock.now())
            await conn.execute(
                insert(credential_keys).values(
                    kid=key.kid,
                    algorithm="RS256",
                    private_key=self._sealer.seal(key.kid, key.private_pem()),
                    public_jwk=key.public_jwk(key.kid),
                    created_at=key.created_at,
                    retired_at=None,
                )
            )
            self._cache[key.kid] = key
            return key
        return self._decrypt(row)

    async def _active_row(self, conn: AsyncConnection) -> Any:
        query = (
            select(credential_keys)
            .where(credential_keys.c.retired_at.is_(None))
            .order_by(credential_keys.c.created_at.desc(), credential_keys.c.kid)
            .limit(1)
        )
        return (await conn.execute(query)).first()

    def _decrypt(self, row: Any) -> CredentialKey:
        cached = self._cache.get(row.kid)
        if cached is not None:
            return cached
        pem = self._sealer.open(row.kid, row.private_key)
        key = CredentialKey.from_pem(row.kid, pem, row.created_at, row.retired_at)
        self._cache[row.kid] = key
        return key

    async def public_keys(self) -> dict[str, rsa.RSAPublicKey]:
        """Every key, active and retired (none is ever pruned), by kid."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(credential_keys).order_by(credential_keys.c.created_at))).all()
        return {row.kid: self._decrypt(row).private_key.public_key() for row in rows}


class SqlCredentialSigner(CredentialSigner):
    """Signs in the unit of work's transaction (the first key is created there when none exists)."""

    def __init__(self, keys: SqlCredentialKeys | None, conn: AsyncConnection) -> None:
        self._keys, self._conn = keys, conn

    async def sign(self, claims: Mapping[str, Any]) -> Signed:
        if self._keys is None:
            raise RuntimeError("this unit of work was built without the credential keys: it cannot sign")
        key = await self._keys.active(self._conn)
        return Signed(sign_vc_jwt(claims, key, self._keys.urls), key.kid)


class SqlCredentialVerifier(CredentialVerifier):
    def __init__(self, keys: SqlCredentialKeys) -> None:
        self._keys = keys

    async def verify(self, token: str) -> dict[str, Any]:
        return verify_vc_jwt(token, await self._keys.public_keys(), self._keys.urls)

    async def jwks(self) -> dict[str, Any]:
        keys = await self._keys.public_keys()
        return {"keys": [self._jwk(kid, public) for kid, public in keys.items()]}

    async def jwk(self, kid: str) -> dict[str, Any] | None:
        public = (await self._keys.public_keys()).get(kid)
        return None if public is None else self._jwk(kid, public)

    def _jwk(self, kid: str, public: rsa.RSAPublicKey) -> dict[str, Any]:
        return public_jwk(public, self._keys.urls.url(kid))


# -- narrow reads of other modules ----------------------------------------------------------------


class SqlLearnerNames(LearnerNames):
    """Reads the identity module's ``users`` table: the display name of an account not deleted."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def name_of(self, user_id: uuid.UUID) -> str | None:
        query = select(users.c.display_name).where(users.c.id == user_id, users.c.deleted_at.is_(None))
        async with self._db.read() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else str(value)


class SqlPathTitles:
    """The learning path module's titles: a path's title once it was published (archived paths keep theirs)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def title_of(self, path_id: uuid.UUID) -> str | None:
        query = select(learning_paths.c.title).where(
            learning_paths.c.id == path_id, learning_paths.c.status != PathStatus.DRAFT.value
        )
        async with self._db.read() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else str(value)


class SqlSubjectTitles(SubjectTitles):
    """Course titles from the course module's published outlines; path titles from ``paths``."""

    def __init__(self, outlines: PublishedOutlines, paths: SqlPathTitles) -> None:
        self._outlines, self._paths = outlines, paths

    async def title_of(self, kind: SubjectKind, subject_id: uuid.UUID) -> str | None:
        if kind is SubjectKind.COURSE:
            outline = await self._outlines.published_outline(subject_id)
            return None if outline is None else outline.title
        return await self._paths.title_of(subject_id)


__all__ = [
    "SqlAwardRepository",
    "SqlCredentialKeys",
    "SqlCredentialRepository",
    "SqlCredentialSigner",
    "SqlCredentialVerifier",
    "SqlLearnerNames",
    "SqlPendingCompletions",
    "SqlSubjectTitles",
    "certificate_awards",
    "certificate_pending",
    "credential_keys",
    "credentials",
]
