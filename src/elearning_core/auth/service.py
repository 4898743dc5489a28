"""Authentication use cases: sign-in by password or external provider, sessions, and who a token is.

A sign-in starts a session: a refresh-token family. The client holds a
short-lived access token (a JWT the ``TokenService`` signs, naming the session
in ``sid``) and an opaque refresh token, of which only the digest is stored.
Each refresh rotates the refresh token; presenting one that was already used
means two parties hold it, so the whole family is revoked and both must sign
in again (OAuth 2.0 Security BCP, refresh token rotation).

Every request's access token is checked against the session and the user's
current status and grants in one query, so logout, suspension and a revoked
role take effect on the next request, not when the token expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from elearning_core.auth.model import Grant
from elearning_core.auth.ports import (
    AuthUnitOfWork,
    ExternalSignInError,
    InvalidToken,
    LoginSession,
    OidcProvider,
    PendingLogin,
    PrincipalQueries,
    RateLimiter,
    ReloadingTokenService,
    TokenService,
)
from elearning_core.identity.model import (
    DISPLAY_NAME_MAX,
    ExternalIdentity,
    User,
    UserStatus,
    check_email,
    email_key,
)
from elearning_core.identity.ports import PasswordHasher
from elearning_core.identity.service import Throttle, throttle, token_digest
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.ids import UserId, new_uuid
from elearning_core.shared.ports import Principal

WRONG_CREDENTIALS = "the email or the password is not correct"
SESSION_ENDED = "the session has ended; sign in again"
USER_SUBJECT_PREFIX = "user:"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    access_ttl: timedelta = timedelta(minutes=10)
    refresh_ttl: timedelta = timedelta(days=14)
    """How long one refresh token stays usable: a session idle longer than this ends."""
    session_lifetime: timedelta = timedelta(days=90)
    """Absolute end of a session, however often it refreshes."""
    pending_login_ttl: timedelta = timedelta(minutes=10)
    login_per_account: Throttle = field(default_factory=lambda: Throttle(10, 900))
    login_per_ip: Throttle = field(default_factory=lambda: Throttle(100, 900))


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID
    user_id: uuid.UUID
    token_type: str = "Bearer"


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def peek_issuer(token: str) -> str | None:
    """The ``iss`` claim of a JWT, UNVERIFIED: only to choose which verifier to ask."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def user_principal(
    user_id: uuid.UUID, grants: tuple[Grant, ...], session_id: uuid.UUID | None, *, email_verified: bool = False
) -> Principal:
    return Principal(
        subject=f"{USER_SUBJECT_PREFIX}{user_id}",
        user_id=user_id,
        grants=grants,
        session_id=session_id,
        email_verified=email_verified,
    )


