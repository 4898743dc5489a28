"""Identity use cases: accounts, profiles, organizations, role grants.

Credentials that travel by mail (email verification, password reset) are
random 256-bit tokens of which only the SHA-256 digest is stored, each with a
purpose, an expiry and a ``used_at`` that one atomic update sets: a token is
good once, for one thing, for a while. Mail leaves after the transaction
commits, on a background task, so neither a slow mail server nor the
difference between "account exists" and "no such account" shows in the time a
request takes.

Answers that could tell an outsider whether an email has an account (register,
request a reset) are the same either way: the owner of the address learns by
mail, nobody else learns anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from elearning_core.auth.model import Grant, Permission, ResourceRef, ScopeKind
from elearning_core.auth.ports import AuthUnitOfWork, RateLimiter, ResourceDirectory
from elearning_core.identity.commands import (
    ChangePassword,
    ConfirmPasswordReset,
    CreateOrganization,
    CreateUser,
    RegisterUser,
    RoleGrantSpec,
    UpdateProfile,
)
from elearning_core.identity.model import (
    OneTimeToken,
    Organization,
    TokenPurpose,
    User,
    UserStatus,
    check_display_name,
    check_email,
    check_locale,
    check_password,
    check_time_zone,
    email_key,
    make_grant,
)
from elearning_core.identity.ports import Mailer, MailMessage, PasswordHasher, UserListFilter, UserQueries
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.ids import UserId
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Policy, Principal, require

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


class IdentityService:
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

    # -- accounts ----------------------------------------------------------------

    async def register(self, cmd: RegisterUser) -> None:
        """Self-service sign-up. The same answer whether or not the email already has an account."""
        if not self._config.registration_open:
            raise PermissionDenied("register", "self-service registration is closed on this platform")
        email = check_email(cmd.email)
        check_password(cmd.password, email=email)
        # Checked before the lookup: an invalid field refused for a new email only would tell a taken one apart.
        check_display_name(cmd.display_name)
        check_locale(cmd.locale)
        check_time_zone(cmd.time_zone)
        password_hash = await self._hash(cmd.password)
        now = self._clock.now()
        async with self._uow() as uow:
            existing = await uow.users.get_by_email(email)
            if existing is not None:
                self._mail.send_later(_already_registered(existing, self._config.public_url))
                return
            user = User.register(
                email=email,
                display_name=cmd.display_name,
                at=now,
                password_hash=password_hash,
                locale=cmd.locale,
                time_zone=cmd.time_zone,
            )
            uow.users.add(user)
            token = await self._new_token(uow, user.id, TokenPurpose.VERIFY_EMAIL)
            await uow.commit()
        self._mail.send_later(_verification_mail(user, token, self._config.public_url))

    async def create_user(self, actor: Principal, cmd: CreateUser) -> User:
        """An administrator's account creation: verified at once; a conflict names a taken email."""
        require(self._policy, actor, Permission.USER_MANAGE)
        email = check_email(cmd.email)
        password_hash = None
        if cmd.password is not None:
            check_password(cmd.password, email=email)
            password_hash = await self._hash(cmd.password)
        async with self._uow() as uow:
            if await uow.users.email_taken(email):
                raise Conflict("an account with this email already exists")
            user = User.register(
                email=email,
                display_name=cmd.display_name,
                at=self._clock.now(),
                password_hash=password_hash,
                locale=cmd.locale,
                time_zone=cmd.time_zone,
                source="admin",
                email_verified=True,
            )
            uow.users.add(user)
            await uow.commit()
        return user

    async def verify_email(self, token: str) -> User:
        async with self._uow() as uow:
            user_id = await uow.one_time_tokens.consume(
                token_digest(token), TokenPurpose.VERIFY_EMAIL, self._clock.now()
            )
            user = await uow.users.get(user_id) if user_id is not None else None
            if user is None or user.status is UserStatus.DELETED:
                raise ValidationFailed(INVALID_LINK, [FieldError("token", INVALID_LINK)])
            user.verify_email(self._clock.now())
            await uow.commit()
        return user

    async def resend_verification(self, actor: Principal) -> bool:
        """Mail a new verification link to the caller; False when the email is verified already."""
        user_id = _user_of(actor)
        await throttle(self._limiter, f"verify:user:{user_id}", self._config.reset_per_account, "verification mails")
        async with self._uow() as uow:
            user = await self._active_user(uow, user_id)
            if user.email_verified:
                return False
            token = await self._new_token(uow, user.id, TokenPurpose.VERIFY_EMAIL)
            await uow.commit()
        self._mail.send_later(_verification_mail(user, token, self._config.public_url))
        return True

    async def request_password_reset(self, email: str, *, client_ip: str) -> None:
        """Mail a reset link if the email has an active account; the same answer and time otherwise."""
        address = check_email(email)
        await throttle(self._limiter, f"reset:ip:{client_ip}", self._config.reset_per_ip, "password reset requests")
        await throttle(
            self._limiter,
            f"reset:account:{email_key(address)}",
            self._config.reset_per_account,
            "password reset requests for this account",
        )
        async with self._uow() as uow:
            user = await uow.users.get_by_email(address)
            if user is None or not user.is_active:
                return
            token = await self._new_token(uow, user.id, TokenPurpose.PASSWORD_RESET)
            await uow.commit()
        self._mail.send_later(_reset_mail(user, token, self._config.public_url, self._config.reset_ttl))

    async def confirm_password_reset(self, cmd: ConfirmPasswordReset) -> User:
        """Set a new password with a reset link; ends every session and every other reset link."""
        now = self._clock.now()
        async with self._uow() as uow:
            user_id = await uow.one_time_tokens.consume(token_digest(cmd.token), TokenPurpose.PASSWORD_RESET, now)
            user = await uow.users.get(user_id) if user_id is not None else None
            if user is None or not user.is_active:
                raise ValidationFailed(INVALID_LINK, [FieldError("token", INVALID_LINK)])
            check_password(cmd.new_password, email=user.email)
            user.set_password_hash(await self._hash(cmd.new_password), now, reason="reset")
            # Whoever asked for the reset proved control of the mailbox: the email is verified.
            user.verify_email(now)
            await uow.one_time_tokens.revoke_all(user.id, TokenPurpose.PASSWORD_RESET, now)
            await uow.sessions.revoke_all_of(user.id, now, "password reset")
            await uow.commit()
        return user

    async def change_password(self, actor: Principal, cmd: ChangePassword) -> None:
        """Change the caller's password; every session of the account ends, this one included (sign in again)."""
        user_id = _user_of(actor)
        async with self._uow() as uow:
            user = await self._active_user(uow, user_id)
            if user.password_hash is None or not await self._hasher.verify(user.password_hash, cmd.current_password):
                raise ValidationFailed(
                    "the current password is not correct",
                    [FieldError("current_password", "is not correct")],
                )
            check_password(cmd.new_password, email=user.email)
            now = self._clock.now()
            user.set_password_hash(await self._hash(cmd.new_password), now, reason="change")
            await uow.sessions.revoke_all_of(user.id, now, "password changed")
            await uow.commit()

    async def get_user(self, actor: Principal, user_id: uuid.UUID) -> User:
        if not _self_or(actor, user_id):
            require(self._policy, actor, Permission.USER_MANAGE)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    async def update_profile(self, actor: Principal, user_id: uuid.UUID, cmd: UpdateProfile) -> User:
        if not _self_or(actor, user_id):
            require(self._policy, actor, Permission.USER_MANAGE)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("user", user_id)
            user.update_profile(self._clock.now(), **cmd.changes())
            await uow.commit()
        return user

    async def delete_account(self, actor: Principal, user_id: uuid.UUID, *, password: str | None = None) -> None:
        """Anonymise the account. Its owner confirms with the password (when it has one); an admin need not."""
        own = _self_or(actor, user_id)
        if not own:
            require(self._policy, actor, Permission.USER_MANAGE)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            if (
                own
                and user.password_hash is not None
                and (password is None or not await self._hasher.verify(user.password_hash, password))
            ):
                raise ValidationFailed(
                    "confirm the deletion with the account's password", [FieldError("password", "is not correct")]
                )
            now = self._clock.now()
            user.anonymise(now)
            await uow.sessions.revoke_all_of(user.id, now, "account deleted")
            await uow.external_identities.unlink_all(user.id)
            for purpose in TokenPurpose:
                await uow.one_time_tokens.revoke_all(user.id, purpose, now)
            for membership in await uow.organizations.organizations_of(user.id):
                organization = await uow.organizations.get(membership.id)
                if organization is not None and await uow.organizations.remove_member(organization.id, user.id):
                    organization.member_removed(user.id, now)
            await uow.commit()

    async def set_status(self, actor: Principal, user_id: uuid.UUID, *, suspended: bool, reason: str = "") -> User:
        require(self._policy, actor, Permission.USER_MANAGE)
        if _self_or(actor, user_id) and suspended:
            raise Conflict("you cannot suspend your own account")
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            now = self._clock.now()
            if suspended:
                user.suspend(now, reason or "suspended by an administrator")
                await uow.sessions.revoke_all_of(user.id, now, "account suspended")
            else:
                user.reactivate(now)
            await uow.commit()
        return user

    async def list_users(
        self, actor: Principal, where: UserListFilter, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[User]:
        """Accounts in id order (oldest first); ``cursor`` is the previous page's ``next_cursor``."""
        scope = ResourceRef(ScopeKind.ORGANIZATION, where.organization_id) if where.organization_id else None
        require(self._policy, actor, Permission.USER_MANAGE, scope)
        limit = check_page_size(limit)
        listing = scope_of("users", where.status, where.text, where.organization_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._users.list_users(where, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda u: [str(u.id)])

    # -- organizations -----------------------------------------------------------

    async def create_organization(self, actor: Principal, cmd: CreateOrganization) -> Organization:
        require(self._policy, actor, Permission.ORGANIZATION_MANAGE)
        organization = Organization.create(slug=cmd.slug, name=cmd.name, at=self._clock.now())
        async with self._uow() as uow:
            if await uow.organizations.slug_taken(organization.slug):
                raise Conflict(f"the organization slug {organization.slug!r} is already taken")
            uow.organizations.add(organization)
            await uow.commit()
        return organization

    async def list_organizations(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Organization]:
        """Every organization for platform admins; the caller's own ones for everyone else; in id
        order (oldest first)."""
        limit = check_page_size(limit)
        if self._policy.authorize(actor, Permission.ORGANIZATION_MANAGE).allowed:
            listing = scope_of("organizations")
            after = self._cursors.after(listing, cursor, uuid_key)
            async with self._uow() as uow:
                rows = await uow.organizations.list(after, limit + 1)
        else:
            user_id = _user_of(actor)
            listing = scope_of("organizations-of", user_id)
            after = self._cursors.after(listing, cursor, uuid_key)
            async with self._uow() as uow:
                mine = await uow.organizations.organizations_of(user_id)  # a person's few memberships
            rows = sorted((o for o in mine if after is None or o.id > after), key=lambda o: o.id)[: limit + 1]
        return self._cursors.page(listing, rows, limit, lambda o: [str(o.id)])

    async def get_organization(self, actor: Principal, organization_id: uuid.UUID) -> tuple[Organization, int]:
        async with self._uow() as uow:
            organization = await uow.organizations.get(organization_id)
            if organization is None:
                raise NotFound("organization", organization_id)
            members = await uow.organizations.member_count(organization_id)
            if not self._policy.authorize(actor, Permission.USER_MANAGE, _org(organization_id)).allowed:
                mine = {o.id for o in await uow.organizations.organizations_of(_user_of(actor))}
                if organization_id not in mine:
                    raise NotFound("organization", organization_id)
        return organization, members

    async def add_member(self, actor: Principal, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        require(self._policy, actor, Permission.USER_MANAGE, _org(organization_id))
        async with self._uow() as uow:
            organization = await uow.organizations.get(organization_id)
            if organization is None:
                raise NotFound("organization", organization_id)
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            added = await uow.organizations.add_member(organization_id, user_id, self._clock.now())
            if added:
                organization.member_added(user_id, self._clock.now())
            await uow.commit()
        return added

    async def remove_member(self, actor: Principal, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
        require(self._policy, actor, Permission.USER_MANAGE, _org(organization_id))
        async with self._uow() as uow:
            organization = await uow.organizations.get(organization_id)
            if organization is None:
                raise NotFound("organization", organization_id)
            if not await uow.organizations.remove_member(organization_id, user_id):
                raise NotFound("membership", f"of user {user_id} in organization {organization_id}")
            organization.member_removed(user_id, self._clock.now())
            await uow.commit()

    # -- role grants -------------------------------------------------------------

    async def grant_role(self, actor: Principal, user_id: uuid.UUID, spec: RoleGrantSpec) -> tuple[User, bool]:
        """Grant a role; the granter needs ``role.grant`` on the grant's own scope (no escalation past it)."""
        grant = make_grant(spec.role, spec.scope, spec.scope_id)
        await self._require_grant_rights(actor, grant)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or user.status is UserStatus.DELETED:
                raise NotFound("user", user_id)
            changed = user.grant(grant, self._clock.now(), by=actor.subject)
            await uow.commit()
        return user, changed

    async def revoke_role(self, actor: Principal, user_id: uuid.UUID, spec: RoleGrantSpec) -> User:
        grant = make_grant(spec.role, spec.scope, spec.scope_id)
        await self._require_grant_rights(actor, grant)
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("user", user_id)
            if not user.revoke(grant, self._clock.now(), by=actor.subject):
                raise NotFound("role grant", str(grant))
            await uow.commit()
        return user

    async def resource(self, kind: str, resource_id: uuid.UUID | None) -> ResourceRef:
        """The policy's view of ``kind``/``resource_id``; NotFound when it does not exist."""
        if kind == ScopeKind.PLATFORM.value:
            return ResourceRef(ScopeKind.PLATFORM)
        if resource_id is None:
            raise ValidationFailed("the resource needs an id", [FieldError("resource", "must be <kind>:<uuid>")])
        if kind == ScopeKind.COURSE.value:
            course = await self._resources.course(resource_id)
            if course is None:
                raise NotFound("course", resource_id)
            return course
        if kind == ScopeKind.ORGANIZATION.value:
            if not await self._resources.organization_exists(resource_id):
                raise NotFound("organization", resource_id)
            return _org(resource_id)
        raise ValidationFailed(
            f"unknown resource kind {kind!r}",
            [FieldError("resource", "must be platform, organization:<uuid> or course:<uuid>")],
        )

    async def explain_permissions(
        self, actor: Principal, kind: str, resource_id: uuid.UUID | None
    ) -> tuple[ResourceRef, list[tuple[Permission, bool, str]]]:
        """Every permission on the resource, allowed or not, with the policy's reason."""
        resource = await self.resource(kind, resource_id)
        decisions = [(p, *_decide(self._policy, actor, p, resource)) for p in Permission]
        return resource, decisions

    async def _require_grant_rights(self, actor: Principal, grant: Grant) -> None:
        resource = await self.resource(grant.scope.kind.value, grant.scope.id)
        require(self._policy, actor, Permission.ROLE_GRANT, resource)

    # -- helpers -----------------------------------------------------------------

    async def _hash(self, password: str) -> str:
        try:
            return await self._hasher.hash(password)
        except ValueError:
            raise ValidationFailed("the password is too long", [FieldError("password", "is too long")]) from None

    async def _new_token(self, uow: AuthUnitOfWork, user_id: UserId, purpose: TokenPurpose) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock.now()
        ttl = self._config.verify_ttl if purpose is TokenPurpose.VERIFY_EMAIL else self._config.reset_ttl
        await uow.one_time_tokens.add(
            OneTimeToken(
                digest=token_digest(token), purpose=purpose, user_id=user_id, created_at=now, expires_at=now + ttl
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


def _verification_mail(user: User, token: str, public_url: str) -> MailMessage:
    link = f"{public_url.rstrip('/')}/api/v1/auth/verify-email?token={token}"
    return MailMessage(
        to=user.email,
        subject="Confirm your email address",
        text=f"Hello {user.display_name},\n\nconfirm your email address by opening this link:\n\n{link}\n\n"
        "If you did not create an account, ignore this message.\n",
    )


def _already_registered(user: User, public_url: str) -> MailMessage:
    return MailMessage(
        to=user.email,
        subject="You already have an account",
        text=f"Hello {user.display_name},\n\nsomeone (maybe you) tried to create an account with this email "
        f"address, which already has one. To sign in, go to {public_url.rstrip('/')}; if you forgot the "
        "password, ask for a reset there.\n",
    )


def _reset_mail(user: User, token: str, public_url: str, ttl: timedelta) -> MailMessage:
    minutes = int(ttl.total_seconds() // 60)
    return MailMessage(
        to=user.email,
        subject="Reset your password",
        text=f"Hello {user.display_name},\n\nuse this token to choose a new password within {minutes} minutes "
        f"(POST {public_url.rstrip('/')}/api/v1/auth/password-reset/confirm with the token and the new password):"
        f"\n\n{token}\n\nIf you did not ask for this, ignore this message; your password is unchanged.\n",
    )
