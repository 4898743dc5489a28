"""Records written at once in the unit of work's transaction: one-time tokens, external identities,
login sessions with their refresh tokens, pending external logins.

The single-use ones are spent by one atomic statement each (``UPDATE ... WHERE
used_at IS NULL``, ``DELETE ... RETURNING``): of two concurrent units of work,
the second waits on the row lock, then matches nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import insert_ignoring_duplicates
from elearning_adapters.sql.identity._tables import (
    external_identities,
    login_sessions,
    one_time_tokens,
    pending_logins,
    refresh_tokens,
)
from elearning_core.auth.ports import (
    LoginSession,
    PendingLogin,
    PendingLoginRepository,
    RefreshTokenRecord,
    SessionRepository,
)
from elearning_core.identity.model import ExternalIdentity, OneTimeToken, TokenPurpose
from elearning_core.identity.ports import ExternalIdentityRepository, OneTimeTokenRepository
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ids import UserId


class SqlOneTimeTokenRepository(OneTimeTokenRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, token: OneTimeToken) -> None:
        await self._conn.execute(
            insert(one_time_tokens).values(
                digest=token.digest,
                purpose=token.purpose.value,
                user_id=token.user_id,
                created_at=token.created_at,
                expires_at=token.expires_at,
                used_at=token.used_at,
                new_email=token.new_email,
            )
        )

    async def consume(self, digest: str, purpose: TokenPurpose, at: datetime) -> UserId | None:
        row = await self._consume(digest, purpose, at)
        return UserId(row[0]) if row is not None else None

    async def consume_email_change(self, digest: str, at: datetime) -> tuple[UserId, str] | None:
        row = await self._consume(digest, TokenPurpose.EMAIL_CHANGE, at)
        if row is None or row[1] is None:
            return None
        # A spent token keeps no address: only its digest and purpose remain (an account deleted later
        # leaves none of its addresses behind here).
        await self._conn.execute(
            update(one_time_tokens).where(one_time_tokens.c.digest == digest).values(new_email=None)
        )
        return UserId(row[0]), str(row[1])

    async def _consume(self, digest: str, purpose: TokenPurpose, at: datetime) -> Any:
        # One statement: a concurrent consumer blocks on the row lock, then finds used_at set and gets nothing.
        stmt = (
            update(one_time_tokens)
            .where(
                one_time_tokens.c.digest == digest,
                one_time_tokens.c.purpose == purpose.value,
                one_time_tokens.c.used_at.is_(None),
                one_time_tokens.c.expires_at > at,
            )
            .values(used_at=at)
            .returning(one_time_tokens.c.user_id, one_time_tokens.c.new_email)
        )
        return (await self._conn.execute(stmt)).one_or_none()

    async def revoke_all(self, user_id: uuid.UUID, purpose: TokenPurpose, at: datetime) -> int:
        result = await self._conn.execute(
            update(one_time_tokens)
            .where(
                one_time_tokens.c.user_id == user_id,
                one_time_tokens.c.purpose == purpose.value,
                one_time_tokens.c.used_at.is_(None),
            )
            .values(used_at=at, new_email=None)
        )
        return int(result.rowcount)


EXTERNAL_IDENTITY_TAKEN = "this external account is already linked to another user"


class SqlExternalIdentityRepository(ExternalIdentityRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def find(self, issuer: str, subject: str) -> UserId | None:
        query = select(external_identities.c.user_id).where(
            external_identities.c.issuer == issuer, external_identities.c.subject == subject
        )
        user_id = (await self._conn.execute(query)).scalar_one_or_none()
        return UserId(user_id) if user_id is not None else None

    async def link(self, identity: ExternalIdentity, user_id: uuid.UUID, at: datetime) -> None:
        """Idempotent for the same user; a Conflict when the identity belongs to someone else."""
        stmt = (
            insert_ignoring_duplicates(self._conn, external_identities)
            .values(
                issuer=identity.issuer,
                subject=identity.subject,
                provider=identity.provider,
                user_id=user_id,
                linked_at=at,
            )
            .returning(external_identities.c.user_id)
        )
        if (await self._conn.execute(stmt)).first() is not None:
            return
        if await self.find(identity.issuer, identity.subject) != user_id:
            raise Conflict(EXTERNAL_IDENTITY_TAKEN)

    async def links_of(self, user_id: uuid.UUID) -> list[tuple[str, str]]:
        query = (
            select(external_identities.c.provider, external_identities.c.issuer)
            .where(external_identities.c.user_id == user_id)
            .order_by(external_identities.c.provider, external_identities.c.issuer)
        )
        return [(r.provider, r.issuer) for r in await self._conn.execute(query)]

    async def unlink_all(self, user_id: uuid.UUID) -> int:
        result = await self._conn.execute(delete(external_identities).where(external_identities.c.user_id == user_id))
        return int(result.rowcount)


def _session_from(row: Any) -> LoginSession:
    return LoginSession(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        kind=row.kind,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


class SqlSessionRepository(SessionRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create(self, session: LoginSession, first_digest: str) -> None:
        await self._conn.execute(
            insert(login_sessions).values(
                id=session.id,
                user_id=session.user_id,
                kind=session.kind,
                created_at=session.created_at,
                expires_at=session.expires_at,
                revoked_at=session.revoked_at,
                revoked_reason=session.revoked_reason,
            )
        )
        await self.add_token(session.id, first_digest, session.created_at)

    async def get(self, session_id: uuid.UUID) -> LoginSession | None:
        row = (await self._conn.execute(select(login_sessions).where(login_sessions.c.id == session_id))).first()
        return _session_from(row) if row is not None else None

    async def find_token(self, digest: str) -> RefreshTokenRecord | None:
        query = (
            select(login_sessions, refresh_tokens.c.digest, refresh_tokens.c.issued_at, refresh_tokens.c.used_at)
            .join(refresh_tokens, refresh_tokens.c.session_id == login_sessions.c.id)
            .where(refresh_tokens.c.digest == digest)
        )
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return RefreshTokenRecord(
            digest=row.digest, session=_session_from(row), issued_at=row.issued_at, used_at=row.used_at
        )

    async def use_token(self, digest: str, at: datetime) -> bool:
        # One statement: of two concurrent uses, the second waits on the row lock, then matches nothing.
        result = await self._conn.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.digest == digest, refresh_tokens.c.used_at.is_(None))
            .values(used_at=at)
        )
        return result.rowcount == 1

    async def add_token(self, session_id: uuid.UUID, digest: str, at: datetime) -> None:
        await self._conn.execute(insert(refresh_tokens).values(digest=digest, session_id=session_id, issued_at=at))

    async def revoke(self, session_id: uuid.UUID, at: datetime, reason: str) -> bool:
        result = await self._conn.execute(
            update(login_sessions)
            .where(login_sessions.c.id == session_id, login_sessions.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason[:200])
        )
        return result.rowcount == 1

    async def revoke_all_of(self, user_id: uuid.UUID, at: datetime, reason: str) -> int:
        """End every session of the user still active at ``at``; the count of sessions ended."""
        result = await self._conn.execute(
            update(login_sessions)
            .where(
                login_sessions.c.user_id == user_id,
                login_sessions.c.revoked_at.is_(None),
                login_sessions.c.expires_at > at,
            )
            .values(revoked_at=at, revoked_reason=reason[:200])
        )
        return int(result.rowcount)


class SqlPendingLoginRepository(PendingLoginRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def put(self, pending: PendingLogin) -> None:
        await self._conn.execute(
            insert(pending_logins).values(
                state_digest=pending.state_digest,
                provider=pending.provider,
                code_verifier=pending.code_verifier,
                nonce=pending.nonce,
                return_to=pending.return_to,
                expires_at=pending.expires_at,
            )
        )

    async def take(self, state_digest: str, at: datetime) -> PendingLogin | None:
        # DELETE ... RETURNING: of two callbacks with one state, one gets the row; an expired one is dropped too.
        stmt = delete(pending_logins).where(pending_logins.c.state_digest == state_digest).returning(*pending_logins.c)
        row = (await self._conn.execute(stmt)).first()
        if row is None or row.expires_at <= at:
            return None
        return PendingLogin(
            state_digest=row.state_digest,
            provider=row.provider,
            code_verifier=row.code_verifier,
            nonce=row.nonce,
            return_to=row.return_to,
            expires_at=row.expires_at,
        )