class AuthService:
    def __init__(
        self,
        uow: Callable[[], AuthUnitOfWork],
        hasher: PasswordHasher,
        tokens: TokenService,
        principals: PrincipalQueries,
        limiter: RateLimiter,
        clock: Clock,
        providers: Mapping[str, OidcProvider] | None = None,
        config: AuthConfig | None = None,
    ) -> None:
        self._uow, self._hasher, self._tokens, self._principals = uow, hasher, tokens, principals
        self._limiter, self._clock = limiter, clock
        self._providers = dict(providers or {})
        self._by_issuer = {p.issuer: p for p in self._providers.values()}
        self._config = config or AuthConfig()

    @property
    def config(self) -> AuthConfig:
        return self._config

    @property
    def providers(self) -> list[str]:
        return sorted(self._providers)

    # -- password sign-in ----------------------------------------------------------

    async def login(self, email: str, password: str, *, client_ip: str, kind: str = "bearer") -> IssuedTokens:
        """Sign in with a password. An unknown email and a wrong password get the same answer after the same work."""
        await throttle(self._limiter, f"login:ip:{client_ip}", self._config.login_per_ip, "sign-in attempts")
        try:
            address = check_email(email)
        except ValidationFailed:
            address = email.strip()[:254]
        account_key = f"login:account:{email_key(address)}"
        await throttle(self._limiter, account_key, self._config.login_per_account, "sign-in attempts for this account")
        async with self._uow() as uow:
            user = await uow.users.get_by_email(address)
            if user is None or user.password_hash is None:
                await self._hasher.verify_unknown(password)
                raise Unauthenticated(WRONG_CREDENTIALS)
            if not await self._hasher.verify(user.password_hash, password):
                raise Unauthenticated(WRONG_CREDENTIALS)
            if user.status is not UserStatus.ACTIVE:
                raise Unauthenticated("this account is suspended")
            now = self._clock.now()
            if self._hasher.needs_rehash(user.password_hash):
                user.set_password_hash(await self._hasher.hash(password), now, reason="rehash")
            issued = await self._start_session(uow, user, kind, now)
            await uow.commit()
        await self._limiter.reset(account_key)
        return issued

    # -- sessions ------------------------------------------------------------------

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate: the presented refresh token is spent, a new one and a new access token come back."""
        digest = token_digest(refresh_token)
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.sessions.find_token(digest)
            if record is None or not record.session.active_at(now):
                raise Unauthenticated(SESSION_ENDED)
            if record.used_at is not None or not await uow.sessions.use_token(digest, now):
                # A spent token came back: someone else holds the family. End it for everyone.
                await uow.sessions.revoke(record.session.id, now, "refresh token reused")
                await uow.commit()
                raise Unauthenticated("this refresh token was already used; the session has been ended for safety")
            if record.issued_at + self._config.refresh_ttl <= now:
                raise Unauthenticated(SESSION_ENDED)
            user = await uow.users.get(record.session.user_id)
            if user is None or not user.is_active:
                await uow.sessions.revoke(record.session.id, now, "account not active")
                await uow.commit()
                raise Unauthenticated(SESSION_ENDED)
            fresh = secrets.token_urlsafe(32)
            await self._keys_ready()
            await uow.sessions.add_token(record.session.id, token_digest(fresh), now)
            await uow.commit()
        return self._issue(user.id, record.session, fresh, now)

    async def session_of(self, refresh_token: str) -> uuid.UUID | None:
        """The session a refresh token belongs to, without spending it (to check a cookie session's CSRF token first)."""
        async with self._uow() as uow:
            record = await uow.sessions.find_token(token_digest(refresh_token))
        return record.session.id if record is not None else None

    async def logout(self, *, refresh_token: str | None = None, actor: Principal | None = None) -> bool:
        """End the session named by the refresh token or by the caller's access token; True if one ended."""
        now = self._clock.now()
        async with self._uow() as uow:
            session_id = actor.session_id if actor is not None else None
            if refresh_token:
                record = await uow.sessions.find_token(token_digest(refresh_token))
                if record is not None:
                    session_id = record.session.id
            if session_id is None:
                return False
            ended = await uow.sessions.revoke(session_id, now, "logout")
            await uow.commit()
        return ended

    async def authenticate(self, access_token: str) -> Principal:
        """The principal an access token stands for, or ``Unauthenticated`` with a safe reason."""
        try:
            if isinstance(self._tokens, ReloadingTokenService):
                claims = await self._tokens.verify_access_fresh(access_token)
            else:
                claims = self._tokens.verify_access(access_token)
        except InvalidToken as own_error:
            provider = self._by_issuer.get(peek_issuer(access_token) or "")
            if provider is None:
                raise Unauthenticated(f"the bearer token is {_reason(own_error)}") from None
            return await self._authenticate_external(provider, access_token)
        try:
            user_id = uuid.UUID(claims.subject)
            session_id = uuid.UUID(claims.session_id) if claims.session_id else None
        except ValueError:
            raise Unauthenticated("the bearer token is invalid") from None
        return await self._principal(user_id, session_id)

    async def _principal(self, user_id: uuid.UUID, session_id: uuid.UUID | None) -> Principal:
        record = await self._principals.principal_record(user_id, session_id, self._clock.now())
        if record is None or record.status != UserStatus.ACTIVE.value:
            raise Unauthenticated("the account is not active")
        if not record.session_active:
            raise Unauthenticated(SESSION_ENDED)
        return user_principal(user_id, record.grants, session_id, email_verified=record.email_verified)

    async def _authenticate_external(self, provider: OidcProvider, token: str) -> Principal:
        try:
            identity = await provider.verify_access_token(token)
        except (InvalidToken, ExternalSignInError) as exc:
            raise Unauthenticated(f"the bearer token is {_reason(exc)}") from None
        async with self._uow() as uow:
            user_id = await uow.external_identities.find(identity.issuer, identity.subject)
        if user_id is None:
            raise Unauthenticated(
                f"no account is linked to this {provider.name} identity; "
                f"sign in once through /api/v1/auth/oidc/{provider.name}/authorize"
            )
        return await self._principal(user_id, None)

    # -- external sign-in (authorization code + PKCE) ------------------------------------

    async def begin_external(self, provider_name: str, *, redirect_uri: str, return_to: str | None = None) -> str:
        """Where to send the browser: the provider's authorization URL (state, nonce and PKCE kept server-side)."""
        provider = self._provider(provider_name)
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        async with self._uow() as uow:
            await uow.pending_logins.put(
                PendingLogin(
                    state_digest=token_digest(state),
                    provider=provider.name,
                    code_verifier=verifier,
                    nonce=nonce,
                    return_to=return_to,
                    expires_at=self._clock.now() + self._config.pending_login_ttl,
                )
            )
            await uow.commit()
        try:
            return await provider.authorization_url(
                state=state, nonce=nonce, code_challenge=pkce_challenge(verifier), redirect_uri=redirect_uri
            )
        except ExternalSignInError as exc:
            raise Unauthenticated(f"{provider.name} is not available: {exc}") from None

    async def complete_external(
        self, provider_name: str, *, code: str, state: str, redirect_uri: str
    ) -> tuple[IssuedTokens, str | None]:
        """Finish the external sign-in: link or provision the account and start a session.

        A sign-in begun with a ``return_to`` is a browser's: it becomes a cookie session.
        """
        provider = self._provider(provider_name)
        async with self._uow() as uow:
            pending = await uow.pending_logins.take(token_digest(state), self._clock.now())
            await uow.commit()
        if pending is None or pending.provider != provider.name:
            raise Unauthenticated("the sign-in expired or was already completed; start again")
        try:
            identity = await provider.exchange(
                code=code, code_verifier=pending.code_verifier, nonce=pending.nonce, redirect_uri=redirect_uri
            )
        except ExternalSignInError as exc:
            raise Unauthenticated(f"{provider.name} sign-in failed: {exc}") from None
        now = self._clock.now()
        async with self._uow() as uow:
            user = await self._linked_user(uow, provider, identity, now)
            issued = await self._start_session(uow, user, "cookie" if pending.return_to else "bearer", now)
            await uow.commit()
        return issued, pending.return_to

    async def _linked_user(
        self, uow: AuthUnitOfWork, provider: OidcProvider, identity: ExternalIdentity, now: datetime
    ) -> User:
        user_id = await uow.external_identities.find(identity.issuer, identity.subject)
        if user_id is not None:
            user = await uow.users.get(user_id)
            if user is None or not user.is_active:
                raise Unauthenticated("this account is not active")
            return user
        if not identity.email or not identity.email_verified:
            raise Unauthenticated(
                f"{provider.name} did not confirm a verified email address, so no account can be linked"
            )
        try:
            check_email(identity.email)
        except ValidationFailed:
            raise Unauthenticated(f"{provider.name} gave an email address this platform cannot use") from None
        user = await uow.users.get_by_email(identity.email)
        if user is not None:
            if not user.is_active:
                raise Unauthenticated("this account is not active")
            # The provider vouches for the mailbox, as a verification link would.
            user.verify_email(now)
        elif provider.provision:
            # The provider's name is free text: fit it to the display-name rule rather than fail the sign-in.
            name = " ".join((identity.name or "").split())[:DISPLAY_NAME_MAX].strip()
            user = User.register(
                email=identity.email,
                display_name=name or identity.email.split("@", 1)[0],
                at=now,
                password_hash=None,
                source=f"oidc:{provider.name}",
                email_verified=True,
            )
            uow.users.add(user)
        else:
            raise Unauthenticated(f"no account exists for this {provider.name} identity; ask an administrator")
        await uow.external_identities.link(identity, user.id, now)
        user.linked(provider.name, identity.issuer, now)
        return user

    def _provider(self, name: str) -> OidcProvider:
        provider = self._providers.get(name)
        if provider is None:
            raise NotFound("identity provider", name)
        return provider

    # -- helpers -----------------------------------------------------------------

    async def _start_session(self, uow: AuthUnitOfWork, user: User, kind: str, now: datetime) -> IssuedTokens:
        await self._keys_ready()
        session = LoginSession(
            id=new_uuid(),
            user_id=UserId(user.id),
            created_at=now,
            expires_at=now + self._config.session_lifetime,
            kind=kind,
        )
        refresh = secrets.token_urlsafe(32)
        await uow.sessions.create(session, token_digest(refresh))
        return self._issue(user.id, session, refresh, now)

    async def _keys_ready(self) -> None:
        if isinstance(self._tokens, ReloadingTokenService):
            await self._tokens.ready()

    def _issue(self, user_id: uuid.UUID, session: LoginSession, refresh: str, now: datetime) -> IssuedTokens:
        access = self._tokens.issue_access(str(user_id), session_id=str(session.id))
        return IssuedTokens(
            access_token=access,
            expires_in=int(self._config.access_ttl.total_seconds()),
            refresh_token=refresh,
            refresh_expires_at=min(now + self._config.refresh_ttl, session.expires_at),
            session_id=session.id,
            user_id=user_id,
        )


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", "") or "invalid"
    return "expired" if "expired" in reason else "invalid"
