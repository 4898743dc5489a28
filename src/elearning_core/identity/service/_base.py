"""What every identity use case shares: the settings of the mailed links, the mail queue, throttles,
token digests, and the service's collaborators with the helpers several use cases call."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from elearning_core.auth.model import Permission, ResourceRef, ScopeKind
from elearning_core.auth.ports import AuthUnitOfWork, RateLimiter, ResourceDirectory
from elearning_core.identity.model import OneTimeToken, TokenPurpose, User
from elearning_core.identity.ports import Mailer, MailMessage, PasswordHasher, UserQueries
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, TooManyAttempts, Unauthenticated, ValidationFailed
from elearning_core.shared.ids import UserId
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Policy, Principal

log = logging.getLogger("elearning.identity")

TOKEN_BYTES = 32
INVALID_LINK = "the link is invalid, expired or already used; ask for a new one"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Throttle:
    limit: int
    window_seconds: float


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    public_url: str = "http://127.0.0.1:8000"
    """Where the links in mails point (the front end or the API's own confirmation routes)."""
    verify_ttl: timedelta = timedelta(hours=48)
    reset_ttl: timedelta = timedelta(hours=1)
    email_change_ttl: timedelta = timedelta(hours=24)
    registration_open: bool = True
    reset_per_account: Throttle = field(default_factory=lambda: Throttle(3, 3600))
    reset_per_ip: Throttle = field(default_factory=lambda: Throttle(20, 3600))


class MailQueue:
    """Sends mail after the response, on tasks this object keeps (``drain`` waits for them)."""

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer
        self._tasks: set[asyncio.Task[None]] = set()

    def send_later(self, message: MailMessage) -> None:
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, message: MailMessage) -> None:
        try:
            await self._mailer.send(message)
        except Exception as exc:  # a mail failure must not surface in an unrelated request
            log.warning("mail to a user could not be sent: %s", exc)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def throttle(limiter: RateLimiter, key: str, rule: Throttle, what: str) -> None:
    decision = await limiter.hit(key, rule.limit, rule.window_seconds)
    if not decision.allowed:
        raise TooManyAttempts(f"too many {what}; try again later", decision.retry_after_seconds)


def _self_or(actor: Principal, user_id: uuid.UUID) -> bool:
    return actor.user_id is not None and actor.user_id == user_id


class _IdentityBase:
    def __init__(
        self,
        uow: Callable[[], AuthUnitOfWork],
        users: UserQueries,
        hasher: PasswordHasher,
        mail: MailQueue,
        limiter: RateLimiter,
        resources: ResourceDirectory,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        config: IdentityConfig | None = None,
    ) -> None:
        self._uow, self._users, self._hasher, self._mail = uow, users, hasher, mail
        self._limiter, self._resources, self._clock, self._policy = limiter, resources, clock, policy
        self._cursors = cursors
        self._config = config or IdentityConfig()

    async def _hash(self, password: str) -> str:
        try:
            return await self._hasher.hash(password)
        except ValueError:
            raise ValidationFailed("the password is too long", [FieldError("password", "is too long")]) from None

    def _ttl(self, purpose: TokenPurpose) -> timedelta:
        return {
            TokenPurpose.VERIFY_EMAIL: self._config.verify_ttl,
            TokenPurpose.PASSWORD_RESET: self._config.reset_ttl,
            TokenPurpose.EMAIL_CHANGE: self._config.email_change_ttl,
        }[purpose]

    async def _new_token(
        self, uow: AuthUnitOfWork, user_id: UserId, purpose: TokenPurpose, *, new_email: str | None = None
    ) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock.now()
        await uow.one_time_tokens.add(
            OneTimeToken(
                digest=token_digest(token),
                purpose=purpose,
                user_id=user_id,
                created_at=now,
                expires_at=now + self._ttl(purpose),
                new_email=new_email,
            )
        )
        return token

    async def _active_user(self, uow: AuthUnitOfWork, user_id: uuid.UUID) -> User:
        user = await uow.users.get(user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("the account is not active")
        return user


def _decide(policy: Policy, actor: Principal, permission: Permission, resource: ResourceRef) -> tuple[bool, str]:
    decision = policy.authorize(actor, permission, resource)
    return decision.allowed, decision.reason


def _org(organization_id: uuid.UUID) -> ResourceRef:
    return ResourceRef(ScopeKind.ORGANIZATION, organization_id)


def _user_of(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("this needs a user's sign-in, not a service account")
    return actor.user_id
